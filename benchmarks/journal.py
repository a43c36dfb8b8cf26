"""Benchmarks of the durable journal under its lease: a step's cost over a bare durable commit on
SQLite and on PostgreSQL, and group commit on a 10,000-item map.

Every figure is a ratio taken within a round of interleaved contenders (their order alternates
from round to round), so drift in the shared machine's speed hits both sides of it; reported:
the median over the rounds, and their range. Files live in ``$TMPDIR`` (a real disk here: each
SQLite commit waits for its fsync); the Postgres cluster runs with ``fsync`` on.

- SQLite per step: a sequential workflow of `STEPS` steps through `run_durable` on a fresh
  `SqliteJournal` (the lease taken, every checkpoint fenced by its epoch), against the same
  number of bare single-row ``INSERT``s, each its own commit, in WAL mode with
  ``synchronous=FULL``.
- Postgres per step: the same workflow on a `PostgresJournal`, against bare single-row
  ``INSERT``s in autocommit mode over their own connection, on the same server.
- Group commit: a `MAP_ITEMS`-item map (one step per item, `MAP_CONCURRENCY` branches at once on
  the wall clock) on SQLite with group commit, against one durable commit per checkpoint
  (``group_commit=False``).
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import MapConfig

from benchmarks.registry import Row, benchmark
from durable_sim import WallClock, run_durable
from durable_sim.durable import HistoryEntry, Journal, PostgresJournal, SqliteJournal
from durable_sim.durable.lease import MIN_LEASE_S
from durable_sim.pgcluster import PostgresCluster

AREA = "journal"
STEPS = 300
ROUNDS = 7
MAP_ITEMS = 10_000
MAP_CONCURRENCY = 64
MAP_ROUNDS = 3
RECORD = '{"id":"1","type":"STEP","status":"SUCCEEDED","attempt":1,"result":"1"}'


def _steps(event: Any, ctx: DurableContext) -> int:
    return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(event["n"]))


def _per_step(journal: Journal, execution_id: str) -> float:
    """Seconds per step of a `STEPS`-step workflow, the lease and the run's setup included."""
    start = time.perf_counter()
    run = run_durable(_steps, {"n": STEPS}, journal=journal, execution_id=execution_id)
    elapsed = time.perf_counter() - start
    assert run.status == "SUCCEEDED" and run.metrics.steps_executed == STEPS
    return elapsed / STEPS


def _paired(contenders: dict[str, Callable[[int], float]], rounds: int) -> dict[str, list[float]]:
    """Each contender's figure per round, the order alternating from round to round."""
    names = list(contenders)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            figures[name].append(contenders[name](r))
    return figures


def _ratio_row(name: str, ratios: list[float], target: str, passed: bool | None) -> Row:
    spread = f"median of {len(ratios)} rounds, range {min(ratios):.2f}-{max(ratios):.2f}"
    return Row(AREA, f"{name} ({spread})", statistics.median(ratios), "x", target, passed)


def _ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


@benchmark("journal_sqlite")
def journal_sqlite() -> list[Row]:
    """SQLite: seconds per step (leased, fenced) over seconds per bare WAL+FULL commit."""
    with tempfile.TemporaryDirectory(prefix="durable-sim-bench-") as tmp:

        def step(r: int) -> float:
            with SqliteJournal(Path(tmp) / f"j{r}.sqlite") as journal:
                return _per_step(journal, "bench")

        def bare(r: int) -> float:
            db = sqlite3.connect(Path(tmp) / f"bare{r}.db", isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE bare (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            start = time.perf_counter()
            for _ in range(STEPS):
                db.execute("INSERT INTO bare (v) VALUES (?)", (RECORD,))
            elapsed = time.perf_counter() - start
            db.close()
            return elapsed / STEPS

        step(-1), bare(-1)  # warm up: imports, caches
        times = _paired({"step": step, "bare": bare}, ROUNDS)
    ratios = _ratios(times["step"], times["bare"])
    return [
        Row(
            AREA,
            "SQLite bare commit (WAL, FULL)",
            statistics.median(times["bare"]) * 1e3,
            "ms",
            "-",
            None,
        ),
        Row(
            AREA, "SQLite step with lease", statistics.median(times["step"]) * 1e3, "ms", "-", None
        ),
        _ratio_row(
            "SQLite per step / bare commit",
            ratios,
            "<= 1.5",
            statistics.median(ratios) <= 1.5,
        ),
    ]


@benchmark("journal_postgres")
def journal_postgres() -> list[Row]:
    """Postgres: seconds per step (leased, fenced) over a bare INSERT ... COMMIT, one server."""
    with PostgresCluster(fsync=True) as pg:
        bare_conn = psycopg.connect(pg.dsn, autocommit=True)
        bare_conn.execute("CREATE TABLE bare (k bigserial PRIMARY KEY, v text NOT NULL)")
        journal = PostgresJournal(pg.dsn)

        def step(r: int) -> float:
            return _per_step(journal, f"bench-{r}")

        def bare(r: int) -> float:
            start = time.perf_counter()
            for _ in range(STEPS):
                bare_conn.execute("INSERT INTO bare (v) VALUES (%s)", (RECORD,))
            return (time.perf_counter() - start) / STEPS

        step(-1), bare(-1)  # warm up: connections, plans, table files
        times = _paired({"step": step, "bare": bare}, ROUNDS)
        journal.close()
        bare_conn.close()
    ratios = _ratios(times["step"], times["bare"])
    return [
        Row(
            AREA,
            "Postgres bare INSERT ... COMMIT",
            statistics.median(times["bare"]) * 1e3,
            "ms",
            "-",
            None,
        ),
        Row(
            AREA,
            "Postgres step with lease",
            statistics.median(times["step"]) * 1e3,
            "ms",
            "-",
            None,
        ),
        _ratio_row(
            "Postgres per step / bare INSERT ... COMMIT",
            ratios,
            "<= 1.5",
            statistics.median(ratios) <= 1.5,
        ),
    ]


def _map(event: Any, ctx: DurableContext) -> int:
    result = ctx.map(
        list(range(event["n"])),
        lambda c, x, i, xs: c.step(lambda _: x, name="item"),
        config=MapConfig(max_concurrency=MAP_CONCURRENCY),
    )
    return len(result.get_results())


@benchmark("group_commit")
def group_commit() -> list[Row]:
    """A 10,000-item map on SQLite: items/s with group commit over one commit per checkpoint."""
    with tempfile.TemporaryDirectory(prefix="durable-sim-bench-") as tmp:

        def items_per_s(group: bool) -> Callable[[int], float]:
            def run(r: int) -> float:
                path = Path(tmp) / f"map-{group}-{r}.sqlite"
                with SqliteJournal(path, group_commit=group) as journal:
                    start = time.perf_counter()
                    done = run_durable(_map, {"n": MAP_ITEMS}, journal=journal, clock=WallClock())
                    elapsed = time.perf_counter() - start
                assert (done.status, done.result) == ("SUCCEEDED", MAP_ITEMS)
                return MAP_ITEMS / elapsed

            return run

        rates = _paired({"group": items_per_s(True), "single": items_per_s(False)}, MAP_ROUNDS)
    ratios = _ratios(rates["group"], rates["single"])
    return [
        Row(
            AREA,
            "10k-item map, group commit",
            statistics.median(rates["group"]),
            "items/s",
            "-",
            None,
        ),
        Row(
            AREA,
            "10k-item map, a commit per checkpoint",
            statistics.median(rates["single"]),
            "items/s",
            "-",
            None,
        ),
        _ratio_row(
            "group commit / a commit per checkpoint",
            ratios,
            ">= 5",
            statistics.median(ratios) >= 5,
        ),
    ]


RENEWALS = 500


def _renewal_times(journal: Journal) -> list[float]:
    """Seconds of each of `RENEWALS` lease renewals in a row (after 20 untimed), sorted."""
    started = HistoryEntry("ExecutionStarted", 0.0, None, {})
    lease = journal.open_execution("renewed", "{}", started, owner="o", lease_s=30.0).lease
    for _ in range(20):
        lease = journal.renew(lease, 30.0)
    times = []
    for _ in range(RENEWALS):
        start = time.perf_counter()
        lease = journal.renew(lease, 30.0)
        times.append(time.perf_counter() - start)
    return sorted(times)


@benchmark("lease-renewal")
def lease_renewal() -> list[Row]:
    """A lease renewal's round trip on SQLite and on Postgres (loopback, fsync on): median and
    slowest of `RENEWALS` in a row, in ms; the basis of `durable_sim.durable.lease.MIN_LEASE_S`,
    whose renewals (every third of the lease) get the other two thirds to land."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="durable-sim-bench-") as tmp:
        sqlite_journal = SqliteJournal(Path(tmp) / "renew.db")
        try:
            measured = {"SQLite": _renewal_times(sqlite_journal)}
        finally:
            sqlite_journal.close()
    with PostgresCluster(fsync=True) as pg:
        pg_journal = PostgresJournal(pg.dsn)
        try:
            measured["Postgres"] = _renewal_times(pg_journal)
        finally:
            pg_journal.close()
    window_ms = MIN_LEASE_S * 2 / 3 * 1000
    for name, times in measured.items():
        rows.append(
            Row(
                AREA,
                f"{name} lease renewal, median",
                statistics.median(times) * 1000,
                "ms",
                "-",
                None,
            )
        )
        slowest = times[-1] * 1000
        rows.append(
            Row(
                AREA,
                f"{name} lease renewal, slowest of {RENEWALS}",
                slowest,
                "ms",
                f"< {window_ms:.0f} (2/3 of MIN_LEASE_S)",
                slowest < window_ms,
            )
        )
    return rows
