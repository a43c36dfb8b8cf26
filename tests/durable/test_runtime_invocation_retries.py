"""An execution in its invocation retries, resumed by another run: the count of invocations the
handler failed in a row is the execution's, not the run's.

The official local runner keeps the count with the execution
(``Execution.consecutive_failed_invocation_attempts``, saved in its store at every failed
invocation, reset by a clean one; ``Executor._retry_invocation``), retries 5 s later
(``RETRY_BACKOFF_SECONDS``) and fails the execution at the fifth failure in a row
(``MAX_CONSECUTIVE_FAILED_ATTEMPTS``) with that failure's error. Formerly a run that resumed
the execution started counting again from 0, so every interruption bought 5 more invocations.

One departure: the runner also counts an invocation whose runtime died (``_retry_after_error``;
measured with `run_durable(engine="aws-local")` in
`test_a_crash_is_passed_over_where_the_official_runner_counts_it`), where our engine passes it
over, as the design promises that an execution killed at any checkpoint boundary and started
again finishes, however often it is killed.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import run_durable
from durable_sim.clock import VirtualClock
from durable_sim.durable import JournalUnavailableError, MemoryJournal
from durable_sim.durable.journal import HistoryEntry
from durable_sim.durable.runtime import INVOCATION_RETRY_MS, MAX_FAILED_INVOCATIONS, execute
from durable_sim.faults import NO_FAULTS, FaultPlan, SimulatedCrash
from durable_sim.latency import ZERO, Sampler
from tests.durable.conftest import JournalBackend

STR_BROKE = ErrorObject(message="str broke", type="RuntimeError", data=None, stack_trace=None)
EXIT_ERROR = "Runtime.ExitError"


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str broke")


def _failures(history: list[HistoryEntry]) -> list[dict[str, Any]]:
    """The Error of each invocation recorded in `history` (an empty dict for a clean one)."""
    return [
        (entry.details or {}).get("Error") or {}
        for entry in history
        if entry.event_type == "InvocationCompleted"
    ]


def _starts(history: list[HistoryEntry]) -> list[float]:
    return [
        (entry.details or {})["StartTimestamp"]
        for entry in history
        if entry.event_type == "InvocationCompleted"
    ]


@pytest.mark.parametrize("interrupted", [2, 3, 5])
def test_a_run_resuming_the_retries_goes_on_counting_the_failed_invocations(
    backend: JournalBackend, interrupted: int
) -> None:
    """The process dies in invocation `interrupted` (an interrupt, recorded as the runtime's
    exit, which does not count); the run that resumes the execution fails it once five
    invocations in a row have failed, each no sooner than 5 s after the failure before it."""
    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append(1)
        ctx.step(lambda _: None, name="once")
        if len(ran) == interrupted:
            raise KeyboardInterrupt
        raise BadStr()

    with pytest.raises(KeyboardInterrupt):
        run_durable(handler, None, journal=backend.open(), execution_id="r")
    resumed = run_durable(handler, None, journal=backend.open(), execution_id="r")
    assert (resumed.status, resumed.error_object) == ("FAILED", STR_BROKE)
    history = backend.open().read_history("r")
    broke = {"ErrorType": "RuntimeError", "ErrorMessage": "str broke"}
    exited = {
        "ErrorType": EXIT_ERROR,
        "ErrorMessage": "the runtime was stopped (KeyboardInterrupt) before the invocation "
        "completed",
    }
    before = interrupted - 1
    failures = _failures(history)
    assert failures == [broke] * before + [exited] + [broke] * (MAX_FAILED_INVOCATIONS - before)
    assert len(ran) == len(failures)  # the interrupted one recorded, once
    starts = [at for at, error in zip(_starts(history), failures, strict=True) if error == broke]
    assert all(b - a >= INVOCATION_RETRY_MS for a, b in itertools.pairwise(starts))
    assert history[-1].event_type == "ExecutionFailed"

    again = run_durable(handler, None, journal=backend.open(), execution_id="r")
    assert (again.status, again.error_object) == ("FAILED", STR_BROKE)
    assert len(ran) == MAX_FAILED_INVOCATIONS + 1  # an ended execution runs no handler


def _crash_then_resume(handler: Any, execution_id: str) -> tuple[Any, list[str]]:
    """Run `handler` until it dies right after its first checkpoint, then resume it on the same
    memory journal; the resumed run and the ErrorType of each recorded invocation."""
    journal = MemoryJournal()
    with pytest.raises(SimulatedCrash):
        run_durable(
            handler,
            None,
            journal=journal,
            execution_id=execution_id,
            faults=FaultPlan(crash_after_checkpoint=1),
        )
    run = run_durable(handler, None, journal=journal, execution_id=execution_id)
    history = journal.read_history(execution_id)
    return run, [failure["ErrorType"] for failure in _failures(history)]


def test_a_crash_is_passed_over_where_the_official_runner_counts_it() -> None:
    """The first invocation dies after its step's checkpoint, every later one fails: the
    official runner fails the execution at the fifth invocation (the death counted), ours at
    the sixth (the death passed over); both with the handler's last error."""
    ran: list[str] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append("handler")
        ctx.step(lambda _: None, name="once")
        if len(ran) == 1 and engine == "aws-local":
            raise SimulatedCrash("the process dies")  # the runner sees a failed invoke
        raise BadStr()

    engine = "aws-local"
    reference = run_durable(handler, None, engine=engine)
    assert (reference.status, reference.error_object) == ("FAILED", STR_BROKE)
    assert len(ran) == reference.metrics.invocations == MAX_FAILED_INVOCATIONS

    ran.clear()
    engine = "sim"
    run, kinds = _crash_then_resume(handler, "c")
    assert (run.status, run.error_object) == ("FAILED", STR_BROKE)
    assert len(ran) == MAX_FAILED_INVOCATIONS + 1
    assert kinds == [EXIT_ERROR] + ["RuntimeError"] * MAX_FAILED_INVOCATIONS


def test_a_crash_between_failed_invocations_neither_counts_nor_ends_the_count() -> None:
    """Two invocations fail, the third dies after a checkpoint: three more failures end the
    execution."""
    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append(1)
        if len(ran) == 3:
            ctx.step(lambda _: None, name="late")  # checkpoint 1 of this process: it dies
        raise BadStr()

    run, kinds = _crash_then_resume(handler, "f")
    assert (run.status, run.error_object) == ("FAILED", STR_BROKE)
    assert len(ran) == MAX_FAILED_INVOCATIONS + 1
    assert kinds == ["RuntimeError"] * 2 + [EXIT_ERROR] + ["RuntimeError"] * 3


class _OutcomeLost(MemoryJournal):
    """A memory journal whose first `finish_execution` fails: the database went away just
    after the fifth failed invocation was recorded."""

    lost = False

    def finish_execution(self, *args: Any, **kwargs: Any) -> None:
        if not self.lost:
            self.lost = True
            raise JournalUnavailableError("the database went away")
        super().finish_execution(*args, **kwargs)


def test_a_fifth_failure_recorded_without_its_outcome_fails_the_execution_on_resume() -> None:
    """The run that recorded the fifth failed invocation lost the journal before it recorded
    the outcome: the run that resumes the execution fails it with that failure's error, and
    invokes nothing."""
    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append(1)
        raise BadStr()

    journal = _OutcomeLost()
    with pytest.raises(JournalUnavailableError):
        run_durable(handler, None, journal=journal, execution_id="o")
    assert len(ran) == MAX_FAILED_INVOCATIONS
    run = run_durable(handler, None, journal=journal, execution_id="o")
    assert (run.status, run.error_object) == ("FAILED", STR_BROKE)
    assert len(ran) == MAX_FAILED_INVOCATIONS  # the resuming run invoked nothing
    assert type(run.error) is RuntimeError and str(run.error) == "str broke"
    history = journal.read_history("o")
    assert history[-1].event_type == "ExecutionFailed"
    assert history[-1].details == {"Error": _failures(history)[-1]}


@settings(max_examples=examples(40), derandomize=True, database=None, deadline=None)
@given(deaths=st.lists(st.integers(1, 8), max_size=4))
def test_an_execution_ends_after_five_failed_invocations_however_often_its_runs_die(
    deaths: list[int],
) -> None:
    """Runs die (an interrupt, or a crash in the handler) in the invocations `deaths` name
    (counted over the whole execution); each death is resumed by a new run. Whatever they are,
    the execution ends FAILED once five invocations in a row have failed (a death that wrote
    nothing cannot be told from no invocation, and does not count); a further run invokes
    nothing."""
    ran: list[int] = []
    dying = set(deaths)

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append(1)
        ctx.step(lambda _: None, name="once")
        if len(ran) in dying:
            raise KeyboardInterrupt if len(ran) % 2 else SimulatedCrash("dies")
        raise BadStr()

    journal = MemoryJournal()
    for _ in range(len(dying) + 1):
        try:
            run = run_durable(handler, None, journal=journal, execution_id="h")
            break
        except (KeyboardInterrupt, SimulatedCrash):
            continue
    assert (run.status, run.error_object) == ("FAILED", STR_BROKE)
    failures = _failures(journal.read_history("h"))  # no invocation of it is clean
    broke = [failure for failure in failures if failure["ErrorType"] != EXIT_ERROR]
    assert len(broke) == MAX_FAILED_INVOCATIONS and all(failures)
    assert len(failures) == len(ran)  # each invocation that began is recorded, once
    total = len(ran)
    again = run_durable(handler, None, journal=journal, execution_id="h")
    assert (again.status, len(ran)) == ("FAILED", total)


@pytest.mark.parametrize("death", ["interrupt", "crash"])
def test_an_invocation_stopped_before_its_first_write_is_recorded_once(death: str) -> None:
    """The first invocation fails; its retry replays (writing nothing) and is stopped, by an
    interrupt (the run releases its lease) or a crash (the lease lapses): either way the
    history records it, once, as a ``Runtime.ExitError`` that does not count, and five more
    failures end the execution. Formerly an interrupted retry left no trace: the run resuming
    the execution found no work after the last InvocationCompleted and a lease released."""
    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> None:
        ran.append(1)
        ctx.step(lambda _: None, name="once")
        if len(ran) == 2:
            raise KeyboardInterrupt if death == "interrupt" else SimulatedCrash("dies")
        raise BadStr()

    journal = MemoryJournal()
    with pytest.raises((KeyboardInterrupt, SimulatedCrash)):
        run_durable(handler, None, journal=journal, execution_id="s")
    run = run_durable(handler, None, journal=journal, execution_id="s")
    assert (run.status, run.error_object) == ("FAILED", STR_BROKE)
    kinds = [failure["ErrorType"] for failure in _failures(journal.read_history("s"))]
    assert kinds == ["RuntimeError", EXIT_ERROR] + ["RuntimeError"] * 4
    assert len(ran) == len(kinds) == MAX_FAILED_INVOCATIONS + 1


@settings(max_examples=examples(60), derandomize=True, database=None, deadline=None)
@given(
    fails=st.sets(st.integers(1, 12)),
    interrupts=st.sets(st.integers(1, 12), max_size=2),
    runs=st.lists(
        st.tuples(st.sampled_from([None, 1, 2, 3]), st.sampled_from([None, 0.0, 5_000.0])),
        min_size=1,
        max_size=30,
    ),
)
def test_every_invocation_that_ran_is_in_the_history_once(
    fails: set[int], interrupts: set[int], runs: list[tuple[int | None, float | None]]
) -> None:
    """A handler with two steps around a 10 s timer fails the invocations `fails` names and is
    interrupted in those `interrupts` names; runs resume it in turn, each crashing after its
    k-th checkpoint or not, parking its timers and retries (``park_after_ms``) or not. Whatever
    the mix, each invocation the handler began is recorded once, and the execution fails
    exactly at the fifth failure in a row (crashes and interrupts neither count nor reset)."""
    ran: list[int] = []

    def handler(event: Any, ctx: DurableContext) -> str:
        ran.append(1)
        invocation = len(ran)
        ctx.step(lambda _: None, name="a")
        ctx.wait(Duration.from_seconds(10), name="w")
        if invocation in interrupts:
            raise KeyboardInterrupt
        ctx.step(lambda _: None, name="b")
        if invocation in fails:
            raise BadStr()
        return "done"

    journal = MemoryJournal()
    run = None
    for crash, park in [*runs, *[(None, None)] * 20]:
        faults = NO_FAULTS if crash is None else FaultPlan(crash_after_checkpoint=crash)
        try:
            run = execute(
                handler,
                "null",
                journal=journal,
                execution_id="e",
                clock=VirtualClock(),
                sampler=Sampler(ZERO, 0),
                faults=faults,
                park_after_ms=park,
            )
        except (SimulatedCrash, KeyboardInterrupt):
            continue
        if run.status != "PENDING":
            break
    assert run is not None and run.status in ("SUCCEEDED", "FAILED")
    kinds = [failure.get("ErrorType") for failure in _failures(journal.read_history("e"))]
    assert len(kinds) == len(ran)
    in_a_row, fifth = 0, None
    for position, kind in enumerate(kinds):
        if kind is None:
            in_a_row = 0
        elif kind != EXIT_ERROR:
            in_a_row += 1
            if in_a_row == MAX_FAILED_INVOCATIONS:
                fifth = position
                break
    if fifth is None:
        assert (run.status, kinds[-1]) == ("SUCCEEDED", None)
    else:
        assert (run.status, run.error_object) == ("FAILED", STR_BROKE)
        assert fifth == len(kinds) - 1
