"""Checks of the run-row schema (`durable_sim.rows`) that reject bad rows early.

One row is one run of one workload in one model. Checks raise `AnalysisInputError` naming the bad
value and the accepted ones, so a typo in a label or a missing column fails with one clear message
before any statistic is computed or any file is written. ``model`` and ``engine`` have fixed
vocabularies; ``phase`` is open (a registered workload brings its own), and per-phase tables list
the paper's phases first (`ordered_phases`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from durable_sim.errors import DurableSimError, SpecError
from durable_sim.rows import ENGINES, MODELS, PHASES, REQUIRED_COLUMNS, STORE_OPS_PREFIX

#: Known vocabularies of the label columns; other columns (``phase`` too) accept whatever labels
#: they hold.
LABELS: dict[str, tuple[str, ...]] = {"model": MODELS, "engine": ENGINES}


class AnalysisInputError(DurableSimError, ValueError):
    """Rows or arguments the analysis cannot use; the message says what is wrong and what fits."""


class MissingInputError(AnalysisInputError, SpecError):
    """An input file the analysis needs is absent (e.g. the canonical run rows, before
    notebooks 01 and 02 have run): bad usage, like a bad option (the command line exits with
    status 2); the message names the files, the directory and how to make them."""


def _listing(values: Iterable[object]) -> str:
    return ", ".join(repr(v) for v in values)


def require_columns(rows: pd.DataFrame, columns: Iterable[str]) -> None:
    """Fail unless `rows` is a DataFrame holding every column in `columns`."""
    if not isinstance(rows, pd.DataFrame):
        raise AnalysisInputError(f"rows must be a pandas DataFrame, got {type(rows).__name__}")
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise AnalysisInputError(
            f"rows lack column(s) {_listing(missing)}; columns present: {_listing(rows.columns)}"
        )


def accepted_labels(rows: pd.DataFrame, column: str) -> tuple[str, ...]:
    """The labels `column` may hold: its fixed vocabulary, or else the labels present."""
    if column in LABELS:
        return LABELS[column]
    return tuple(sorted(str(v) for v in rows[column].dropna().unique()))


def require_label(label: str, accepted: Sequence[str], *, column: str) -> None:
    """Fail unless `label` is one of `accepted` (for `column`)."""
    if label not in accepted:
        raise AnalysisInputError(f"unknown {column} {label!r}; accepted: {_listing(accepted)}")


def require_known_labels(rows: pd.DataFrame, column: str) -> None:
    """Fail if `column` holds a label outside its fixed vocabulary."""
    require_columns(rows, [column])
    accepted = LABELS[column]
    for label in rows[column].dropna().unique():
        require_label(str(label), accepted, column=column)


def ordered_phases(phases: Iterable[object]) -> list[str]:
    """The distinct phases in `phases` in report order: the paper's (`PHASES`, in its order)
    first, then any others (registered workloads') sorted; missing values are skipped."""
    present = {str(p) for p in phases if not pd.isna(p)}
    return [p for p in PHASES if p in present] + sorted(present - set(PHASES))


def select_phase(rows: pd.DataFrame, phase: str) -> pd.DataFrame:
    """Rows of one phase (any workload's); fails when none of the rows belong to it, naming the
    phases present."""
    require_columns(rows, ["phase", "model"])
    require_known_labels(rows, "model")
    selected = rows[rows["phase"] == phase]
    if selected.empty:
        present = ordered_phases(rows["phase"])
        raise AnalysisInputError(f"no rows with phase {phase!r}; phases present: {present}")
    return selected


def numeric_column(rows: pd.DataFrame, column: str) -> pd.Series:
    """`column` as float64 (nullable entries become NaN); fails if it holds non-numbers."""
    require_columns(rows, [column])
    try:
        return pd.to_numeric(rows[column], errors="raise").astype("float64")
    except (ValueError, TypeError) as exc:
        raise AnalysisInputError(f"column {column!r} must be numeric: {exc}") from None


def finite_values(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, int]:
    """The finite values of `column` and how many NaN/inf entries were dropped."""
    values = numeric_column(rows, column).to_numpy(dtype=np.float64)
    keep = np.isfinite(values)
    return values[keep], int((~keep).sum())


def store_op_kinds(rows: pd.DataFrame) -> tuple[str, ...]:
    """The per-kind store-op columns (`store_ops_*`) present, in column order."""
    return tuple(c for c in rows.columns if isinstance(c, str) and c.startswith(STORE_OPS_PREFIX))


def validate_rows(rows: pd.DataFrame) -> None:
    """Fail unless `rows` carries the full run-row schema with known labels."""
    require_columns(rows, REQUIRED_COLUMNS)
    for column in LABELS:
        require_known_labels(rows, column)
