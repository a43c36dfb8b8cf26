"""Synthetic run rows that follow the experiment harness's schema (seeded, paper-like)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from durable_sim.rows import TIME_COMPONENTS, time_column

VIDEO_KINDS = ("job_creation", "chunk_insert", "poll", "status_update")
COUNTER_KINDS = ("read", "write")


def _row(run_id: int, phase: str, model: str, seed: int, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "run_id": run_id,
        "phase": phase,
        "model": model,
        "engine": "baseline" if model == "baseline" else "sim",
        "clock": "virtual",
        "profile": "paper-local",
        "machine": "host",
        "cores": 2,
        "seed": seed,
        "checkpoint_bytes": 0,
        "invocations": 1,
        "replays": 0,
        "retries": 0,
        "failed_steps": 0,
        "final_value": None,
        "output_digest": None,
        "ok": True,
    }
    row.update(values)
    # Time split: the store calls' share for the baseline, a fixed invocation floor for durable,
    # the rest compute (they add up to time_ms, as the harness's attribution does).
    time_ms = float(row["time_ms"])  # type: ignore[arg-type]
    split = dict.fromkeys(TIME_COMPONENTS, 0.0)
    if model == "baseline":
        split["store"] = 0.5 * float(row["store_ops"])  # type: ignore[arg-type]
    else:
        split["invocation"] = 5.0
    split["compute"] = time_ms - sum(split.values())
    row.update({time_column(c): v for c, v in split.items()})
    return row


def make_rows(
    seed: int = 7, n_counter: int = 10, n_video_baseline: int = 20, n_video_durable: int = 10
) -> pd.DataFrame:
    """Counter and video rows shaped like the paper: baseline pays store ops, durable pays time."""
    rng = np.random.default_rng(seed)
    rows = []
    run_id = 0
    for model in ("baseline", "durable"):
        for _ in range(n_counter):
            ops = {"store_ops_read": 1, "store_ops_write": 4} if model == "baseline" else {}
            rows.append(
                _row(
                    run_id,
                    "counter",
                    model,
                    seed,
                    time_ms=float(rng.normal(12.0 if model == "baseline" else 20.0, 1.0)),
                    store_ops=sum(ops.values()),
                    **{f"store_ops_{k}": ops.get(f"store_ops_{k}", 0) for k in COUNTER_KINDS},
                    checkpoint_ops=0 if model == "baseline" else 5,
                    steps=4,
                    final_value=2,
                )
            )
            run_id += 1
    for model, n in (("baseline", n_video_baseline), ("durable", n_video_durable)):
        for _ in range(n):
            if model == "baseline":
                polls = int(rng.integers(30, 45))
                kinds = {"job_creation": 1, "chunk_insert": 10, "poll": polls, "status_update": 10}
                time_ms = 120.0 + 1.3 * polls + float(rng.normal(0.0, 3.0))
            else:
                kinds = dict.fromkeys(VIDEO_KINDS, 0)
                time_ms = float(rng.normal(530.0, 4.0))
            rows.append(
                _row(
                    run_id,
                    "video",
                    model,
                    seed,
                    time_ms=time_ms,
                    store_ops=sum(kinds.values()),
                    **{f"store_ops_{k}": v for k, v in kinds.items()},
                    checkpoint_ops=0 if model == "baseline" else 12,
                    steps=12,
                    output_digest="sha256:abc",
                )
            )
            run_id += 1
    return pd.DataFrame(rows)


@pytest.fixture
def rows() -> pd.DataFrame:
    return make_rows()
