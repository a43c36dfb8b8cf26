"""Property: a map/parallel result too large to store is rebuilt on replay as the SDK's
``ConcurrentExecutor.replay`` rebuilds it, whatever its summary says.

Random parallels (branches that succeed, fail, wait for an answer that never comes, or wait a
minute; completion configs; NESTED or FLAT) run once with a batch serdes that pads the result
past the checkpoint limit, so the batch is stored as a summary (ReplayChildren) and the next
invocation rebuilds it. Before that invocation the summary is rewritten at random: kept as
written, stripped of its recorded decision (as an SDK that predates the record wrote it), with
branches that ended recorded STARTED, cut to fewer started branches, or claiming that a branch
still running had ended. The rebuilt result is compared with a reference written here from the
SDK's rules (``concurrency/executor.py``), fed only by the summary and by each branch's own
checkpoint in the journal:

- with a recorded decision: the branches below its started total; those it records STARTED are
  STARTED, the others take their checkpoint's outcome (NESTED; a branch whose checkpoint has
  not ended is a non-determinism error) or their body's (FLAT); the reason is the recorded one;
- without: every branch; SUCCEEDED and FAILED checkpoints give their outcome, anything else
  (still running, never started, FLAT) is STARTED; the reason is ``BatchResult.from_items``'s.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.concurrency.models import (
    BatchItem,
    BatchResult,
    CompletionRecord,
)
from aws_durable_execution_sdk_python.config import (
    BatchItemStatus,
    CompletionConfig,
    Duration,
    NestingType,
    ParallelConfig,
)
from aws_durable_execution_sdk_python.exceptions import DurableOperationError
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDes, SerDesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import SqliteJournal, run_durable
from durable_sim.durable.errors import NonDeterminismError
from durable_sim.durable.journal.records import encode_json

from ..conftest import STEP_ONLY

PROPERTY = settings(
    max_examples=examples(80),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KINDS = ("ok", "fail", "answer", "minute")
REWRITES = ("no record", "ended as started", "claims ended", "fewer started", "as written")


class _Padded(SerDes[Any]):
    """The SDK's serdes, with 300,000 spaces after the JSON: every batch result is over the
    256 KiB limit and stored as a summary."""

    def serialize(self, value: Any, context: SerDesContext) -> str:
        return EXTENDED_TYPES_SERDES.serialize(value, context) + " " * 300_000

    def deserialize(self, data: str, context: SerDesContext) -> Any:
        return EXTENDED_TYPES_SERDES.deserialize(data.rstrip(), context)


def _branch(kind: str, index: int) -> Any:
    def run(c: DurableContext) -> str:
        if kind == "ok":
            return str(c.step(lambda _: f"v{index}", name="work"))
        if kind == "fail":
            c.step(lambda _: index, name="work")
            raise DurableOperationError(f"bad {index}")
        if kind == "answer":
            return str(c.create_callback(name="never").result())  # never answered: STARTED
        c.wait(Duration.from_seconds(60))  # due before the replay: it would end if re-run
        return "late"

    return run


@dataclass(frozen=True)
class Case:
    kinds: tuple[str, ...]
    completion: tuple[str, int]
    max_concurrency: int | None
    nesting: str
    rewrite: str
    pick: int  # which branch a rewrite picks, modulo the candidates

    def config(self) -> CompletionConfig:
        name, n = self.completion
        if name == "min_successful":
            return CompletionConfig(min_successful=n)
        if name == "tolerated_count":
            return CompletionConfig(tolerated_failure_count=n)
        return ParallelConfig().completion_config  # the SDK's default


@st.composite
def cases(draw: st.DrawFn) -> Case:
    rewrite = draw(st.sampled_from(REWRITES))
    kinds = tuple(draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5)))
    completion = draw(
        st.one_of(
            st.just(("default", 0)),
            st.tuples(st.just("min_successful"), st.integers(1, len(kinds))),
            st.tuples(st.just("tolerated_count"), st.integers(0, len(kinds))),
        )
    )
    if rewrite == "claims ended":  # a batch that completes with a branch still running
        kinds, completion = ("ok", *kinds, "answer"), ("min_successful", 1)
    return Case(
        kinds=kinds,
        completion=completion,
        max_concurrency=draw(st.one_of(st.none(), st.integers(1, 3))),
        nesting=draw(st.sampled_from(["NESTED", "FLAT"])),
        rewrite=rewrite,
        pick=draw(st.integers(0, 4)),
    )


def _handler(case: Case, seen: list[Any]) -> Any:
    def handler(event: Any, ctx: DurableContext) -> Any:
        config = ParallelConfig(
            max_concurrency=case.max_concurrency,
            completion_config=case.config(),
            nesting_type=NestingType[case.nesting],
            serdes=_Padded(),
            item_serdes=EXTENDED_TYPES_SERDES,
        )
        branches = [_branch(kind, i) for i, kind in enumerate(case.kinds)]
        seen.append(ctx.parallel(branches, config=config))
        return ctx.create_callback(name="go").result()  # never answered: the run waits

    return handler


def _plain(result: BatchResult[Any]) -> list[Any]:
    """Reason and items as plain values (status, result, error type's name and message)."""
    items = [[i.index, i.status.value, i.result, _error(i.error)] for i in result.all]
    return [result.completion_reason.value, items]


def _error(error: ErrorObject | None) -> list[str | None] | None:
    """An error's type (its class name) and message."""
    return None if error is None else [error.type and error.type.rpartition(".")[2], error.message]


def _rewrite(envelope: dict[str, Any], case: Case, ended: set[int]) -> dict[str, Any] | None:
    """`envelope` (the stored summary) rewritten as `case.rewrite` says; None when the rewrite
    has nothing to act on in this batch."""
    record = CompletionRecord.from_summary_payload(json.dumps(envelope))
    assert record is not None  # the engine always records its decision
    legacy = {
        k: v
        for k, v in envelope.items()
        if k not in {"completionReason", "startedIndexes", "completedIndexes"}
    }
    total, started = record.started_total, set(record.started_indexes)
    if case.rewrite == "as written":
        return envelope
    if case.rewrite == "no record":
        return legacy
    if case.rewrite == "ended as started":
        candidates = sorted(set(range(total)) - started)
        if not candidates:
            return None
        started.add(candidates[case.pick % len(candidates)])
    elif case.rewrite == "fewer started":
        if total == 0:
            return None
        total = case.pick % total
        started = {i for i in started if i < total}
    else:  # "claims ended": a branch still running recorded as ended
        candidates = sorted(i for i in started if i not in ended)
        if not candidates or case.nesting == "FLAT":
            return None  # a FLAT branch is re-run: one still waiting would suspend
        started.discard(candidates[case.pick % len(candidates)])
    return {
        **legacy,
        "completionReason": record.completion_reason.value,
        "totalCount": total,
        "startedIndexes": sorted(started),
    }


def _outcome(kind: str, index: int, status: str | None) -> BatchItem[Any]:
    """A branch's item from its checkpoint's `status` (NESTED) or, FLAT, from its body."""
    if status == "SUCCEEDED" or (status is None and kind in ("ok", "minute")):
        return BatchItem(index, BatchItemStatus.SUCCEEDED, f"v{index}" if kind == "ok" else "late")
    failed = ErrorObject(f"bad {index}", "DurableOperationError", None, None)
    return BatchItem(index, BatchItemStatus.FAILED, error=failed)


def reference(case: Case, summary: str, statuses: dict[int, str | None]) -> list[Any] | str:
    """The SDK's rebuilt result for `summary`, given each branch's checkpoint status (None:
    none); ``"non-determinism"`` where the SDK raises its non-determinism error."""
    record = CompletionRecord.from_summary_payload(summary)
    if record is None:
        items = []
        for index, kind in enumerate(case.kinds):
            status = statuses[index]
            if status in ("SUCCEEDED", "FAILED"):
                items.append(_outcome(kind, index, status))
            else:
                items.append(BatchItem(index, BatchItemStatus.STARTED))
        return _plain(BatchResult.from_items(items, case.config()))
    items = []
    for index in range(min(record.started_total, len(case.kinds))):
        if index in record.started_indexes:
            items.append(BatchItem(index, BatchItemStatus.STARTED))
            continue
        status = statuses[index]
        if case.nesting == "NESTED" and status not in ("SUCCEEDED", "FAILED"):
            return "non-determinism"
        items.append(_outcome(case.kinds[index], index, status))
    return _plain(BatchResult(items, record.completion_reason))


@PROPERTY
@given(case=cases())
def test_a_stored_batch_is_rebuilt_as_the_sdk_rebuilds_it(case: Case) -> None:
    seen: list[Any] = []
    handler = _handler(case, seen)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "journal.db"
        with SqliteJournal(path) as journal:
            first = run_durable(handler, None, journal=journal, execution_id="e", profile=STEP_ONLY)
            assert first.status == "PENDING"
            batch = journal.get_operation("e", "1")
            assert batch is not None
            if not batch.replay_children:
                return  # the batch waits for a branch that never ends: nothing is stored
            statuses: dict[int, str | None] = {}
            for index in range(len(case.kinds)):
                rec = journal.get_operation("e", f"1.{index + 1}")
                statuses[index] = None if rec is None else rec.status.value
            ended = {i for i, s in statuses.items() if s in ("SUCCEEDED", "FAILED")}
            rewritten = _rewrite(json.loads(batch.result or ""), case, ended)
            if rewritten is None:
                return
            summary = json.dumps(rewritten)
            with sqlite3.connect(path) as db:
                db.execute(
                    "UPDATE operations SET record=? WHERE op_id=?",
                    (encode_json(batch.evolve(result=summary).to_dict()), "1"),
                )
            again = run_durable(handler, None, journal=journal, execution_id="e", profile=STEP_ONLY)
    expected = reference(case, summary, statuses)
    if expected == "non-determinism":
        assert again.status == "FAILED" and isinstance(again.error, NonDeterminismError)
        return
    assert again.status == "PENDING", again.error
    assert _plain(seen[-1]) == expected
    if case.rewrite == "as written":
        assert _plain(seen[-1]) == _plain(seen[0])  # the live result, exactly
