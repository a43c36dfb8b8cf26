"""Workers: submitted executions are claimed, run under their lease and finished; long waits are
parked and taken up at their time; a callback answer wakes its execution; a dead worker's
executions are recovered; the command line."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig
from psycopg import conninfo

from durable_sim import MemoryJournal, send_callback_success
from durable_sim.cli import main
from durable_sim.durable import HistoryEntry, SqliteJournal
from durable_sim.durable.errors import JournalCorruptError, JournalUnavailableError
from durable_sim.durable.worker import (
    JOURNAL_RETRY,
    JournalRetry,
    WorkerStats,
    load_functions,
    open_when_reachable,
    retry_pauses_s,
    run_worker,
    submit,
    wait_for_outcome,
)
from durable_sim.pgcluster import PostgresCluster
from tests.durable.conftest import JournalBackend
from tests.durable.worker_functions import FUNCTIONS

HERE = Path(__file__).parent


def _bodies(side: Path) -> list[list[str]]:
    return [line.split() for line in side.read_text().splitlines()] if side.exists() else []


def _workers(backend: JournalBackend, count: int, **options: Any) -> list[threading.Thread]:
    threads = [
        threading.Thread(
            target=run_worker,
            args=(backend.open(), FUNCTIONS),
            kwargs={"poll_s": 0.02, **options},
        )
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def test_workers_run_every_submitted_execution_once(
    backend: JournalBackend, tmp_path: Path
) -> None:
    side = tmp_path / "side"
    journal = backend.open()
    ids = [
        submit(journal, "steps", {"n": 3, "side": str(side), "id": f"e{i}"}, execution_id=f"e{i}")
        for i in range(8)
    ]
    workers = _workers(backend, 2, idle_exit_s=0.5)
    outcomes = [wait_for_outcome(journal, i, timeout_s=30) for i in ids]
    for thread in workers:
        thread.join()
    assert [(o.status, o.result) for o in outcomes] == [("SUCCEEDED", "3")] * 8
    ends = [(e, s) for e, s, _, _, phase, *_ in _bodies(side) if phase == "end"]
    assert sorted(ends) == sorted((f"e{i}", f"s{j}") for i in range(8) for j in range(3))


def test_submitting_again_is_idempotent_and_checks_the_input(backend: JournalBackend) -> None:
    journal = backend.open()
    assert submit(journal, "steps", {"n": 1}, execution_id="x") == "x"
    assert submit(journal, "steps", {"n": 1}, execution_id="x") == "x"
    with pytest.raises(ValueError, match="exists already"):
        submit(journal, "steps", {"n": 2}, execution_id="x")
    with pytest.raises(ValueError, match="bad function_name ''"):
        submit(journal, "", {"n": 1})
    assert submit(journal, "steps", {"n": 1}).startswith("execution-")


def test_a_long_wait_is_parked_and_taken_up_at_its_time(
    backend: JournalBackend, tmp_path: Path
) -> None:
    side = tmp_path / "side"
    journal = backend.open()
    submit(journal, "waits", {"wait_s": 1, "side": str(side), "id": "w"}, execution_id="w")
    first = run_worker(backend.open(), FUNCTIONS, poll_s=0.02, park_after_ms=100, max_runs=1)
    assert (first.claimed, first.pending) == (1, 1)  # parked, not slept through
    record = journal.get_execution("w")
    assert record is not None and record.status == "RUNNING"
    start = time.monotonic()
    second = run_worker(backend.open(), FUNCTIONS, poll_s=0.02, park_after_ms=100, max_runs=1)
    assert second.succeeded == 1 and 0.5 < time.monotonic() - start < 5  # at its time
    assert wait_for_outcome(journal, "w", timeout_s=1).result == '"woke"'


def test_a_callback_answer_wakes_its_execution(backend: JournalBackend, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    journal = backend.open()
    submit(journal, "asks", {"inbox": str(inbox)}, execution_id="q")
    stats = run_worker(backend.open(), FUNCTIONS, poll_s=0.02, max_runs=1)
    assert stats.pending == 1
    idle = run_worker(backend.open(), FUNCTIONS, poll_s=0.02, idle_exit_s=0.2)
    assert idle.claimed == 0  # nothing to do until the outside world answers
    send_callback_success(journal, inbox.read_text(), "yes")
    done = run_worker(backend.open(), FUNCTIONS, poll_s=0.02, max_runs=1)
    assert done.succeeded == 1
    assert wait_for_outcome(journal, "q", timeout_s=1).result == '"answered yes"'


def test_a_dead_workers_execution_is_recovered(backend: JournalBackend, tmp_path: Path) -> None:
    side = tmp_path / "side"
    journal = backend.open()
    submit(journal, "steps", {"n": 2, "side": str(side), "id": "d"}, execution_id="d")
    assert journal.claim("dead-worker", 0.3, ["steps"]) is not None  # then it died
    stats = run_worker(backend.open(), FUNCTIONS, poll_s=0.05, max_runs=1)
    assert stats.succeeded == 1
    assert wait_for_outcome(journal, "d", timeout_s=1).status == "SUCCEEDED"


def test_a_worker_needs_functions() -> None:
    with pytest.raises(ValueError, match="at least one registered function"):
        run_worker(SqliteJournal.__new__(SqliteJournal), {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-colon", "bad functions 'no-colon'"),
        ("no_such_module_xyz:F", "No module named 'no_such_module_xyz'"),
        ("tests/durable/worker_functions.py:MISSING", "MISSING is NoneType"),
    ],
)
def test_a_bad_function_registry_is_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_functions(spec)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('REG = {"job": 5}\n', "function 'job' is not a handler: 5"),
        ('raise RuntimeError("boom at import")\n', "importing it raised RuntimeError: boom"),
    ],
)
def test_a_registry_a_worker_cannot_run_is_refused_before_any_execution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, message: str
) -> None:
    """A worker would otherwise claim executions and record FAILED outcomes that no fix of the
    registry can undo (a terminal record is never replaced)."""
    module = tmp_path / "reg.py"
    module.write_text(source)
    journal = tmp_path / "w.sqlite"
    with SqliteJournal(journal) as j:
        submit(j, "job", {}, execution_id="j1")
    code = main(["worker", "--journal", str(journal), "--functions", f"{module}:REG"])
    assert code == 2 and message in capsys.readouterr().err
    with SqliteJournal(journal) as j:
        record = j.get_execution("j1")
        assert record is not None and record.status == "RUNNING"


def test_the_worker_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    side = tmp_path / "side"
    with SqliteJournal(path) as journal:
        submit(journal, "steps", {"n": 2, "side": str(side), "id": "c"}, execution_id="c")
    functions = f"{HERE / 'worker_functions.py'}:FUNCTIONS"
    code = main(
        ["worker", "--journal", str(path), "--functions", functions, "--idle-exit-s", "0.3"]
    )
    assert code == 0
    assert "worker: 1 runs: 1 succeeded" in capsys.readouterr().err
    with SqliteJournal(path) as journal:
        assert wait_for_outcome(journal, "c", timeout_s=1).result == "1"
    assert main(["worker", "--journal", str(path), "--functions", "nope"]) == 2
    assert "bad functions 'nope'" in capsys.readouterr().err
    assert main(["worker", "--journal", str(tmp_path), "--functions", functions]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("event", [float("nan"), {"x": float("inf")}, object()])
def test_an_event_that_is_no_json_value_is_refused_at_submit(tmp_path: Path, event: Any) -> None:
    with SqliteJournal(tmp_path / "w.sqlite") as journal:
        with pytest.raises(ValueError, match=r"bad event .*\(accepted: a JSON value\)"):
            submit(journal, "job", event, execution_id="j1")
        assert journal.get_execution("j1") is None


# -- a journal out of reach ------------------------------------------------------------------

#: Two attempts, one whole-second pause between them (the SDK's delays are whole seconds).
SHORT_RETRY = RetryStrategyConfig(
    max_attempts=2,
    initial_delay=Duration.from_seconds(1),
    jitter_strategy=JitterStrategy.NONE,
    retryable_error_types=[JournalUnavailableError],
)


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_journal_retry_is_the_sdks_formula() -> None:
    """min(1 s * 2**(n - 1), 30 s) after the n-th failure, 9 attempts: 121 s of pauses, which
    covers an RDS Multi-AZ failover's typical 60-120 s."""
    assert retry_pauses_s(JOURNAL_RETRY) == [1, 2, 4, 8, 16, 30, 30, 30]
    assert retry_pauses_s(SHORT_RETRY) == [1]


def test_opening_an_unreachable_journal_gives_up_after_its_retries() -> None:
    """Formerly retried forever."""
    dsn = f"postgresql://u:secret@127.0.0.1:{_closed_port()}/db"
    lines: list[str] = []
    with pytest.raises(JournalUnavailableError) as caught:
        open_when_reachable(dsn, log=lines.append, retry=SHORT_RETRY)
    message = str(caught.value)
    assert "password=***" in message and "secret" not in message
    assert "gave up after 2 attempts" in message
    assert len(lines) == 1 and "retrying in 1.00 s" in lines[0]


class _Unreachable(MemoryJournal):
    """A journal whose claims fail as `error` says."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.claims = 0

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.claims += 1
        raise self.error


def _worker_error(journal: MemoryJournal, **options: Any) -> BaseException | None:
    """What `run_worker` raised within 60 s (it is stopped then, if still running: formerly it
    retried an unreachable journal forever)."""
    stop = threading.Event()
    raised: list[BaseException] = []

    def work() -> None:
        try:
            run_worker(journal, FUNCTIONS, stop=stop, **options)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    stop.set()
    thread.join()
    return raised[0] if raised else None


def test_a_worker_whose_journal_goes_away_gives_up_after_its_retries() -> None:
    journal = _Unreachable(JournalUnavailableError("cannot claim from the journal at 'x'"))
    error = _worker_error(journal, retry=SHORT_RETRY)
    assert isinstance(error, JournalUnavailableError)
    assert "gave up after 2 attempts" in str(error) and journal.claims == 2


class _SlowUnreachable(_Unreachable):
    """Claims that fail only after `seconds`, as a connect timeout does."""

    def __init__(self, error: Exception, seconds: float) -> None:
        super().__init__(error)
        self.seconds = seconds

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.seconds)
        return super().claim(*args, **kwargs)


def test_the_time_spent_counts_from_the_first_failed_attempts_start() -> None:
    """Formerly counted from the first failure's end: one 10 s connect timeout read "over 0.0 s"."""
    journal = _SlowUnreachable(JournalUnavailableError("no answer from 'x'"), seconds=0.6)
    error = _worker_error(journal, retry=SHORT_RETRY)
    assert isinstance(error, JournalUnavailableError) and journal.claims == 2
    spent = float(re.search(r"over ([0-9.]+) s\)", str(error)).group(1))  # type: ignore[union-attr]
    assert spent >= 2.1  # two 0.6 s attempts and the 1 s pause between them


def test_idle_exit_bounds_the_wait_for_an_unreachable_journal() -> None:
    """Formerly --idle-exit-s was ignored while the journal could not be reached; alone,
    `JOURNAL_RETRY` would wait 121 s."""
    journal = _Unreachable(JournalUnavailableError("cannot claim from the journal at 'x'"))
    error = _worker_error(journal, idle_exit_s=0.2)
    assert isinstance(error, JournalUnavailableError) and "gave up after" in str(error)


def test_a_corrupt_journal_is_not_retried() -> None:
    journal = _Unreachable(JournalCorruptError("bad record"))
    error = _worker_error(journal)
    assert isinstance(error, JournalCorruptError) and journal.claims == 1


def _worker_command(dsn: str) -> subprocess.CompletedProcess[str]:
    """``durable-sim worker`` on `dsn` with ``--idle-exit-s 0.5`` (a process: formerly it never
    stopped, which the timeout turns into a failure)."""
    functions = f"{HERE / 'worker_functions.py'}:FUNCTIONS"
    options = ["--functions", functions, "--idle-exit-s", "0.5", "--quiet"]
    return subprocess.run(
        [sys.executable, "-m", "durable_sim.cli", "worker", "--journal", dsn, *options],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_worker_command_exits_2_naming_an_unreachable_server() -> None:
    done = _worker_command(f"postgresql://u:secret@127.0.0.1:{_closed_port()}/db")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "durable-sim: journal out of reach: cannot connect to the journal at "
    )
    assert "password=***" in done.stderr and "secret" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_the_worker_command_exits_2_for_a_database_that_does_not_exist(
    postgres_cluster: PostgresCluster,
) -> None:
    done = _worker_command(
        conninfo.make_conninfo(postgres_cluster.dsn, dbname="no_such_db", password="secret")
    )
    assert done.returncode == 2
    assert 'database "no_such_db" does not exist' in done.stderr
    assert "password=***" in done.stderr and "secret" not in done.stderr
    assert done.stderr.count("\n") == 1


# -- deterministic: the retry count, submit, waiting for an outcome, the worker loop -------------


class _Clock:
    """A stand-in for the worker module's `time`: `monotonic` is virtual, `sleep` advances it."""

    def __init__(self) -> None:
        self.now = 50.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    from durable_sim.durable import worker

    fake = _Clock()
    monkeypatch.setattr(worker, "time", fake)
    return fake


THREE_ATTEMPTS = RetryStrategyConfig(
    max_attempts=3,
    initial_delay=Duration.from_seconds(2),
    backoff_rate=3.0,
    jitter_strategy=JitterStrategy.NONE,
    retryable_error_types=[JournalUnavailableError],
)


def test_retries_are_paced_by_the_sdk_and_counted_from_the_first_attempts_start(
    clock: _Clock,
) -> None:
    retry = JournalRetry(THREE_ATTEMPTS)
    down = JournalUnavailableError("server x is down")
    clock.now = 60.0
    retry.attempting()
    clock.now = 61.5  # the attempt took 1.5 s to fail
    assert retry.pause_after(down) == 2.0
    clock.now = 64.0
    retry.attempting()
    assert retry.pause_after(down) == 6.0
    clock.now = 70.0
    retry.attempting()
    clock.now = 72.25
    with pytest.raises(JournalUnavailableError) as info:
        retry.pause_after(down)
    assert str(info.value) == "server x is down (gave up after 3 attempts over 12.2 s)"
    assert info.value.__cause__ is down and retry.failures == 3


def test_a_success_starts_a_new_count(clock: _Clock) -> None:
    retry = JournalRetry(THREE_ATTEMPTS)
    down = JournalUnavailableError("down")
    retry.attempting()
    retry.pause_after(down)
    retry.pause_after(down)
    retry.succeeded()
    assert retry.failures == 0
    clock.now = 90.0
    retry.attempting()
    assert retry.pause_after(down) == 2.0  # the first pause again
    retry.pause_after(down)
    clock.now = 91.0
    with pytest.raises(JournalUnavailableError, match=r"after 3 attempts over 1\.0 s\)$"):
        retry.pause_after(down)


def test_a_single_attempt_is_named_in_the_singular(clock: _Clock) -> None:
    once = RetryStrategyConfig(max_attempts=1, retryable_error_types=[JournalUnavailableError])
    with pytest.raises(JournalUnavailableError, match=r"^down \(gave up after 1 attempt over"):
        JournalRetry(once).pause_after(JournalUnavailableError("down"))


def test_an_error_that_is_not_retried_is_raised_as_it_is(clock: _Clock) -> None:
    corrupt = JournalCorruptError("bad page")
    with pytest.raises(JournalCorruptError) as info:
        JournalRetry(THREE_ATTEMPTS).pause_after(corrupt)
    assert info.value is corrupt


def test_a_deadline_shortens_the_last_pause_and_then_ends_the_retries(clock: _Clock) -> None:
    retry = JournalRetry(THREE_ATTEMPTS, deadline=51.5)
    down = JournalUnavailableError("down")
    assert retry.pause_after(down) == 1.5  # 2 s, cut at the deadline
    clock.now = 51.5
    with pytest.raises(JournalUnavailableError, match=r"gave up after 2 attempts over 1\.5 s"):
        retry.pause_after(down)


@pytest.mark.parametrize("name", ["", None, 5])
def test_a_bad_function_name_is_refused_at_submit(name: Any) -> None:
    with pytest.raises(ValueError) as info:
        submit(MemoryJournal(), name, {})
    assert str(info.value) == f"bad function_name {name!r} (accepted: a non-empty string)"


def test_submit_queues_the_event_under_a_new_id() -> None:
    journal = MemoryJournal()
    first = submit(journal, "job", {"a": [1, 2]})
    second = submit(journal, "job")
    assert re.fullmatch(r"execution-[0-9a-f]{12}", first) and first != second
    record = journal.get_execution(first)
    assert record is not None
    assert (record.input, record.function_name, record.status) == (
        '{"a": [1, 2]}',
        "job",
        "RUNNING",
    )
    assert journal.get_execution(second).input == "null"  # type: ignore[union-attr]
    (started,) = journal.read_history(first)
    assert (started.event_type, started.operation, started.details) == (
        "ExecutionStarted",
        None,
        {"Input": '{"a": [1, 2]}'},
    )
    assert journal.claim("w", 30.0, ["job"]) is not None  # ready for a worker at once


def test_submitting_an_id_again_with_another_function_is_refused() -> None:
    journal = MemoryJournal()
    submit(journal, "job", {"x": 1}, execution_id="e")
    with pytest.raises(ValueError) as info:
        submit(journal, "other", {"x": 1}, execution_id="e")
    assert str(info.value) == (
        "execution 'e' exists already with function 'job' and input '{\"x\": 1}'; "
        "use a new execution id"
    )
    assert submit(journal, "job", {"x": 1}, execution_id="e") == "e"


class _Flaky(MemoryJournal):
    """A journal whose first `fail` reads raise `JournalUnavailableError`."""

    def __init__(self, fail: int) -> None:
        super().__init__()
        self.fail = fail

    def get_execution(self, execution_id: str) -> Any:
        if self.fail > 0:
            self.fail -= 1
            raise JournalUnavailableError("restarting")
        return super().get_execution(execution_id)


_STARTED_ENTRY = HistoryEntry("ExecutionStarted", 0.0, None, {})


def test_waiting_for_an_outcome_polls_through_journal_errors(clock: _Clock) -> None:
    journal = _Flaky(fail=2)
    lease = journal.open_execution("e", "{}", _STARTED_ENTRY, owner="o").lease
    journal.finish_execution("e", "SUCCEEDED", '"r"', None, _STARTED_ENTRY, lease)
    record = wait_for_outcome(journal, "e", timeout_s=10.0, poll_s=0.25)
    assert (record.status, record.result) == ("SUCCEEDED", '"r"')
    assert clock.slept == [0.25, 0.25]


def test_waiting_for_an_outcome_gives_up_at_its_timeout(clock: _Clock) -> None:
    journal = MemoryJournal()
    journal.open_execution("e", "{}", _STARTED_ENTRY)
    with pytest.raises(TimeoutError) as info:
        wait_for_outcome(journal, "e", timeout_s=1.0, poll_s=0.25)
    assert str(info.value) == "execution 'e' has no outcome after 1.0 s"
    assert clock.slept == [0.25] * 4  # polled at 0, 0.25, 0.5, 0.75 and 1.0 s
    with pytest.raises(KeyError, match="no execution 'zz' in the journal"):
        wait_for_outcome(journal, "zz", timeout_s=1.0)


@pytest.mark.parametrize("option", ["poll_s", "park_after_ms", "idle_exit_s"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "True"),
        (-0.5, "-0.5"),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
        ("1", "'1'"),
        (np.float64(-1), "-1.0"),
        (-(10**400), "-1.000e+400"),
    ],
)
def test_a_bad_worker_number_is_named_with_its_range(option: str, value: Any, shown: str) -> None:
    unit = "ms" if option.endswith("_ms") else "seconds"
    with pytest.raises(ValueError) as info:
        run_worker(MemoryJournal(), FUNCTIONS, **{option: value})
    assert str(info.value) == f"bad {option}={shown} (accepted: a finite number of {unit} >= 0)"


def test_a_lease_shorter_than_a_renewal_round_trip_is_refused_by_the_worker() -> None:
    with pytest.raises(ValueError, match=r"bad lease duration_s=1e-09 \(accepted: a number "):
        run_worker(MemoryJournal(), FUNCTIONS, lease_s=1e-9)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout_s": -1}, "bad timeout_s=-1 (accepted: a finite number of seconds >= 0)"),
        ({"timeout_s": 1, "poll_s": 0}, "bad poll_s=0 (accepted: a finite number of seconds > 0)"),
    ],
)
def test_a_bad_wait_for_outcome_duration_is_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        wait_for_outcome(MemoryJournal(), "e", **options)
    assert str(info.value) == message


def test_a_worker_takes_numpy_durations() -> None:
    numbers = {"poll_s": np.int64(0), "park_after_ms": np.float32(0), "idle_exit_s": -0.0}
    stats = run_worker(MemoryJournal(), FUNCTIONS, **numbers)
    assert stats == WorkerStats()


def test_zero_is_a_valid_worker_number() -> None:
    stats = run_worker(MemoryJournal(), FUNCTIONS, poll_s=0, park_after_ms=0, idle_exit_s=0)
    assert stats == WorkerStats()


def _job(event: Any, ctx: Any) -> Any:
    if event == "fail":
        raise RuntimeError("asked to fail")
    if event == "wait":
        ctx.wait(Duration.from_seconds(3600))
    return event


def test_a_worker_counts_how_its_runs_end_and_logs_each() -> None:
    journal = MemoryJournal()
    for event in ("ok", "fail", "wait"):
        submit(journal, "job", event, execution_id=f"e-{event}")
    submit(journal, "elsewhere", "ok", execution_id="e-other")  # a function it does not have
    lines: list[str] = []
    stats = run_worker(journal, {"job": _job}, idle_exit_s=0, log=lines.append, poll_s=0)
    assert stats == WorkerStats(claimed=3, succeeded=1, failed=1, pending=1, journal_errors=0)
    assert lines == ["e-ok: SUCCEEDED", "e-fail: FAILED", "e-wait: PENDING"]  # oldest first
    assert journal.get_execution("e-other").status == "RUNNING"  # type: ignore[union-attr]


def test_a_worker_stops_after_max_runs_or_when_told() -> None:
    journal = MemoryJournal()
    for event in ("a", "b", "c"):
        submit(journal, "job", event, execution_id=event)
    assert run_worker(journal, {"job": _job}, max_runs=2, poll_s=0).claimed == 2
    assert run_worker(journal, {"job": _job}, max_runs=0, poll_s=0).claimed == 0
    stop = threading.Event()
    stop.set()
    assert run_worker(journal, {"job": _job}, stop=stop, poll_s=0).claimed == 0
    assert journal.get_execution("c").status == "RUNNING"  # type: ignore[union-attr]


class _FailsMidRun(MemoryJournal):
    """A journal whose appends fail: claims are answered, every run stops at its first write."""

    def append(self, *args: Any, **kwargs: Any) -> None:
        raise JournalUnavailableError("lost the connection")


def test_runs_stopped_by_the_journal_do_not_end_a_worker_as_if_it_had_worked(
    clock: _Clock,
) -> None:
    """Formerly ``--max-runs 1`` counted the stopped run and the worker returned as if done
    ("0 pending; 1 journal errors", exit 0). A stopped run does not count: the claim and the
    run are one failed attempt, and a journal whose writes keep failing is out of reach."""
    journal = _FailsMidRun()
    submit(journal, "job", "ok", execution_id="e")
    lines: list[str] = []
    with pytest.raises(JournalUnavailableError, match=r"gave up after 2 attempts"):
        run_worker(journal, {"job": _job}, max_runs=1, log=lines.append, retry=SHORT_RETRY)
    assert lines == [
        "e: stopped by the journal (lost the connection)",
        "journal unavailable (lost the connection); retrying in 1.00 s",
    ]
    assert journal.get_execution("e").status == "RUNNING"  # type: ignore[union-attr]
    # Still leased to the worker, which would record the stop first; another owner may take
    # it once the lease expires.
    assert journal.claim("w2", 30.0, ["job"]) is None


class _Outage(MemoryJournal):
    """A journal that goes away at its first append after `MemoryJournal.open_execution`s
    (a step's checkpoint) and stays away until `restore`; claims and appends fail meanwhile
    (`lasting`: releases too, so the stopped invocation cannot be recorded at once)."""

    def __init__(self, *, lasting: bool) -> None:
        super().__init__()
        self.lasting = lasting
        self.down = False
        self.armed = False

    def restore(self) -> None:
        self.down = False

    def _check(self, *, outage_starts: bool = False) -> None:
        if outage_starts and self.armed:
            self.armed, self.down = False, True
        if self.down:
            raise JournalUnavailableError("lost the connection")

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return super().claim(*args, **kwargs)

    def append(self, execution_id: str, entries: Any, lease: Any = None) -> None:
        steps = any(e.operation is not None for e in entries)
        self._check(outage_starts=steps)
        super().append(execution_id, entries, lease)

    def release(self, *args: Any, **kwargs: Any) -> None:
        if self.lasting:
            self._check()
        super().release(*args, **kwargs)


def _two_steps(event: Any, ctx: Any) -> int:
    return ctx.step(lambda _: 1, name="a") + ctx.step(lambda _: 2, name="b")


def _invocation_errors(journal: MemoryJournal, execution_id: str) -> list[Any]:
    return [
        e.details.get("Error")
        for e in journal.read_history(execution_id)
        if e.event_type == "InvocationCompleted"
    ]


@pytest.mark.parametrize("lasting", [False, True], ids=["blip", "outlasting the run"])
def test_an_invocation_stopped_by_an_outage_is_recorded_as_such_and_taken_up_again(
    clock: _Clock, lasting: bool
) -> None:
    """Formerly the stopped invocation was recorded, on resumption, as a crash
    (``Runtime.ExitError``), and a lease given up after a blip left the execution out of the
    queue for good. The process it stopped records the invocation's end with the outage as its
    error (at once, or before its next claim once the journal answers again), gives the lease
    up ready at once, and takes the execution up again."""
    journal = _Outage(lasting=lasting)
    submit(journal, "job", None, execution_id="e")
    journal.armed = True
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:  # the outage ends during the worker's first pause
        journal.restore()
        real_sleep(seconds)

    clock.sleep = sleep  # type: ignore[method-assign]
    lines: list[str] = []
    stats = run_worker(journal, {"job": _two_steps}, max_runs=1, idle_exit_s=5.0, log=lines.append)
    assert (stats.claimed, stats.succeeded, stats.stopped, stats.out_of_reach) == (2, 1, 1, None)
    assert lines == [
        "e: stopped by the journal (lost the connection)",
        "journal unavailable (lost the connection); retrying in 1.00 s",
        "e: SUCCEEDED",
    ]
    record = journal.get_execution("e")
    assert record is not None and (record.status, record.result) == ("SUCCEEDED", "3")
    stopped, *rest = _invocation_errors(journal, "e")
    assert stopped == {
        "ErrorType": "JournalUnavailableError",
        "ErrorMessage": "the invocation was stopped by the journal: lost the connection",
    }
    assert rest == [None]  # the next invocation completed; no crash was recorded


def test_a_worker_told_to_stop_during_an_outage_reports_the_journal_out_of_reach() -> None:
    """Formerly it returned as a worker that had simply stopped."""
    journal = _Unreachable(JournalUnavailableError("cannot claim from the journal at 'x'"))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()  # during the first 1 s pause
    stats = run_worker(journal, FUNCTIONS, stop=stop)
    assert journal.claims == 1
    assert str(stats.out_of_reach) == "cannot claim from the journal at 'x'"


def test_the_worker_command_exits_2_when_its_runs_are_stopped_by_the_journal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Formerly ``--max-runs 1`` during an outage printed "0 pending; 1 journal errors" and
    exited 0."""
    from durable_sim.durable import worker

    journal = _FailsMidRun()
    submit(journal, "steps", {"n": 1, "side": "/dev/null", "id": "e"}, execution_id="e")
    monkeypatch.setattr(worker, "open_when_reachable", lambda *a, **k: journal)
    functions = f"{HERE / 'worker_functions.py'}:FUNCTIONS"
    argv = ["worker", "--journal", "x.db", "--functions", functions, "--max-runs", "1"]
    assert main([*argv, "--idle-exit-s", "0"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "e: stopped by the journal (lost the connection)",
        "durable-sim: journal out of reach: lost the connection (gave up after 1 attempt over "
        + lines[-1].rpartition("over ")[2],
    ]


def test_the_worker_command_exits_2_when_stopped_during_an_outage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from durable_sim.durable import worker

    down = JournalUnavailableError("cannot claim from the journal at 'x'")
    monkeypatch.setattr(worker, "open_when_reachable", lambda *a, **k: MemoryJournal())
    monkeypatch.setattr(
        worker, "run_worker", lambda *a, **k: WorkerStats(journal_errors=3, out_of_reach=down)
    )
    functions = f"{HERE / 'worker_functions.py'}:FUNCTIONS"
    assert main(["worker", "--journal", "x.db", "--functions", functions]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "worker: 0 runs: 0 succeeded, 0 failed, 0 pending, 0 stopped by the journal; "
        "3 journal errors",
        "durable-sim: journal out of reach: cannot claim from the journal at 'x'",
    ]


_ACCEPTED = (
    "accepted: 'package.module:NAME' or 'path/to/file.py:NAME', NAME a FunctionRegistry "
    "or a mapping of names to durable handlers"
)


@pytest.mark.parametrize("spec", ["no-colon", ":NAME", "module:", ""])
def test_a_functions_spec_without_module_and_name_is_named(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        load_functions(spec)
    assert str(info.value) == f"bad functions {spec!r} ({_ACCEPTED})"


def test_functions_load_from_a_module_or_a_file(tmp_path: Path) -> None:
    assert load_functions("tests.durable.worker_functions:FUNCTIONS") is FUNCTIONS
    module = tmp_path / "my_jobs.py"
    module.write_text("def job(event, ctx):\n    return event\n\nJOBS = {'job': job}\n")
    registry = load_functions(f"{module}:JOBS")
    assert sorted(registry) == ["job"]
    assert sys.modules["durable_sim_functions_my_jobs"].JOBS["job"] is registry["job"]


def test_a_functions_file_that_cannot_be_loaded_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.py"
    with pytest.raises(ValueError) as info:
        load_functions(f"{missing}:JOBS")
    message = str(info.value)
    assert message.startswith(f"bad functions '{missing}:JOBS': importing it raised ")
    assert message.endswith(f" ({_ACCEPTED})")
    multi = tmp_path / "multi.py"
    multi.write_text("raise ValueError('one\\n   two')\n")
    with pytest.raises(ValueError) as info:
        load_functions(f"{multi}:JOBS")
    assert "importing it raised ValueError: one two (" in str(info.value)  # one line


def test_a_mapping_that_is_no_registry_is_named(tmp_path: Path) -> None:
    module = tmp_path / "bad_jobs.py"
    module.write_text("JOBS = {'': lambda event, ctx: event}\nN = 3\n")
    with pytest.raises(ValueError, match=rf"^bad functions '{re.escape(str(module))}:JOBS': "):
        load_functions(f"{module}:JOBS")
    with pytest.raises(ValueError) as info:
        load_functions(f"{module}:N")
    assert str(info.value) == f"bad functions '{module}:N': N is int ({_ACCEPTED})"


def test_waiting_for_an_outcome_polls_every_50_ms_by_default(clock: _Clock) -> None:
    journal = MemoryJournal()
    journal.open_execution("e", "{}", _STARTED_ENTRY)
    with pytest.raises(TimeoutError):
        wait_for_outcome(journal, "e", timeout_s=0.125)
    assert clock.slept == [0.05, 0.05, 0.05]


class _DownOnce(MemoryJournal):
    """A journal whose first claim fails as a restarting server's would."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.claims += 1
        if self.claims == 1:
            raise JournalUnavailableError("server restarting")
        return super().claim(*args, **kwargs)


def test_a_worker_retries_its_journal_and_then_idles_out(clock: _Clock) -> None:
    journal = _DownOnce()
    lines: list[str] = []
    stats = run_worker(journal, {"job": _job}, idle_exit_s=5.0, poll_s=0.5, log=lines.append)
    assert lines == ["journal unavailable (server restarting); retrying in 1.00 s"]
    assert stats == WorkerStats(journal_errors=1)
    # 1 s of retry pause, then empty claims every 0.5 s until 5 s without work had passed
    assert clock.slept == [1.0] + [0.5] * 8 and journal.claims == 10


def test_an_idle_worker_leaves_once_idle_exit_s_has_passed(clock: _Clock) -> None:
    journal = MemoryJournal()
    stats = run_worker(journal, {"job": _job}, idle_exit_s=1.0, poll_s=0.25)
    assert stats == WorkerStats() and clock.slept == [0.25] * 4


def test_opening_a_journal_stops_retrying_when_told(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable_sim.durable import worker

    attempts: list[str] = []
    stop = threading.Event()

    def unreachable(where: str, **_: Any) -> Any:
        attempts.append(where)
        if len(attempts) == 2:
            stop.set()  # e.g. SIGTERM during the second attempt
        raise JournalUnavailableError(f"cannot reach {where}")

    monkeypatch.setattr(worker, "open_journal", unreachable)
    lines: list[str] = []
    assert open_when_reachable("db", stop=stop, log=lines.append, retry=THREE_ATTEMPTS) is None
    assert attempts == ["db", "db"]
    assert lines == [
        "journal unavailable (cannot reach db); retrying in 2.00 s",
        "journal unavailable (cannot reach db); retrying in 6.00 s",
    ]
    with pytest.raises(JournalUnavailableError, match=r"gave up after 1 attempt over"):
        open_when_reachable("db", retry=THREE_ATTEMPTS, idle_exit_s=0)


def test_opening_a_reachable_journal_returns_it(clock: _Clock, tmp_path: Path) -> None:
    journal = open_when_reachable(str(tmp_path / "j.sqlite"))
    assert isinstance(journal, SqliteJournal)
    journal.close()
    assert isinstance(open_when_reachable("memory"), MemoryJournal)


def test_every_retry_line_is_one_line() -> None:
    """Formerly libpq's multi-line messages reached the log with their newlines."""
    error = JournalUnavailableError(
        "cannot claim from the journal at 'x': connection to server at \"127.0.0.1\", port 1 "
        "failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP "
        "connections?\n"
    )
    lines: list[str] = []
    _worker_error(_Unreachable(error), retry=SHORT_RETRY, log=lines.append)
    assert lines and all("\n" not in line and "\t" not in line for line in lines)
    assert "failed: Connection refused Is the server running" in lines[0]


#: The libpq application name the workers of these tests connect with (``PGAPPNAME``).
WORKER_APP = "durable-sim-test-worker"


def _start_worker(dsn: str, *options: str) -> subprocess.Popen[str]:
    functions = f"{HERE / 'worker_functions.py'}:FUNCTIONS"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_sim.cli",
            "worker",
            "--journal",
            dsn,
            "--functions",
            functions,
            "--poll-s",
            "0.05",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PGAPPNAME": WORKER_APP},
    )


def _wait_connected(cluster: PostgresCluster) -> None:
    """Until the worker is connected (by its application name: a backend of an earlier test
    may still be on its way out)."""
    import psycopg

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with psycopg.connect(cluster.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (WORKER_APP,),
            ).fetchone()
        if row is not None and row[0] >= 1:
            time.sleep(0.3)  # the worker is past its schema set-up, in its claim loop
            return
        time.sleep(0.1)
    raise AssertionError("the worker never connected")


@pytest.mark.slow
def test_a_worker_whose_server_stops_answering_exits_2_within_its_budget(
    scratch_cluster: PostgresCluster,
) -> None:
    """Formerly a worker blocked inside libpq while its server was stopped (SIGSTOP), deaf to
    --idle-exit-s and SIGTERM. Now the claim in flight fails after --timeout-s, the retry's
    connect attempt is cut at the --idle-exit-s deadline, and the worker exits 2 with one
    retry line and one verdict line."""
    from tests.test_pgconn import stopped

    worker = _start_worker(scratch_cluster.dsn, "--idle-exit-s", "4", "--timeout-s", "1")
    try:
        _wait_connected(scratch_cluster)
        with stopped(scratch_cluster):
            started = time.monotonic()
            _, stderr = worker.communicate(timeout=60)
            took = time.monotonic() - started
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 2, stderr
    assert took < 30  # formerly it waited for SIGCONT
    retry, final = stderr.splitlines()  # one line each: the retry, then the verdict
    assert "no answer from the server within query_timeout_s=1 s" in retry
    assert final.startswith("durable-sim: journal out of reach: cannot connect to the journal")
    assert "(gave up after 2 attempts over" in final


@pytest.mark.slow
def test_an_idle_workers_wait_for_a_stopped_server_ends_at_its_idle_exit(
    scratch_cluster: PostgresCluster,
) -> None:
    """Formerly the claim in flight waited its whole --timeout-s (here 60 s), and the retry's
    connect attempt as long again, past the --idle-exit-s deadline: from the freeze to the exit
    took about 2 x --timeout-s + 1 s. Now the wait ends at the idle deadline."""
    from tests.test_pgconn import stopped

    worker = _start_worker(scratch_cluster.dsn, "--idle-exit-s", "12", "--timeout-s", "60")
    try:
        _wait_connected(scratch_cluster)
        with stopped(scratch_cluster):
            started = time.monotonic()
            _, stderr = worker.communicate(timeout=180)
            took = time.monotonic() - started
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 2, stderr
    assert took < 45, stderr  # at most 12 s after its start; formerly 60 s and more
    (final,) = stderr.splitlines()
    assert final.startswith("durable-sim: journal out of reach: cannot write the journal at")
    assert "interrupted (its caller's deadline passed)" in final
    assert "(gave up after 1 attempt over" in final


def _has_socket(pid: int) -> bool:
    """Whether process `pid` has a socket open (a worker trying to connect)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd).startswith("socket:") for fd in fds.iterdir())
    except OSError:  # a descriptor closed while listed
        return False


@pytest.mark.slow
def test_sigterm_stops_a_worker_connecting_to_a_stopped_server_at_once(
    scratch_cluster: PostgresCluster,
) -> None:
    """Formerly SIGTERM during a connect attempt waited out the attempt's connect timeout (here
    60 s): the handshake is now cut as a query's wait is."""
    from tests.test_pgconn import stopped

    with stopped(scratch_cluster):
        worker = _start_worker(scratch_cluster.dsn, "--timeout-s", "60")
        try:
            deadline = time.monotonic() + 60
            while not _has_socket(worker.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _has_socket(worker.pid), "the worker never tried to connect"
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=120)
            took = time.monotonic() - started
        finally:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr
    assert took < 30, stderr  # far within the 60 s connect deadline
    assert "interrupted (stopping)" in stderr


@pytest.mark.slow
def test_sigterm_stops_a_worker_waiting_on_a_stopped_server_at_once(
    scratch_cluster: PostgresCluster,
) -> None:
    """Formerly SIGTERM waited for the server to come back; now it ends the wait in progress
    (here a 60 s deadline) and the worker exits 0."""
    from tests.test_pgconn import stopped

    worker = _start_worker(scratch_cluster.dsn, "--timeout-s", "60")
    try:
        _wait_connected(scratch_cluster)
        with stopped(scratch_cluster):
            time.sleep(0.5)  # the worker is now waiting for a claim's answer
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=60)
            took = time.monotonic() - started
    finally:
        worker.kill()
        worker.wait()
    outcome = (worker.returncode, round(took, 2), stderr)
    assert worker.returncode == 0, outcome
    assert took < 30, outcome  # far within the 60 s deadline (the cancel's bound is 1 s)
    assert "interrupted" in stderr, outcome


# -- what the worker hands on: its registry to chained invokes, its deadlines to the journal -----


def _doubles(event: Any, ctx: Any) -> Any:
    return event * 2


def _invokes(event: Any, ctx: Any) -> Any:
    return ctx.invoke("double", event, name="call double") + 1


def test_a_chained_invoke_runs_a_function_of_the_workers_registry() -> None:
    """The worker runs each execution with its registry, so a chained invoke finds the
    function it names there."""
    journal = MemoryJournal()
    submit(journal, "outer", 20, execution_id="o")
    lines: list[str] = []
    stats = run_worker(
        journal, {"outer": _invokes, "double": _doubles}, idle_exit_s=0, poll_s=0, log=lines.append
    )
    outcome = journal.get_execution("o")
    assert outcome is not None and (outcome.status, outcome.result) == ("SUCCEEDED", "41")
    assert (stats.succeeded, stats.failed, lines) == (1, 0, ["o: SUCCEEDED"])


def test_opening_hands_the_journal_its_timeout_and_the_stop_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from durable_sim.durable import worker

    calls: list[tuple[str, dict[str, Any]]] = []
    opened = MemoryJournal()

    def recording(where: str, **options: Any) -> Any:
        calls.append((where, options))
        return opened

    monkeypatch.setattr(worker, "open_journal", recording)
    stop = threading.Event()
    assert open_when_reachable("db", stop=stop, timeout_s=3.5) is opened
    [(where, options)] = calls
    assert (where, sorted(options), options["timeout_s"]) == ("db", ["interrupt", "timeout_s"], 3.5)
    # The journal's waits end on the worker's own stop event (wrapped with its deadline).
    assert options["interrupt"].stop is stop


class _StopsWhileWaited(threading.Event):
    """A stop event that is set while a pause waits on it (SIGTERM during the pause)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        self.set()
        return True


def test_a_stop_during_a_pause_between_attempts_ends_the_retries(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable_sim.durable import worker

    attempts: list[str] = []

    def unreachable(where: str, **_: Any) -> Any:
        attempts.append(where)
        raise JournalUnavailableError(f"cannot reach {where}")

    monkeypatch.setattr(worker, "open_journal", unreachable)
    stop = _StopsWhileWaited()
    assert open_when_reachable("db", stop=stop, retry=THREE_ATTEMPTS) is None
    assert (attempts, stop.waits, clock.slept) == (["db"], [2.0], [])


def test_idle_exit_s_bounds_the_retries_of_opening_from_the_first_attempt(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """5 s of idle_exit_s with pauses of 2 s and then 6 s: the second pause is cut to the 3 s
    left, and the attempt after it is the last."""
    from durable_sim.durable import worker

    def unreachable(where: str, **_: Any) -> Any:
        raise JournalUnavailableError(f"cannot reach {where}")

    monkeypatch.setattr(worker, "open_journal", unreachable)
    lines: list[str] = []
    with pytest.raises(JournalUnavailableError, match=r"gave up after 3 attempts over 5\.0 s"):
        open_when_reachable("db", log=lines.append, retry=THREE_ATTEMPTS, idle_exit_s=5.0)
    assert [line.rpartition(" in ")[2] for line in lines] == ["2.00 s", "3.00 s"]
    assert clock.slept == [2.0, 3.0]


def test_functions_load_from_a_file_whose_directory_has_a_colon_in_its_name(
    tmp_path: Path,
) -> None:
    """The spec splits at its last colon: ``/data/run:1/jobs.py:JOBS`` names ``JOBS`` in
    ``/data/run:1/jobs.py``."""
    folder = tmp_path / "run:1"
    folder.mkdir()
    module = folder / "colon_jobs.py"
    module.write_text("def job(event, ctx):\n    return event\n\nJOBS = {'job': job}\n")
    assert sorted(load_functions(f"{module}:JOBS")) == ["job"]


def test_a_worker_counts_every_run_of_each_ending() -> None:
    journal = MemoryJournal()
    for event in ("ok", "fail", "wait") * 2:
        submit(journal, "job", event)
    stats = run_worker(journal, {"job": _job}, idle_exit_s=0, poll_s=0)
    assert stats == WorkerStats(claimed=6, succeeded=2, failed=2, pending=2)
    # Runs the journal stops are counted as `stopped` (and retried), tested beside the outage.


# -- the worker loop: its defaults, its owner and lease, its pauses, its counts ----------------


def test_a_worker_polls_every_0_2_s_by_default(clock: _Clock) -> None:
    assert run_worker(MemoryJournal(), {"job": _job}, idle_exit_s=1.0) == WorkerStats()
    assert clock.slept == [0.2] * 5


def _named(event: Any, ctx: Any) -> Any:
    return ctx.lambda_context.function_name


def test_each_run_is_invoked_under_its_registered_name() -> None:
    """The Lambda context a run sees names the function it was submitted to (the registry's
    name), as AWS names the function it invokes."""
    journal = MemoryJournal()
    submit(journal, "report-card", None, execution_id="n")
    run_worker(journal, {"report-card": _named}, max_runs=1, poll_s=0)
    assert journal.get_execution("n").result == '"report-card"'  # type: ignore[union-attr]


class _Recording(MemoryJournal):
    """A memory journal that records the owner of each claim and the lease of each opening."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[tuple[str, float]] = []
        self.opened: list[tuple[str | None, float]] = []

    def claim(self, owner: str, lease_s: float, function_names: Any) -> Any:
        self.claims.append((owner, lease_s))
        return super().claim(owner, lease_s, function_names)

    def open_execution(self, *args: Any, **kwargs: Any) -> Any:
        self.opened.append((kwargs.get("owner"), kwargs.get("lease_s", 0.0)))
        return super().open_execution(*args, **kwargs)


def test_a_worker_claims_and_runs_under_its_owner_and_lease() -> None:
    journal = _Recording()
    submit(journal, "job", "ok", execution_id="e")
    run_worker(journal, {"job": _job}, owner="w1", lease_s=5.0, idle_exit_s=0, poll_s=0)
    assert set(journal.claims) == {("w1", 5.0)}
    assert journal.opened[1:] == [("w1", 5.0)]  # the run takes the lease it claimed, for 5 s


@pytest.mark.parametrize("registry", ["mapping", "FunctionRegistry"])
def test_a_worker_checks_a_mapping_as_a_registry_and_uses_a_registry_itself(
    registry: str,
) -> None:
    """A mapping is checked as a `FunctionRegistry` would check it; a `FunctionRegistry` is
    the worker's own, so a function registered in it while the worker runs can be invoked."""
    from durable_sim.durable import FunctionRegistry

    if registry == "mapping":
        with pytest.raises(ValueError, match="a function name must be a non-empty string"):
            run_worker(MemoryJournal(), {"": _job}, max_runs=0)
        return
    functions = FunctionRegistry()

    def registers_then_invokes(event: Any, ctx: Any) -> Any:
        if "late" not in functions:
            functions.register("late", _doubles)
        return ctx.invoke("late", event, name="call late")

    functions.register("outer", registers_then_invokes)
    journal = MemoryJournal()
    submit(journal, "outer", 4, execution_id="o")
    assert run_worker(journal, functions, idle_exit_s=0, poll_s=0).succeeded == 1
    assert journal.get_execution("o").result == "8"  # type: ignore[union-attr]


def test_a_worker_without_functions_names_what_it_needs() -> None:
    with pytest.raises(ValueError) as info:
        run_worker(MemoryJournal(), {})
    assert str(info.value) == ("a worker needs at least one registered function (accepted: a name)")


class _DownTwice(MemoryJournal):
    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        self.claims += 1
        if self.claims <= 2:
            raise JournalUnavailableError("server restarting")
        return super().claim(*args, **kwargs)


def test_a_worker_counts_every_claim_its_journal_refused(clock: _Clock) -> None:
    stats = run_worker(_DownTwice(), {"job": _job}, idle_exit_s=10.0, retry=THREE_ATTEMPTS)
    assert stats.journal_errors == 2


@pytest.mark.parametrize("journal", ["empty", "unreachable"])
def test_a_stop_during_a_workers_pause_ends_its_loop(clock: _Clock, journal: str) -> None:
    """The pauses between claims (an empty queue; a journal out of reach) wait on the stop
    event, so a SIGTERM ends them at once."""
    stop = _StopsWhileWaited()
    source = MemoryJournal() if journal == "empty" else _DownTwice()
    stats = run_worker(
        source, {"job": _job}, stop=stop, poll_s=0.5, idle_exit_s=30.0, retry=THREE_ATTEMPTS
    )
    assert stats.claimed == 0 and clock.slept == []
    assert stop.waits == ([0.5] if journal == "empty" else [2.0])


def _stepped(event: Any, ctx: Any) -> Any:
    return [ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(3)]


def test_the_seed_of_a_worker_is_0_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs draw their profile's costs from `seed` (0 unless given): a default worker draws
    what a worker given seed=0 draws."""
    from durable_sim.clock import observe_clocks
    from durable_sim.latency import Dist, LatencyProfile

    class Draws:
        def __init__(self) -> None:
            self.drawn: list[tuple[str, float]] = []

        def advanced(self, *args: Any, **kwargs: Any) -> None:
            pass

        def forked(self, *args: Any, **kwargs: Any) -> None:
            pass

        def note_charge(self, label: str, ms: float) -> None:
            self.drawn.append((label, ms))

        def take_charge_label(self, ms: float) -> str | None:
            return None

    profile = LatencyProfile(name="random-checkpoint", checkpoint=Dist(1.0, 0.5))

    def drawn(**seed: int) -> list[tuple[str, float]]:
        journal = MemoryJournal()
        submit(journal, "job", "ok", execution_id="e")
        with observe_clocks(Draws()) as draws:
            run_worker(journal, {"job": _stepped}, profile=profile, max_runs=1, poll_s=0, **seed)
        return draws.drawn

    default, zero, one = drawn(), drawn(seed=0), drawn(seed=1)
    assert default and default == zero and default != one


def test_the_input_an_existing_execution_has_is_shown_up_to_80_characters() -> None:
    journal = MemoryJournal()
    long = "x" * 100
    submit(journal, "job", long, execution_id="e")
    with pytest.raises(ValueError) as info:
        submit(journal, "other", long, execution_id="e")
    shown = repr(json.dumps(long)[:80])
    assert str(info.value) == (
        f"execution 'e' exists already with function 'job' and input {shown}; "
        "use a new execution id"
    )
