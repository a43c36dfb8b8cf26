"""`run_durable`: engine selection and option validation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from durable_sim import FaultPlan, MemoryJournal, VirtualClock, run_durable


def _handler(event: Any, ctx: Any) -> int:
    return 1


def test_unknown_engine_names_it_and_the_accepted_ones() -> None:
    with pytest.raises(ValueError) as info:
        run_durable(_handler, None, engine="lambda")
    assert str(info.value) == "unknown engine 'lambda' (accepted: 'sim', 'aws-local')"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("journal", MemoryJournal()),
        ("clock", VirtualClock()),
        ("faults", FaultPlan()),
        ("execution_id", "e-1"),
    ],
)
def test_aws_local_rejects_sim_only_options(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"engine 'aws-local' does not take {option} "):
        run_durable(_handler, None, engine="aws-local", **{option: value})


def test_plain_function_runs_on_sim() -> None:
    run = run_durable(_handler, None, execution_id="plain")
    assert (run.engine, run.execution_id, run.status, run.result) == (
        "sim",
        "plain",
        "SUCCEEDED",
        1,
    )


def test_a_run_without_an_execution_id_starts_a_new_execution_with_a_random_id() -> None:
    ids = [run_durable(lambda event, ctx: event, 1).execution_id for _ in range(3)]
    assert all(re.fullmatch(r"execution-[0-9a-f]{12}", i) for i in ids) and len(set(ids)) == 3
