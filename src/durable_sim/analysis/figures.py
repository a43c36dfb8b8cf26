"""Figure 1 (state-store operations vs end-to-end time, one point per run) and the time-breakdown
figure (each group's mean time stacked by component), rendered reproducibly.

Byte-reproducible output rests on: the Agg canvas (no pyplot, no GUI backend, no global figure
registry), one style (`figure_style`) applied both when drawing and when saving: Matplotlib's own
defaults, never the user's ``matplotlibrc`` or an earlier ``style.use``, then `figure_rc` (so the
result depends on the code and the pinned packages only, and nothing leaks into the caller's
`rcParams`), DejaVu fonts shipped with matplotlib,
a fixed SVG hash salt, fixed dpi, metadata without dates, and seeded bootstrap error bars.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from durable_sim.analysis.breakdown import COMPONENT_LABELS
from durable_sim.analysis.schema import (
    MODELS,
    AnalysisInputError,
    numeric_column,
    ordered_phases,
    select_phase,
)
from durable_sim.analysis.stats import bootstrap_mean_ci
from durable_sim.analysis.tables import MODEL_LABELS
from durable_sim.files import write_all_atomic
from durable_sim.rows import TIME_COMPONENTS

FIGURE_FORMATS: tuple[str, ...] = ("pdf", "svg", "png")
#: Raster resolution of the PNG (vector formats ignore it).
DPI = 200
#: One-column figure size in inches.
FIGSIZE = (3.5, 2.6)
PRODUCER = "durable_sim"
#: Per-format metadata with no dates and no version strings.
METADATA: dict[str, dict[str, Any]] = {
    "pdf": {"Creator": PRODUCER, "Producer": PRODUCER, "CreationDate": None},
    "svg": {"Creator": PRODUCER, "Date": None},
    "png": {"Software": PRODUCER},
}
#: Colour-blind-safe colours, fixed per model so both figures and readers agree.
MODEL_COLORS: dict[str, str] = {"baseline": "#0173b2", "durable": "#de8f05"}


def figure_rc() -> dict[RcKeyType, Any]:
    """The rc settings every figure is drawn and saved under (seaborn whitegrid, paper scale)."""
    return {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("paper"),
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "mathtext.fontset": "dejavusans",
        "svg.hashsalt": PRODUCER,
        "svg.fonttype": "path",
        "pdf.fonttype": 42,
        "savefig.dpi": DPI,
        "figure.dpi": DPI,
        "path.simplify": True,
    }


@contextmanager
def figure_style() -> Iterator[None]:
    """Matplotlib's built-in defaults (whatever the user's matplotlibrc says), then `figure_rc`."""
    with matplotlib.style.context("default"), mpl.rc_context(figure_rc()):
        yield


def _check_formats(formats: Sequence[str]) -> None:
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if unknown:
        raise AnalysisInputError(
            f"unknown figure format(s) {unknown}; accepted: {list(FIGURE_FORMATS)}"
        )


def _points(rows: pd.DataFrame, phase: str) -> pd.DataFrame:
    """One finite (store_ops, time_ms) point per run with its display label."""
    selected = select_phase(rows, phase)
    points = pd.DataFrame(
        {
            "model": selected["model"].astype(str).to_numpy(),
            "store_ops": numeric_column(selected, "store_ops").to_numpy(),
            "time_ms": numeric_column(selected, "time_ms").to_numpy(),
        }
    )
    points = points[np.isfinite(points[["store_ops", "time_ms"]]).all(axis=1)]
    if points.empty:
        raise AnalysisInputError(f"no {phase} run has finite store_ops and time_ms to plot")
    return points.assign(Model=points["model"].map(MODEL_LABELS))


def _error(mean: float, values: np.ndarray, seed: np.random.SeedSequence, n: int) -> list[float]:
    """Distances from `mean` to the bootstrap interval's ends (zeros when it is undefined)."""
    ci = bootstrap_mean_ci(values, seed=np.random.default_rng(seed), n_resamples=n)
    if not np.isfinite(ci.low):
        return [0.0, 0.0]
    return [max(mean - ci.low, 0.0), max(ci.high - mean, 0.0)]


def _draw_means(ax: Any, points: pd.DataFrame, seed: int, n_resamples: int) -> None:
    """Each model's mean point with 95% bootstrap intervals on both axes."""
    models = [m for m in MODELS if (points["model"] == m).any()]
    seeds = np.random.SeedSequence(seed).spawn(2 * len(models))
    for i, model in enumerate(models):
        group = points[points["model"] == model]
        xs, ys = group["store_ops"].to_numpy(), group["time_ms"].to_numpy()
        mx, my = float(xs.mean()), float(ys.mean())
        ax.errorbar(
            mx,
            my,
            xerr=np.array([_error(mx, xs, seeds[2 * i], n_resamples)]).T,
            yerr=np.array([_error(my, ys, seeds[2 * i + 1], n_resamples)]).T,
            fmt="D",
            markersize=5,
            color=MODEL_COLORS[model],
            markeredgecolor="black",
            ecolor="black",
            elinewidth=0.8,
            capsize=2.5,
            zorder=3,
        )


def figure1(
    rows: pd.DataFrame,
    *,
    phase: str = "video",
    show_means: bool = True,
    seed: int = 0,
    n_resamples: int = 2_000,
    title: str | None = None,
) -> Figure:
    """Figure 1: store ops (x) vs end-to-end time (y, from zero) per run, coloured by model.

    With `show_means`, each model's mean is drawn with seeded 95% bootstrap error bars;
    `title` names the scenario above the plot.
    """
    points = _points(rows, phase)
    present = [m for m in MODELS if (points["model"] == m).any()]
    with figure_style():
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        sns.scatterplot(
            data=points,
            x="store_ops",
            y="time_ms",
            hue="Model",
            hue_order=[MODEL_LABELS[m] for m in present],
            palette={MODEL_LABELS[m]: MODEL_COLORS[m] for m in present},
            s=18,
            alpha=0.8,
            linewidth=0.3,
            edgecolor="white",
            ax=ax,
        )
        if show_means:
            _draw_means(ax, points, seed, n_resamples)
        ax.set_xlabel("State-store operations per run")
        ax.set_ylabel("End-to-end time (ms)")
        ax.set_ylim(bottom=0)
        ax.legend(title=None, loc="lower right", frameon=True)
        if title:
            ax.set_title(title)
    return fig


#: Colour-blind-safe colours, fixed per time component (seaborn's "colorblind" palette).
COMPONENT_COLORS: dict[str, str] = dict(
    zip(
        TIME_COMPONENTS, sns.color_palette("colorblind", len(TIME_COMPONENTS)).as_hex(), strict=True
    )
)


def breakdown_figure(table: pd.DataFrame) -> Figure:
    """Stacked horizontal bars of mean time per component, one panel per phase and one bar per
    scenario and model (the frame of `breakdown.breakdown_table`)."""
    columns = ["scenario", "phase", "model", *(f"time_{c}_ms" for c in TIME_COMPONENTS)]
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty:
        raise AnalysisInputError(f"breakdown frame lacks columns {missing} or rows")
    phases = ordered_phases(table["phase"])
    with figure_style():
        fig = Figure(
            figsize=(7.0, 0.9 + 0.55 * table.groupby("phase").size().max()),
            dpi=DPI,
            layout="constrained",
        )
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(phases), squeeze=False)[0]
        for ax, phase in zip(axes, phases, strict=True):
            part = table[table["phase"] == phase].iloc[::-1]
            labels = [
                f"{s}\n{MODEL_LABELS[m].split(' (')[0]}"
                for s, m in zip(part["scenario"], part["model"], strict=True)
            ]
            left = np.zeros(len(part))
            for component in TIME_COMPONENTS:
                widths = part[f"time_{component}_ms"].to_numpy(dtype=float)
                ax.barh(
                    labels,
                    widths,
                    left=left,
                    color=COMPONENT_COLORS[component],
                    label=COMPONENT_LABELS[component],
                    height=0.6,
                )
                left += widths
            ax.set_xlim(left=0)
            ax.set_xlabel("Mean time per run (ms)")
            ax.set_title(f"{phase}")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=4, frameon=False)
    return fig


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """`fig` encoded as `fmt` ('pdf', 'svg' or 'png') with fixed metadata, same bytes every time."""
    _check_formats([fmt])
    buffer = BytesIO()
    with figure_style():
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=METADATA[fmt])
    return buffer.getvalue()


def render_figure(
    fig: Figure, stem: str | Path, formats: Sequence[str] = FIGURE_FORMATS
) -> dict[Path, bytes]:
    """`fig` rendered as the bytes of `<stem>.<fmt>` for each format, in the order given (see
    `figure_bytes`). Raises `AnalysisInputError` for a format not in `FIGURE_FORMATS`."""
    _check_formats(formats)
    stem = Path(stem)
    return {stem.with_name(f"{stem.name}.{fmt}"): figure_bytes(fig, fmt) for fmt in formats}


def save_figure(
    fig: Figure, stem: str | Path, formats: Sequence[str] = FIGURE_FORMATS
) -> list[Path]:
    """Write `fig` as `<stem>.<fmt>` for each format; all are rendered before any is written."""
    return write_all_atomic(render_figure(fig, stem, formats))
