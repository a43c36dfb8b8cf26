"""Workers: processes that run the executions a shared journal holds, each under its lease.

An execution is submitted with the name of a registered function (`submit`); it then waits in
the journal's queue (the executions table: running, no live lease, ready). A worker
(`run_worker`; ``durable-sim worker --journal DSN --functions MODULE:NAME``) claims one at a time
(taking its lease in the same atomic write as the choice, so two workers never claim one
execution), runs it with the function registered under its name on the wall clock, and gives the
lease up when it ends or waits:

- an execution that waits on a timer further away than `park_after_ms` is parked, ready again
  when its timer is due (any worker may take it up then); a nearer timer is slept through;
- one that waits on a callback is ready again once the outside world answers it
  (`send_callback_success` and friends wake it);
- an execution whose owner died (its lease expired without being renewed) is claimed again and
  replayed from the journal: its completed steps are not re-run;
- a failed invocation's retry (5 s later) is parked as a timer is;
- a chained invoke (``context.invoke``) runs its execution inside the caller's run, parked as
  any execution is; a caller whose child has not ended parks, and is ready again once the
  child ends, whichever worker ends it (`durable_sim.durable.runtime.execute`).

A journal outage (the database restarting, a lost connection) ends that invocation: the
invocation's end is recorded with the outage as its error once the journal answers again
(`durable_sim.durable.runtime`), and the execution goes back to the queue, ready at once; the
worker backs off, reconnects and takes it (or another) up again. Such a run is not one of the
runs ``max_runs`` counts: it did not end.

A journal the worker cannot reach (at start or later: a server down, a wrong host, a database
that does not exist yet) is retried a bounded number of times, as the field's workers do (a
Celery worker gives its broker connection ``broker_connection_max_retries`` attempts, 100 by
default, then fails: Celery's configuration reference), paced by the AWS SDK's own
retry formula (`JOURNAL_RETRY`); then the worker stops with the last `JournalUnavailableError`,
which names the DSN without its password (the command line exits with status 2), as it does
when it is told to stop while the journal is out of reach. An ``idle_exit_s`` also bounds the
wait: time spent unable to reach the journal is time without work, and a worker told to leave
after so long idle leaves then, with the same error rather than as if it had simply found no
work. A server that stops answering (stopped, frozen, cut off without a reset) counts as out of
reach once an answer or a connection is ``timeout_s`` late (`durable_sim.pgconn`; a query so
cut is then cancelled, for at most 1 s). While it has no work, a worker's waits for the server
end at its ``idle_exit_s`` deadline (a wait already begun gets `MIN_TIMEOUT_S` at least), so it
leaves within ``idle_exit_s`` of its last work plus that second; without ``idle_exit_s`` it
leaves once its retries are spent, each attempt waiting at most ``timeout_s`` (plus the
cancel's second). Its stop event (SIGTERM) ends any wait for the server at once, a connect
attempt's included. Retrying, rather than failing at the first refusal, lets workers start with
(or before) their database and ride out a restart or a failover.

The function registry (`FunctionRegistry`, or a mapping of names to durable handlers) names what
a worker may run: an execution of another name stays in the queue for a worker that has it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_durable_execution_sdk_python.config import Duration, JitterStrategy
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

from durable_sim.clock import WallClock
from durable_sim.dsn import DEFAULT_QUERY_TIMEOUT_S, MIN_TIMEOUT_S, Interrupt, check_timeout
from durable_sim.durable.errors import (
    ExecutionBusyError,
    InvocationStoppedError,
    JournalError,
    JournalUnavailableError,
)
from durable_sim.durable.journal import (
    READY_NOW,
    ExecutionRecord,
    HistoryEntry,
    Journal,
    open_journal,
)
from durable_sim.durable.lease import DEFAULT_LEASE_S, LeaseConfig, new_owner_id
from durable_sim.durable.registry import FunctionRegistry, unwrap_handler
from durable_sim.durable.runtime import check_started_execution_id, execute
from durable_sim.durations import Seconds
from durable_sim.faults import NO_FAULTS
from durable_sim.latency import ZERO, LatencyProfile, Sampler

#: Longest a worker sleeps through a timer with the lease held; longer waits are parked.
DEFAULT_PARK_AFTER_MS = 1000.0
#: The pauses between a worker's empty claims (s): 0 claims again at once.
POLL_INTERVAL = Seconds(0.0)
#: The waits a worker sleeps through with the lease held (ms): 0 parks every wait.
PARK_AFTER = Seconds(0.0, unit="ms")
#: The idle times after which a worker stops (s): 0 stops once nothing is claimable; also the
#: longest waits for an outcome (`wait_for_outcome`).
IDLE_EXIT = Seconds(0.0)
#: The pauses between `wait_for_outcome`'s reads of the journal (s).
OUTCOME_POLL = Seconds(0.0, low_open=True)
#: How a worker retries a journal it cannot reach, opening it or claiming from it: the SDK's
#: exponential back-off (`create_retry_strategy`: delay ``min(initial * rate**(n - 1), max)``
#: after the n-th failed attempt), 1 s doubling to 30 s, 9 attempts: pauses of 1, 2, 4, 8, 16,
#: 30, 30 and 30 s, 121 s in all, which covers the 60-120 s an Amazon RDS Multi-AZ DB instance
#: typically takes to fail over (Amazon RDS User Guide, "Failing over a Multi-AZ DB instance for
#: Amazon RDS"). No jitter: the SDK's jitter draws from Python's global random generator, and
#: workers that start together are few here.
JOURNAL_RETRY = RetryStrategyConfig(
    max_attempts=9,
    initial_delay=Duration.from_seconds(1),
    max_delay=Duration.from_seconds(30),
    backoff_rate=2.0,
    jitter_strategy=JitterStrategy.NONE,
    retryable_error_types=[JournalUnavailableError],
)


def retry_pauses_s(config: RetryStrategyConfig) -> list[float]:
    """The pauses (s) `config` makes between its attempts when every attempt fails, by the
    SDK's own strategy (the jitter-free delays for a jitter-free config): one fewer than
    ``config.max_attempts``."""
    strategy = create_retry_strategy(config)
    error = JournalUnavailableError("unreachable")
    pauses: list[float] = []
    while (decision := strategy(error, len(pauses) + 1)).should_retry:
        pauses.append(float(decision.delay_seconds))
    return pauses


class JournalRetry:
    """Consecutive failures to reach a journal, paced by `config` (`JOURNAL_RETRY`'s kind) and
    bounded, if `deadline` (a `time.monotonic` value) is given, by it as well."""

    def __init__(self, config: RetryStrategyConfig, deadline: float | None = None) -> None:
        self._strategy = create_retry_strategy(config)
        self.deadline = deadline
        self.failures = 0
        self._attempt_at = self._first = time.monotonic()

    def attempting(self) -> None:
        """An attempt starts now (the time spent, in the final error, counts from the start of
        the first failed attempt: an attempt can itself take long, e.g. a connect timeout)."""
        self._attempt_at = time.monotonic()

    def pause_after(self, error: JournalError) -> float:
        """Count `error` and return the seconds to wait before the next attempt. Raises `error`
        itself if it is not retried (a corrupt journal), and a `JournalUnavailableError` with
        the attempts and the time spent added once the retries are spent."""
        if self.failures == 0:
            self._first = self._attempt_at
        self.failures += 1
        decision = self._strategy(error, self.failures)
        if not decision.should_retry and not isinstance(error, JournalUnavailableError):
            raise error
        now = time.monotonic()
        pause = float(decision.delay_seconds)
        if self.deadline is not None:
            pause = min(pause, self.deadline - now)
        if not decision.should_retry or pause <= 0:
            spent = now - self._first
            raise JournalUnavailableError(
                f"{error} (gave up after {self.failures} attempt{'s' * (self.failures != 1)} "
                f"over {spent:.1f} s)"
            ) from error
        return pause

    def succeeded(self) -> None:
        """The journal answered: the next failure starts a new count."""
        self.failures = 0


def submit(
    journal: Journal, function_name: str, event: Any = None, *, execution_id: str | None = None
) -> str:
    """Queue an execution of the registered function `function_name` with the JSON `event`;
    returns its id (a new random one by default). Submitting an existing id again changes
    nothing (its input must be the same). Raises ValueError for a bad name or id (one naming a
    chained invoke's execution that does not exist: `check_started_execution_id`), an event
    that is no JSON value (NaN included), or an input that differs from the existing
    execution's."""
    if not isinstance(function_name, str) or not function_name:
        raise ValueError(f"bad function_name {function_name!r} (accepted: a non-empty string)")
    execution_id = check_started_execution_id(
        journal, f"execution-{uuid.uuid4().hex[:12]}" if execution_id is None else execution_id
    )
    try:
        payload = json.dumps(event, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad event {event!r}: {exc} (accepted: a JSON value)") from None
    started = HistoryEntry("ExecutionStarted", WallClock().now_ms(), None, {"Input": payload})
    record = journal.open_execution(
        execution_id, payload, started, function_name=function_name, ready=True
    )
    if record.input != payload or record.function_name != function_name:
        raise ValueError(
            f"execution {execution_id!r} exists already with function {record.function_name!r} "
            f"and input {record.input[:80]!r}; use a new execution id"
        )
    return execution_id


def wait_for_outcome(
    journal: Journal, execution_id: str, *, timeout_s: float, poll_s: float = 0.05
) -> ExecutionRecord:
    """Poll until the execution has an outcome (SUCCEEDED or FAILED) and return its record.

    Raises KeyError for an unknown execution, TimeoutError after `timeout_s` seconds (a
    finite number >= 0), and ValueError for a bad `timeout_s` or `poll_s` (> 0, finite).
    """
    timeout_s = IDLE_EXIT.check("timeout_s", timeout_s)
    poll_s = OUTCOME_POLL.check("poll_s", poll_s)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            record = journal.get_execution(execution_id)
        except JournalError:
            record = None  # the database is away for a moment: ask again
        else:
            if record is None:
                raise KeyError(f"no execution {execution_id!r} in the journal")
            if record.status != "RUNNING":
                return record
        if time.monotonic() >= deadline:
            raise TimeoutError(f"execution {execution_id!r} has no outcome after {timeout_s} s")
        time.sleep(poll_s)


@dataclass
class WorkerStats:
    """What a worker did: executions `claimed`, how their runs ended (`succeeded`, `failed`,
    `pending`: the runs ``max_runs`` counts), runs `stopped` by a journal outage (taken up
    again later), every journal error met (`journal_errors`: claims, records and runs), and
    `out_of_reach`: the last journal error, if the journal has not answered since (a worker
    told to stop during an outage)."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    stopped: int = 0
    journal_errors: int = 0
    out_of_reach: JournalUnavailableError | None = None

    @property
    def ended(self) -> int:
        """Runs that reached an outcome (succeeded, failed or pending)."""
        return self.succeeded + self.failed + self.pending


def run_worker(
    journal: Journal,
    functions: Mapping[str, Callable[..., Any]],
    *,
    owner: str | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    poll_s: float = 0.2,
    park_after_ms: float = DEFAULT_PARK_AFTER_MS,
    profile: LatencyProfile = ZERO,
    seed: int = 0,
    stop: threading.Event | Interrupt | None = None,
    max_runs: int | None = None,
    idle_exit_s: float | None = None,
    log: Callable[[str], None] | None = None,
    retry: RetryStrategyConfig = JOURNAL_RETRY,
) -> WorkerStats:
    """Claim and run executions of `functions` from `journal` until stopped.

    Stops when `stop` is set (an event, or the stop event of an `Interrupt`), after
    `max_runs` runs have ended (succeeded, failed or pending; a run stopped by a journal
    outage does not count), or once nothing was claimable for `idle_exit_s` seconds since the
    last run (each ``None``: never). `poll_s` is the pause between empty claims. A journal
    that cannot be reached is retried as `retry` says (`JOURNAL_RETRY`), within `idle_exit_s`
    of the last work if given; if `stop` is the `Interrupt` the journal was opened with
    (`open_when_reachable`), the worker sets its deadline to that time while it has no work,
    so a wait for a silent server ends then too (one already begun gets `MIN_TIMEOUT_S` at
    least). An invocation stopped by an outage is recorded, and its lease given up, before the
    next claim (`InvocationStoppedError`). Runs are on the wall clock with `profile`'s costs
    charged (none by default) and `seed`. `log` receives one line per run and per retry.
    Raises ValueError for an empty registry or a bad number (`POLL_INTERVAL`, `PARK_AFTER`,
    `IDLE_EXIT`, `durable_sim.durable.lease.LEASE`), and `JournalUnavailableError`
    (naming the DSN without its password) once the journal stays out of reach.
    """
    registry = functions if isinstance(functions, FunctionRegistry) else FunctionRegistry(functions)
    if not registry:
        raise ValueError("a worker needs at least one registered function (accepted: a name)")
    poll_s = POLL_INTERVAL.check("poll_s", poll_s)
    park_after_ms = PARK_AFTER.check("park_after_ms", park_after_ms)
    if idle_exit_s is not None:
        idle_exit_s = IDLE_EXIT.check("idle_exit_s", idle_exit_s)
    config = LeaseConfig(duration_s=lease_s, owner=owner or new_owner_id())
    lease_s = config.duration_s
    assert config.owner is not None
    interrupt = stop if isinstance(stop, Interrupt) else Interrupt(stop)
    halt = None if stop is None else interrupt.stop
    names = sorted(registry)
    stats = WorkerStats()
    unrecorded: list[InvocationStoppedError] = []
    idle_since = time.monotonic()
    retrying = JournalRetry(retry)
    while not interrupt.stop.is_set():
        if max_runs is not None and stats.ended >= max_runs:
            break
        retrying.deadline = None if idle_exit_s is None else idle_since + idle_exit_s
        retrying.attempting()
        interrupt.deadline = _wait_deadline(retrying.deadline)
        try:
            _record_stopped(journal, unrecorded)
            claimed = journal.claim(config.owner, lease_s, names)
        except JournalError as exc:
            stats.journal_errors += 1
            _retry_later(retrying, exc, interrupt, stats, log, halt)
            continue
        finally:
            interrupt.deadline = None
        stats.out_of_reach = None
        if claimed is None:
            retrying.succeeded()
            if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                break
            _pause(halt, poll_s)
            continue
        stats.claimed += 1
        stopped = _run_one(
            journal, registry, claimed, config, park_after_ms, profile, seed, stats, log
        )
        idle_since = time.monotonic()  # it worked until now
        if stopped is None:
            retrying.succeeded()
            continue
        # An outage: the claim and the run count as one failed attempt (a journal whose claims
        # are answered but whose writes fail is out of reach all the same).
        if isinstance(stopped, InvocationStoppedError):
            unrecorded.append(stopped)
        retrying.deadline = None if idle_exit_s is None else idle_since + idle_exit_s
        _retry_later(retrying, stopped, interrupt, stats, log, halt)
    return stats


def _wait_deadline(deadline: float | None) -> float | None:
    """When a wait for the server that starts now must end, for a worker that leaves at
    `deadline` (None: never): then, but no sooner than `MIN_TIMEOUT_S` from now, the shortest
    wait that can tell a silent server from a slow one (`durable_sim.dsn.MIN_TIMEOUT_S`)."""
    return None if deadline is None else max(deadline, time.monotonic() + MIN_TIMEOUT_S)


def _retry_later(
    retrying: JournalRetry,
    error: JournalError,
    interrupt: Interrupt,
    stats: WorkerStats,
    log: Callable[[str], None] | None,
    halt: threading.Event | None,
) -> None:
    """Count the failed attempt `error` and pause before the next (`JournalRetry.pause_after`,
    which raises once the retries or the deadline are spent). An error of the worker's own
    making (a wait it cut short to stop) is no evidence that the journal is out of reach: it
    is logged, and the worker stops."""
    if interrupt.stop.is_set():
        _say(log, f"stopping: {error}")
        return
    pause = retrying.pause_after(error)
    if isinstance(error, JournalUnavailableError):
        stats.out_of_reach = error
    _say(log, f"journal unavailable ({error}); retrying in {pause:.2f} s")
    _pause(halt, pause)


def _record_stopped(journal: Journal, unrecorded: list[InvocationStoppedError]) -> None:
    """Record the ends of the invocations an outage stopped (`InvocationStoppedError`) and
    give their leases up, ready at once; an execution taken over or ended meanwhile is left to
    its new owner. Raises `JournalUnavailableError` while the journal is still out of reach
    (what is left stays in `unrecorded`)."""
    while unrecorded:
        stopped = unrecorded[0]
        lease = stopped.lease
        try:
            journal.append(lease.execution_id, [stopped.entry], lease)
            journal.release(lease, ready_at=READY_NOW)
        except JournalUnavailableError:
            raise
        except (JournalError, KeyError):
            pass  # its lease was taken over, or the execution ended: nothing to record
        unrecorded.pop(0)


def open_when_reachable(
    where: str,
    *,
    stop: threading.Event | Interrupt | None = None,
    log: Callable[[str], None] | None = None,
    retry: RetryStrategyConfig = JOURNAL_RETRY,
    idle_exit_s: float | None = None,
    timeout_s: float = DEFAULT_QUERY_TIMEOUT_S,
) -> Journal | None:
    """`open_journal(where)`, retried as `retry` says (`JOURNAL_RETRY`) while the database
    cannot be reached, so a worker started during a server restart waits for it, and for at
    most `idle_exit_s` seconds if given; ``None`` if `stop` is set first. A Postgres journal
    waits at most `timeout_s` (1 s to 2**31 - 1 s) to connect and for each answer of its
    server, and its waits end once `stop` (an event or an `Interrupt`, kept by the journal for
    its later waits: pass the same one to `run_worker`) is set, and at the `idle_exit_s`
    deadline while opening (`durable_sim.pgconn`), so a server that stops answering
    mid-query counts as unreachable. Raises the last `JournalUnavailableError` (naming the DSN
    without its password, the attempts and the time spent) once the retries are spent; other
    errors (a bad path or DSN, a bad timeout or `idle_exit_s` (`IDLE_EXIT`): ValueError, a
    corrupt journal) at once."""
    if idle_exit_s is not None:
        idle_exit_s = IDLE_EXIT.check("idle_exit_s", idle_exit_s)
    timeout_s = check_timeout("timeout_s", timeout_s)
    interrupt = stop if isinstance(stop, Interrupt) else Interrupt(stop)
    halt = None if stop is None else interrupt.stop
    deadline = None if idle_exit_s is None else time.monotonic() + idle_exit_s
    retrying = JournalRetry(retry, deadline)
    while True:
        retrying.attempting()
        interrupt.deadline = _wait_deadline(deadline)
        try:
            return open_journal(where, timeout_s=timeout_s, interrupt=interrupt)
        except JournalUnavailableError as exc:
            pause = retrying.pause_after(exc)
            _say(log, f"journal unavailable ({exc}); retrying in {pause:.2f} s")
        finally:
            interrupt.deadline = None
        if interrupt.stop.is_set():
            return None
        _pause(halt, pause)
        if interrupt.stop.is_set():
            return None


def _run_one(
    journal: Journal,
    registry: FunctionRegistry,
    claimed: ExecutionRecord,
    config: LeaseConfig,
    park_after_ms: float,
    profile: LatencyProfile,
    seed: int,
    stats: WorkerStats,
    log: Callable[[str], None] | None,
) -> JournalUnavailableError | None:
    """Run the `claimed` execution once; the outage that stopped it, if one did."""
    name = claimed.function_name
    assert name is not None, "only executions of registered functions are claimed"
    try:
        run = execute(
            unwrap_handler(registry[name]),
            claimed.input,
            journal=journal,
            execution_id=claimed.execution_id,
            clock=WallClock(),
            sampler=Sampler(profile, seed),
            faults=NO_FAULTS,
            functions=registry,
            function_name=name,
            lease=config,
            park_after_ms=park_after_ms,
            taken_over=claimed.lease is not None and claimed.lease.taken_over,
        )
    except ExecutionBusyError:
        return None  # taken over meanwhile (this worker's lease had lapsed)
    except JournalError as exc:
        stats.journal_errors += 1
        _say(log, f"{claimed.execution_id}: stopped by the journal ({exc})")
        if isinstance(exc, JournalUnavailableError):
            stats.stopped += 1
            return exc
        return None
    if run.status == "SUCCEEDED":
        stats.succeeded += 1
    elif run.status == "FAILED":
        stats.failed += 1
    else:
        stats.pending += 1
    _say(log, f"{claimed.execution_id}: {run.status}")
    return None


def _say(log: Callable[[str], None] | None, line: str) -> None:
    """Give `log` `line` as one line: its whitespace runs (a libpq message's newlines) become
    single spaces."""
    if log is not None:
        log(" ".join(line.split()))


def _pause(stop: threading.Event | None, seconds: float) -> None:
    if stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)


def load_functions(spec: str) -> FunctionRegistry:
    """The function registry `spec` names: ``package.module:NAME`` or ``path/to/file.py:NAME``,
    where NAME is a `FunctionRegistry` or a mapping of function names to durable handlers.

    Raises ValueError naming the spec and what is accepted when it cannot be loaded.
    """
    accepted = (
        "accepted: 'package.module:NAME' or 'path/to/file.py:NAME', NAME a FunctionRegistry "
        "or a mapping of names to durable handlers"
    )
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"bad functions {spec!r} ({accepted})")
    try:
        if where.endswith(".py"):
            path = Path(where)
            module_name = f"durable_sim_functions_{path.stem}"
            loader = importlib.util.spec_from_file_location(module_name, path)
            if loader is None or loader.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except Exception as exc:  # a module that cannot be found, read or run
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise ValueError(
            f"bad functions {spec!r}: importing it raised {reason} ({accepted})"
        ) from None
    value = getattr(module, attr, None)
    if isinstance(value, FunctionRegistry):
        return value
    if isinstance(value, Mapping):
        try:
            return FunctionRegistry(value)
        except ValueError as exc:
            raise ValueError(f"bad functions {spec!r}: {exc}") from None
    raise ValueError(f"bad functions {spec!r}: {attr} is {type(value).__name__} ({accepted})")
