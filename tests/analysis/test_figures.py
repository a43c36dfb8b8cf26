"""Figure 1 renders to identical bytes every time, warns about nothing and leaks no rc state."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib as mpl
import pandas as pd
import pytest

from durable_sim.analysis import (
    FIGURE_FORMATS,
    AnalysisInputError,
    figure1,
    figure_bytes,
    save_figure,
)

pytestmark = pytest.mark.filterwarnings("error")

_RENDER = """
import sys
from tests.analysis.conftest import make_rows
from durable_sim.analysis import figure1, figure_bytes
sys.stdout.buffer.write(figure_bytes(figure1(make_rows(), n_resamples=200), sys.argv[1]))
"""


def _render_all(rows: pd.DataFrame) -> dict[str, bytes]:
    fig = figure1(rows, n_resamples=200)
    return {fmt: figure_bytes(fig, fmt) for fmt in FIGURE_FORMATS}


def test_renders_identical_bytes_without_warnings(rows: pd.DataFrame) -> None:
    rc_before = dict(mpl.rcParams)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = _render_all(rows)
        second = _render_all(rows)
    assert first == second
    assert first["pdf"].startswith(b"%PDF") and b"CreationDate" not in first["pdf"]
    assert first["svg"].lstrip().startswith(b"<?xml") and b"<dc:date>" not in first["svg"]
    assert first["png"].startswith(b"\x89PNG") and b"Matplotlib version" not in first["png"]
    assert dict(mpl.rcParams) == rc_before


def test_renders_identical_bytes_in_a_fresh_process(rows: pd.DataFrame) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    svg = subprocess.run(
        [sys.executable, "-c", _RENDER, "svg"], cwd=root, env=env, capture_output=True, check=True
    ).stdout
    assert svg == figure_bytes(figure1(rows, n_resamples=200), "svg")


def test_error_bars_depend_on_the_seed(rows: pd.DataFrame) -> None:
    svg = figure_bytes(figure1(rows, n_resamples=200, seed=1), "svg")
    assert svg != figure_bytes(figure1(rows, n_resamples=200, seed=2), "svg")
    plain = figure_bytes(figure1(rows, show_means=False), "svg")
    assert plain == figure_bytes(figure1(rows, show_means=False, seed=9), "svg")


def test_save_figure_writes_each_format(rows: pd.DataFrame, tmp_path: Path) -> None:
    fig = figure1(rows, n_resamples=200)
    paths = save_figure(fig, tmp_path / "figures" / "figure1")
    assert [p.name for p in paths] == ["figure1.pdf", "figure1.svg", "figure1.png"]
    assert paths[1].read_bytes() == figure_bytes(fig, "svg")
    assert sorted(os.listdir(tmp_path / "figures")) == sorted(p.name for p in paths)


def test_bad_input_writes_nothing(rows: pd.DataFrame, tmp_path: Path) -> None:
    fig = figure1(rows, show_means=False)
    with pytest.raises(AnalysisInputError, match=r"unknown figure format\(s\) \['jpg'\]"):
        save_figure(fig, tmp_path / "figure1", formats=("pdf", "jpg"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(AnalysisInputError, match="no rows with phase 'video'"):
        figure1(rows[rows["phase"] == "counter"])


def test_one_model_and_single_runs_still_plot(rows: pd.DataFrame) -> None:
    video = rows[rows["phase"] == "video"]
    figure_bytes(figure1(video[video["model"] == "baseline"], n_resamples=50), "png")
    figure_bytes(figure1(video.groupby("model").head(1), n_resamples=50), "png")
