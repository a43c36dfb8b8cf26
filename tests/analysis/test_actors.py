"""Actor tables, limits, mapping verdicts and the figure: chosen by the rows, stable in bytes."""

from __future__ import annotations

import pandas as pd
import pytest

from durable_sim.analysis import AnalysisInputError, figure_bytes
from durable_sim.analysis.actors import (
    AWS_DURABLE_LIMITS,
    actor_figure,
    actor_findings,
    actor_table,
    limits_table,
    mapping_table,
)


def _row(variant: str, clients: int, **values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "variant": variant,
        "model": "durable" if variant == "durable" else "baseline",
        "clients": clients,
        "acknowledged": 10,
        "handled": 10,
        "final_value": 10,
        "lost_updates": 0,
        "conflicts": 0,
        "retries": 0,
        "store_ops": 20,
        "checkpoint_ops": 40 if variant == "durable" else 0,
        "checkpoint_bytes": 9000 if variant == "durable" else 0,
        "latency_p50_ms": 50.0,
        "latency_p99_ms": 90.0,
        "store_ops_mailbox_lookup": 12 if variant == "durable" else 0,
        "journal_callbacks": 11 if variant == "durable" else 0,
        "journal_steps": 11 if variant == "durable" else 0,
        "durable_operations": 33 if variant == "durable" else 0,
    }
    return {**base, **values}


def _growth(n: int = 10, ops_per_message: int = 3, ms_per_message: float = 1000.0) -> pd.DataFrame:
    m = pd.Series(range(n))
    return pd.DataFrame(
        {
            "messages": m,
            "operations": ops_per_message * (m + 1),
            "journal_bytes": 1000 * (m + 1),
            "replayed_operations": ops_per_message * m,
            "largest_payload_bytes": 23,
            "invocation_ms": 50.0,
            "time_ms": ms_per_message * m,
        }
    )


def _verdicts(rows: pd.DataFrame, growth: pd.DataFrame) -> dict[str, str]:
    frame = mapping_table(rows, growth).frame
    return dict(zip(frame["actor_model"], frame["verdict"], strict=True))


def test_verdicts_follow_the_measurements() -> None:
    calm = pd.DataFrame([_row("durable", 1, store_ops_mailbox_lookup=0), _row("add", 1)])
    assert _verdicts(calm, _growth()) == {
        "Actor ID": "holds",
        "Actor state": "holds",
        "Message handler": "holds",
        "Message": "does not hold",
        "Mailbox": "holds",
        "Replay": "holds",
    }
    contended = pd.DataFrame(
        [_row("durable", 8, conflicts=25, lost_updates=1, final_value=9), _row("add", 8)]
    )
    verdicts = _verdicts(contended, _growth())
    assert verdicts["Actor ID"] == "partly"
    assert verdicts["Mailbox"] == "does not hold"
    assert verdicts["Actor state"] == "does not hold"
    evidence = mapping_table(contended, _growth()).frame.set_index("actor_model")["evidence"]
    assert "2.5 closed callbacks" in evidence["Mailbox"]
    assert "1 acknowledged updates were lost" in evidence["Actor state"]


def test_the_first_limit_depends_on_the_message_rate() -> None:
    fast = limits_table(_growth(ms_per_message=1000.0)).frame.set_index("limit")
    assert fast.loc["history_operations", "messages_to_limit"] == pytest.approx(25_000 / 3 - 1)
    assert bool(fast.loc["history_operations", "first"])
    assert fast.loc["checkpoint_payload", "messages_to_limit"] == float("inf")
    # One message a day: the 366-day duration comes first.
    slow = limits_table(_growth(ms_per_message=86_400_000.0)).frame.set_index("limit")
    assert bool(slow.loc["execution_duration", "first"])
    assert slow.loc["execution_duration", "messages_to_limit"] == pytest.approx(366)
    below = fast.loc["execution_duration", "messages_per_day_below"]
    assert below == pytest.approx((25_000 / 3 - 1) / 366)
    assert {lim.name for lim in AWS_DURABLE_LIMITS} == set(fast.index)
    assert all(lim.source.startswith("https://") for lim in AWS_DURABLE_LIMITS)


def test_findings_are_chosen_by_the_data() -> None:
    rows = pd.DataFrame(
        [
            _row("durable", 4, conflicts=30, latency_p99_ms=3000.0),
            _row("rmw", 4, lost_updates=3, final_value=7),
            _row("add", 4, latency_p99_ms=30.0),
        ]
    )
    text = actor_findings(rows, limits_table(_growth()), _growth()).frame.set_index("key")["text"]
    assert text["lost"].startswith("Naive read-modify-write lost 3 of 10")
    assert "lost none in any run" in text["lost"]
    assert "3.0 s, 100 times the atomic add's (30 ms)" in text["latency"]
    assert "operations in one execution's history" in text["limit"]
    safe = rows.assign(lost_updates=0, final_value=10)
    quiet = actor_findings(safe, limits_table(_growth()), _growth()).frame.set_index("key")
    assert quiet.loc["lost", "text"].startswith("Naive read-modify-write lost no update")


def test_results_table_is_per_message() -> None:
    rows = pd.DataFrame([_row("durable", 2, conflicts=15), _row("rmw", 2, lost_updates=4)])
    frame = actor_table(rows).frame.set_index("variant")
    assert frame.loc["durable", "conflicts_per_message"] == 1.5
    assert frame.loc["durable", "checkpoint_bytes_per_message"] == 900
    assert frame.loc["rmw", "lost_updates"] == 4
    assert list(frame.index) == ["durable", "rmw"]


def test_figure_bytes_are_stable() -> None:
    rows = pd.DataFrame(
        [
            _row(v, c, latency_p99_ms=10.0 * c)
            for v in ("durable", "rmw", "cas", "add")
            for c in (1, 4)
        ]
    )
    for fmt in ("svg", "png", "pdf"):
        assert figure_bytes(actor_figure(rows), fmt) == figure_bytes(actor_figure(rows), fmt)


def test_rows_without_a_durable_run_are_refused() -> None:
    with pytest.raises(AnalysisInputError, match="no durable actor run"):
        mapping_table(pd.DataFrame([_row("add", 1)]), _growth())
    with pytest.raises(AnalysisInputError, match="two or more message counts"):
        limits_table(_growth(n=1))
