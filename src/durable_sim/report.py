"""Rebuild the report from committed run rows, without running any experiment.

Reads the run rows the notebooks committed under ``data/experiments/`` (each CSV checked
against its ``.meta.json`` sidecar), rebuilds what notebook ``03_figure_and_statistics`` derives
from them with the same `durable_sim.analysis` calls (Tables 1 and 2, the statistics, the
correlations, the comparison with the paper, store operations by kind, Figure 1), then compiles
``paper/paper.typ`` to ``paper/build/paper.pdf`` with Typst. The tables that notebook 02 builds
from its sensitivity runs (poll sweep, fan-out) are read by the paper as committed.

Layout, relative to the project root (the directory holding ``paper/paper.typ``)::

    data/experiments/{phase1_counter,phase2_video,phase2_failures}.csv   read
    paper/generated/*.{csv,tex,md}                                       written
    figures/figure1.{pdf,svg,png}                                        written
    paper/build/paper.pdf                                                written
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from durable_sim.errors import OutputPathError, SpecError
from durable_sim.files import read_pair, write_all_atomic, write_bytes_atomic

if TYPE_CHECKING:
    from durable_sim.analysis import Table

# `durable_sim.analysis` (matplotlib, seaborn: over a second to import) is imported inside the
# functions that use it, so that the command line, which imports this module, starts fast.

#: The committed run rows the report is built from (file names under ``data/experiments``).
REPORT_INPUTS: dict[str, str] = {
    "counter": "phase1_counter.csv",
    "video": "phase2_video.csv",
    "failures": "phase2_failures.csv",
}


class ReportSpec(BaseModel):
    """The statistics' parameters (notebook 03's, with its canonical defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stats_seed: int = Field(
        default=0,
        ge=0,
        le=2**32 - 1,
        description="seed of the bootstrap resampling (intervals and Figure 1's error bars)",
    )
    n_resamples: int = Field(
        default=10_000,
        ge=100,
        le=10_000_000,
        description="bootstrap resamples per confidence interval",
    )
    level: float = Field(
        default=0.95, gt=0.0, lt=1.0, description="confidence level of the intervals"
    )


@dataclass(frozen=True)
class ProjectLayout:
    """Where the report's inputs and outputs live under a project root."""

    root: Path

    @property
    def data_dir(self) -> Path:
        """Committed run rows (CSV + ``.meta.json``)."""
        return self.root / "data" / "experiments"

    @property
    def tables_dir(self) -> Path:
        """Generated tables the paper reads."""
        return self.root / "paper" / "generated"

    @property
    def figures_dir(self) -> Path:
        """Generated figures."""
        return self.root / "figures"

    @property
    def paper_source(self) -> Path:
        """The Typst source of the paper."""
        return self.root / "paper" / "paper.typ"

    @property
    def paper_pdf(self) -> Path:
        """The compiled paper."""
        return self.root / "paper" / "build" / "paper.pdf"


def find_project_root(start: str | Path = ".") -> Path:
    """The nearest directory at or above `start` that holds ``paper/paper.typ``.

    Raises `SpecError` naming `start` if there is none.
    """
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if ProjectLayout(candidate).paper_source.is_file():
            return candidate
    raise SpecError(
        f"no durable-sim project at or above {str(here)!r} "
        "(accepted: a directory holding paper/paper.typ; pass --root)"
    )


def load_report_rows(layout: ProjectLayout) -> dict[str, pd.DataFrame]:
    """The committed rows named in `REPORT_INPUTS`, each verified against its sidecar.

    Raises `SidecarMismatchError` for a CSV that does not match its sidecar (or has none), and
    `AnalysisInputError` for rows the analysis cannot use.
    """
    from durable_sim.analysis import validate_rows

    frames: dict[str, pd.DataFrame] = {}
    for key, name in REPORT_INPUTS.items():
        data, _ = read_pair(layout.data_dir / name)
        frames[key] = pd.read_csv(io.BytesIO(data))
        validate_rows(frames[key])
    return frames


def report_tables(
    rows: pd.DataFrame, failures: pd.DataFrame, spec: ReportSpec | None = None
) -> list[Table]:
    """The tables derived from the counter and video rows (`rows`) and the failure-scenario
    rows (`failures`): Table 1, Table 2, statistics, correlations (plain and with failures),
    the comparison with the paper, and the video's store operations by kind."""
    from durable_sim.analysis import (
        correlation_table,
        paper_comparison_table,
        statistics_table,
        store_ops_table,
        table1,
        table2,
    )

    spec = spec or ReportSpec()
    corr_failures = replace(
        correlation_table(failures),
        name="correlation_failures",
        caption=(
            "Spearman rank correlation of store_ops and time_ms, video runs with injected failures."
        ),
    )
    return [
        table1(rows),
        table2(rows),
        statistics_table(
            rows, seed=spec.stats_seed, n_resamples=spec.n_resamples, level=spec.level
        ),
        correlation_table(rows),
        corr_failures,
        paper_comparison_table(rows),
        store_ops_table(rows),
    ]


def _check_writable_dirs(directories: list[Path]) -> None:
    for directory in directories:
        if not directory.is_dir():
            raise OutputPathError(
                f"output directory {directory} does not exist (accepted: an existing directory)"
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutputPathError(f"output directory {directory} is not writable")


def build_paper(root: str | Path) -> Path:
    """Compile ``paper/paper.typ`` under `root` to ``paper/build/paper.pdf`` with Typst.

    Fonts are Typst's embedded ones only (system fonts ignored) and no date is set, so the
    same sources give the same bytes. The PDF is written atomically; returns its path.
    """
    import typst

    layout = ProjectLayout(Path(root))
    pdf = typst.compile(str(layout.paper_source), root=str(layout.root), ignore_system_fonts=True)
    write_bytes_atomic(layout.paper_pdf, pdf)
    return layout.paper_pdf


def rebuild_report(
    root: str | Path, spec: ReportSpec | None = None, *, paper: bool = True
) -> list[Path]:
    """Rebuild the tables, Figure 1 and (with `paper`) the PDF under `root` from its committed
    rows; returns the paths written.

    Everything is checked and computed before the first file is written: bad rows
    (`AnalysisInputError`), a CSV that does not match its sidecar (`SidecarMismatchError`) or
    a missing or unwritable output directory (`OutputPathError`) leave the tree untouched. The
    PDF is compiled last, from the tables just written.
    """
    from durable_sim.analysis import FIGURE_FORMATS, figure1, figure_bytes, write_tables

    spec = spec or ReportSpec()
    layout = ProjectLayout(Path(root))
    frames = load_report_rows(layout)
    outputs = [layout.tables_dir, layout.figures_dir]
    _check_writable_dirs([*outputs, layout.paper_pdf.parent] if paper else outputs)
    rows = pd.concat([frames["counter"], frames["video"]], ignore_index=True)
    tables = report_tables(rows, frames["failures"], spec)
    figure = figure1(rows[rows["phase"] == "video"], seed=spec.stats_seed)
    stem = layout.figures_dir / "figure1"
    figures = {stem.with_suffix(f".{fmt}"): figure_bytes(figure, fmt) for fmt in FIGURE_FORMATS}
    written = write_tables(tables, layout.tables_dir)
    written += write_all_atomic(figures)
    if paper:
        written.append(build_paper(layout.root))
    return written
