"""The numbers the paper publishes (Table 1 and Table 2, section 3), kept as data.

These are facts we reproduce, each with the place it comes from. Runs are counts; every other
value is the per-run mean the paper reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class PaperValue:
    """One published number: which table, phase, model and metric, and its value."""

    source: str
    phase: str
    model: str
    metric: str
    value: float


#: Metric names are row columns (mean over runs), except `runs` (the number of runs).
PAPER_VALUES: tuple[PaperValue, ...] = (
    PaperValue("Table 1", "counter", "baseline", "runs", 10),
    PaperValue("Table 1", "counter", "baseline", "store_ops", 5.0),
    PaperValue("Table 1", "counter", "baseline", "steps", 4),
    PaperValue("Table 1", "counter", "baseline", "final_value", 2),
    PaperValue("Table 1", "counter", "durable", "runs", 10),
    PaperValue("Table 1", "counter", "durable", "store_ops", 0.0),
    PaperValue("Table 1", "counter", "durable", "steps", 4),
    PaperValue("Table 1", "counter", "durable", "final_value", 2),
    PaperValue("Table 2", "video", "baseline", "runs", 20),
    PaperValue("Table 2", "video", "baseline", "time_ms", 197),
    PaperValue("Table 2", "video", "baseline", "store_ops", 62.6),
    PaperValue("Table 2", "video", "baseline", "retries", 0.0),
    PaperValue("Table 2", "video", "durable", "runs", 10),
    PaperValue("Table 2", "video", "durable", "time_ms", 530),
    PaperValue("Table 2", "video", "durable", "store_ops", 0.0),
    PaperValue("Table 2", "video", "durable", "retries", 0.0),
)


def paper_values_frame() -> pd.DataFrame:
    """The published values as a tidy frame (source, phase, model, metric, value)."""
    return pd.DataFrame(
        {
            "source": [v.source for v in PAPER_VALUES],
            "phase": [v.phase for v in PAPER_VALUES],
            "model": [v.model for v in PAPER_VALUES],
            "metric": [v.metric for v in PAPER_VALUES],
            "value": [float(v.value) for v in PAPER_VALUES],
        }
    )
