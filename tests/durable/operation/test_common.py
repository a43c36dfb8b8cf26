"""Helpers shared by the operation kinds: a journaled result that no longer decodes."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import StepConfig
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

from durable_sim import MemoryJournal, run_durable
from durable_sim.durable.errors import JournalCorruptError


class _Versioned(SerDes[int]):
    """Writes ``v1:<n>``; decodes only the version it is set to read."""

    def __init__(self) -> None:
        self.reads = "v1"

    def serialize(self, value: int, serdes_context: SerDesContext) -> str:
        return f"v1:{value}"

    def deserialize(self, data: str, serdes_context: SerDesContext) -> int:
        version, _, number = data.partition(":")
        if version != self.reads:
            raise ValueError(f"cannot read {version}")
        return int(number)


def test_a_journaled_result_the_serdes_no_longer_decodes_stops_the_run_naming_the_remedy() -> None:
    """The serdes changed under a journaled result: the invocation stops with one error that
    names the execution, the operation and the decoder's complaint, and says what to do."""
    serdes = _Versioned()

    def handler(event: Any, ctx: DurableContext) -> Any:
        first = ctx.step(lambda _: 7, name="first", config=StepConfig(serdes=serdes))
        return [first, ctx.create_callback(name="answer").result()]

    journal = MemoryJournal()
    assert run_durable(handler, None, journal=journal, execution_id="c").status == "PENDING"
    serdes.reads = "v2"
    with pytest.raises(JournalCorruptError) as err:
        run_durable(handler, None, journal=journal, execution_id="c")
    assert str(err.value) == (
        "execution 'c': the journaled result of Step 'first' (id 1) cannot be decoded "
        "(Step 'first' (id 1): cannot deserialize its payload 'v1:7' with _Versioned: "
        "Deserialization failed for id: 1, error: cannot read v1.); "
        "the execution is left as it was: repair the record "
        "(or restore the serdes that wrote it) and resume"
    )
    record = journal.get_execution("c")
    assert record is not None and record.status == "RUNNING"
