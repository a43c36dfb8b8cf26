"""Every figure depends on the code and the pinned packages only, not on the user's Matplotlib
setup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
import pandas as pd
import pytest

from durable_sim.analysis import FIGURE_FORMATS, figure1, figure_bytes
from durable_sim.analysis.actors import actor_figure
from durable_sim.analysis.breakdown import breakdown_table
from durable_sim.analysis.figures import breakdown_figure
from durable_sim.analysis.sensitivity import sensitivity_figure, summary_frame
from tests.analysis.test_actors import _row as actor_row
from tests.analysis.test_sensitivity import sensitivity_grids

#: What a user's matplotlibrc might say (the issue's `savefig.bbox: tight` among them).
HOSTILE_RC = {
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.5,
    "savefig.facecolor": "red",
    "figure.facecolor": "0.5",
    "font.size": 19.0,
    "lines.linewidth": 4.0,
    "axes.grid": False,
    "axes.prop_cycle": mpl.cycler(color=["r", "g"]),
    "legend.frameon": False,
    "xtick.direction": "in",
    "svg.hashsalt": "user-salt",
    "pdf.compression": 0,
    "axes.linewidth": 3.0,
    "xtick.major.size": 9.0,
    "legend.fancybox": False,
    "lines.markeredgewidth": 2.5,
}


def _render(rows: pd.DataFrame) -> dict[str, bytes]:
    fig = figure1(rows[rows["phase"] == "video"], seed=3, n_resamples=200)
    return {fmt: figure_bytes(fig, fmt) for fmt in FIGURE_FORMATS}


@pytest.mark.parametrize("style", ["ggplot", "dark_background", "classic"])
def test_a_users_rc_and_style_change_nothing(rows: pd.DataFrame, style: str) -> None:
    clean = _render(rows)
    with matplotlib.style.context(style), mpl.rc_context(HOSTILE_RC):
        hostile = _render(rows)
        assert mpl.rcParams["savefig.bbox"] == "tight"  # the caller's settings are untouched
    assert hostile == clean


def _every_figure(rows: pd.DataFrame) -> dict[str, bytes]:
    """Each figure the report and notebooks 03 and 04 draw, as SVG."""
    actors = pd.DataFrame(
        [actor_row(v, c) for v in ("durable", "rmw", "cas", "add") for c in (1, 4)]
    )
    figures = {
        "figure1": figure1(rows[rows["phase"] == "video"], seed=3, n_resamples=200),
        "time_breakdown": breakdown_figure(breakdown_table(rows).frame),
        "actor_semantics": actor_figure(actors),
        "sensitivity": sensitivity_figure(summary_frame(sensitivity_grids())),
    }
    return {name: figure_bytes(fig, "svg") for name, fig in figures.items()}


def test_no_figure_takes_the_users_rc(rows: pd.DataFrame) -> None:
    """The kind, not one figure: every drawer starts from Matplotlib's defaults."""
    clean = _every_figure(rows)
    with matplotlib.style.context("ggplot"), mpl.rc_context(HOSTILE_RC):
        hostile = _every_figure(rows)
    assert hostile.keys() == clean.keys()
    for name in clean:
        assert hostile[name] == clean[name], name


def test_a_matplotlibrc_file_changes_nothing(rows: pd.DataFrame, tmp_path: Path) -> None:
    """A fresh process reading a hostile matplotlibrc ($MATPLOTLIBRC) renders the same bytes."""
    rc = tmp_path / "matplotlibrc"
    rc.write_text("savefig.bbox: tight\nfont.size: 19\naxes.grid: False\nsavefig.facecolor: red\n")
    data = tmp_path / "rows.pkl"
    rows.to_pickle(data)
    script = (
        "import sys, pandas as pd, matplotlib as mpl\n"
        "from durable_sim.analysis import figure1, figure_bytes\n"
        "assert mpl.rcParams['savefig.bbox'] == 'tight'\n"
        "rows = pd.read_pickle(sys.argv[1])\n"
        "fig = figure1(rows[rows['phase'] == 'video'], seed=3, n_resamples=200)\n"
        "sys.stdout.buffer.write(figure_bytes(fig, 'svg'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(data)],
        capture_output=True,
        env={"MATPLOTLIBRC": str(rc), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=True,
    )
    assert done.stdout == _render(rows)["svg"]
