"""Store semantics on every backend, counts by kind and purpose, charged latency, errors."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from durable_sim.baseline import (
    ABSENT,
    ConditionalCheckFailed,
    KVStore,
    StoreCounters,
    open_store,
)
from durable_sim.baseline.store import SQLiteBackend, StoreUnavailableError
from durable_sim.baseline.store.model import item_size
from durable_sim.baseline.store.postgres import PostgresBackend
from durable_sim.clock import VirtualClock
from durable_sim.latency import Dist, LatencyProfile, Sampler
from durable_sim.pgcluster import PostgresCluster

from .conftest import CONST

WORKER = Path(__file__).with_name("store_worker.py")


def test_get_put_delete_roundtrip(store: KVStore) -> None:
    assert store.get("jobs", "j1") is None
    store.put("jobs", "j1", {"status": "new", "chunks": 3, "meta": {"fps": 25.0}})
    assert store.get("jobs", "j1") == {"status": "new", "chunks": 3, "meta": {"fps": 25.0}}
    store.put("jobs", "j1", {"status": "replaced"})
    assert store.get("jobs", "j1") == {"status": "replaced"}
    store.delete("jobs", "j1")
    store.delete("jobs", "j1")  # deleting a missing item is no error
    assert store.get("jobs", "j1") is None


def test_items_are_copies_and_json_shaped(store: KVStore) -> None:
    item = {"parts": (1, 2)}
    store.put("t", "k", item)
    got = store.get("t", "k")
    assert got == {"parts": [1, 2]}  # JSON on every backend: tuples come back as lists
    assert got is not None
    got["parts"].append(3)
    assert store.get("t", "k") == {"parts": [1, 2]}


def test_tables_are_separate(store: KVStore) -> None:
    store.put("a", "k", {"v": 1})
    store.put("b", "k", {"v": 2})
    assert store.get("a", "k") == {"v": 1}
    assert store.get("b", "k") == {"v": 2}


def test_query_returns_partition_in_sort_order(store: KVStore) -> None:
    store.put("chunks", ("job-1", "c02"), {"i": 2})
    store.put("chunks", ("job-1", "c00"), {"i": 0})
    store.put("chunks", ("job-2", "c00"), {"i": 99})
    store.put("chunks", ("job-1", "c01"), {"i": 1})
    store.put("chunks", "job-1", {"header": True})
    assert store.query("chunks", "job-1") == [{"header": True}, {"i": 0}, {"i": 1}, {"i": 2}]
    assert store.query("chunks", "job-3") == []
    assert store.query("other", "job-1") == []


def test_conditional_update_success_and_failure(store: KVStore) -> None:
    created = store.update("jobs", "j", {"status": "new"}, condition={"status": ABSENT})
    assert created == {"status": "new"}
    with pytest.raises(ConditionalCheckFailed) as err:
        store.update("jobs", "j", {"status": "new"}, condition={"status": ABSENT})
    assert "status: expected ABSENT, found 'new'" in str(err.value)
    moved = store.update("jobs", "j", {"status": "running", "n": 1}, condition={"status": "new"})
    assert moved == {"status": "running", "n": 1}
    with pytest.raises(ConditionalCheckFailed, match="expected 'new', found 'running'"):
        store.update("jobs", "j", {"status": "done"}, condition={"status": "new"})
    assert store.get("jobs", "j") == {"status": "running", "n": 1}  # failed CAS wrote nothing
    c = store.counters
    assert (c.writes, c.conditional_failures, c.reads) == (4, 2, 1)


def test_condition_on_missing_item_fails_unless_absent(store: KVStore) -> None:
    with pytest.raises(ConditionalCheckFailed):
        store.update("t", "missing", {"a": 1}, condition={"version": 0})
    assert store.get("t", "missing") is None
    assert store.update("t", "missing", {"a": 1}) == {"a": 1}  # unconditional: upsert


def test_condition_distinguishes_bool_from_number(store: KVStore) -> None:
    store.put("t", "k", {"flag": 1})
    with pytest.raises(ConditionalCheckFailed):
        store.update("t", "k", {"flag": 2}, condition={"flag": True})


def test_atomic_add(store: KVStore) -> None:
    assert store.add("counters", "c", "value", 1) == 1
    assert store.add("counters", "c", "value", 2) == 3
    assert store.add("counters", "c", "value", -1) == 2
    assert store.add("counters", "c", "ratio", 0.5) == 0.5
    assert store.get("counters", "c") == {"value": 2, "ratio": 0.5}
    store.put("counters", "s", {"value": "text"})
    with pytest.raises(TypeError, match=r"counters\['s'\]\.value: it holds 'text'"):
        store.add("counters", "s", "value", 1)


def test_concurrent_adds_lose_no_update(store: KVStore) -> None:
    def work() -> None:
        for _ in range(25):
            store.add("counters", "c", "value", 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("counters", "c") == {"value": 100}


def test_counts_by_kind_and_purpose(store: KVStore) -> None:
    store.put("jobs", "j", {"status": "new"}, purpose="job_creation")
    for i in range(3):
        store.put("chunks", ("j", f"c{i}"), {"done": False}, purpose="chunk_insert")
    for _ in range(4):
        store.query("chunks", "j", purpose="poll")
    store.update("chunks", ("j", "c0"), {"done": True}, purpose="status_update")
    store.add("jobs", "j", "finished", 1, purpose="status_update")
    store.get("jobs", "j")
    store.delete("jobs", "j", purpose="cleanup")
    c = store.counters
    assert c == StoreCounters(
        reads=1,
        writes=6,
        conditional_failures=0,
        queries=4,
        deletes=1,
        read_units=5,
        write_units=7,
        by_purpose={
            "job_creation": 1,
            "chunk_insert": 3,
            "poll": 4,
            "status_update": 2,
            "other": 1,
            "cleanup": 1,
        },
    )
    assert c.total == 12 == sum(c.by_purpose.values())
    assert c.as_row() == {
        "store_ops": 12,
        "store_reads": 1,
        "store_writes": 6,
        "store_conditional_failures": 0,
        "store_queries": 4,
        "store_deletes": 1,
        "store_read_units": 5,
        "store_write_units": 7,
        "store_ops_chunk_insert": 3,
        "store_ops_cleanup": 1,
        "store_ops_job_creation": 1,
        "store_ops_other": 1,
        "store_ops_poll": 4,
        "store_ops_status_update": 2,
    }


def _padded(pk: str, size: int) -> dict[str, str]:
    """An item whose `item_size` under key `pk` is exactly `size` bytes."""
    overhead = item_size(pk, "", {"p": ""})
    return {"p": "x" * (size - overhead)}


@pytest.mark.parametrize(
    ("size", "units"), [(1, 1), (1024, 1), (1025, 2), (3000, 3), (4096, 4), (4097, 5)]
)
def test_write_units_per_started_kilobyte(store: KVStore, size: int, units: int) -> None:
    store.put("t", "k", _padded("k", size))
    assert store.counters.write_units == units


@pytest.mark.parametrize(("size", "units"), [(10, 1), (4096, 1), (4097, 2), (8193, 3)])
def test_read_units_per_started_4kb(store: KVStore, size: int, units: int) -> None:
    store.put("t", "k", _padded("k", size))
    store.get("t", "k")
    assert store.counters.read_units == units


def test_units_of_missing_items_queries_updates_and_failures(store: KVStore) -> None:
    store.get("t", "absent")
    assert store.counters.read_units == 1  # a read of nothing still costs one unit
    for i in range(3):  # three 2,000-byte items: one query reads 6,000 bytes = 2 units
        store.put("t", ("p", f"s{i}"), _padded("p", 2000 - len(f"s{i}")))
    store.query("t", "p")
    assert store.counters.read_units == 1 + 2
    before = store.counters.write_units
    store.put("t", "big", _padded("big", 2048))
    store.update("t", "big", {"p": "small"})  # the larger of before (2 KB) and after counts
    assert store.counters.write_units == before + 2 + 2
    with pytest.raises(ConditionalCheckFailed):
        store.update("t", "big", {"p": "x"}, condition={"p": "other"})
    assert store.counters.write_units == before + 2 + 2 + 1  # a failed write still consumes


def test_counters_are_snapshots(store: KVStore) -> None:
    before = store.counters
    store.put("t", "k", {})
    assert before.writes == 0
    assert store.counters.writes == 1


def test_latency_charged_per_kind(store: KVStore, clock: VirtualClock) -> None:
    store.get("t", "k")  # kv_read = 2
    store.put("t", "k", {"v": 0})  # kv_write = 5
    store.update("t", "k", {"v": 1})  # 5
    store.add("t", "k", "v", 1)  # 5
    store.query("t", "k")  # kv_query = 7
    store.delete("t", "k")  # 5
    with pytest.raises(ConditionalCheckFailed):
        store.update("t", "k", {"v": 9}, condition={"v": 5})  # a failed write still costs 5
    assert clock.now_ms() == 2 + 5 + 5 + 5 + 7 + 5 + 5


def test_bound_view_charges_its_clock_and_shares_state(store: KVStore, clock: VirtualClock) -> None:
    other = clock.fork()
    view = store.bind(other)
    view.put("t", "k", {"v": 1})
    assert (clock.now_ms(), other.now_ms()) == (0.0, 5.0)
    assert view.clock is other
    assert store.get("t", "k") == {"v": 1}
    assert store.counters == view.counters
    assert store.counters.total == 2


def test_random_latency_is_keyed_by_identity() -> None:
    """The same calls on the same keys cost the same, whatever other keys are touched between."""
    profile = LatencyProfile(name="noisy", kv_write=Dist(5.0, 0.5))

    def costs(interleave: bool) -> list[float]:
        clock = VirtualClock()
        kv = open_store("memory", clock=clock, sampler=Sampler(profile, seed=3))
        out = []
        for i in range(3):
            if interleave:
                kv.put("t", "noise", {"i": i})
            start = clock.now_ms()
            kv.put("t", "k", {"i": i})
            out.append(clock.now_ms() - start)
        return out

    plain = costs(interleave=False)
    assert plain == pytest.approx(costs(interleave=True), rel=1e-12)
    assert len(set(plain)) == 3  # successive calls on one key get fresh draws


def test_data_persists_across_store_objects(
    shared_location: dict[str, Any], clock: VirtualClock
) -> None:
    first = open_store(**shared_location, clock=clock, sampler=Sampler(CONST, 1))
    first.put("jobs", ("j", "c1"), {"done": True})
    first.add("counters", "c", "value", 5)
    first.close()
    second = open_store(**shared_location, clock=clock, sampler=Sampler(CONST, 1))
    assert second.get("jobs", ("j", "c1")) == {"done": True}
    assert second.add("counters", "c", "value", 1) == 6
    assert second.counters.total == 2  # counts belong to the store object, not the data
    second.close()


def test_two_stores_on_one_location_see_each_others_writes(
    shared_location: dict[str, Any], clock: VirtualClock
) -> None:
    a = open_store(**shared_location, clock=clock, sampler=Sampler(CONST, 1))
    b = open_store(**shared_location, clock=clock, sampler=Sampler(CONST, 1))
    a.update("t", "k", {"owner": "a"}, condition={"owner": ABSENT})
    with pytest.raises(ConditionalCheckFailed):
        b.update("t", "k", {"owner": "b"}, condition={"owner": ABSENT})
    assert b.get("t", "k") == {"owner": "a"}
    b.delete("t", "k")
    assert a.get("t", "k") is None
    a.close()
    b.close()


def test_processes_lose_no_update(shared_location: dict[str, Any], clock: VirtualClock) -> None:
    """4 processes x 30 rounds on one item: every compare-and-swap and atomic add counts once.

    The racy get-then-put control on the same store loses updates, which shows that the
    workers did overlap (an overlap-free run could not tell a lost update from none).
    """
    workers, rounds = 4, 30
    seed = open_store(**shared_location, clock=clock, sampler=Sampler(CONST, 1))
    seed.put("counters", "cas", {"n": 0})
    seed.put("counters", "racy", {"n": 0})
    location = str(shared_location.get("path", shared_location["backend"]))
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), location, str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    try:
        for proc in procs:  # every worker has opened the store ...
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:  # ... before any starts
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert all(proc.returncode == 0 for proc in procs)
    total = workers * rounds
    assert seed.get("counters", "cas") == {"n": total}
    assert seed.get("counters", "add") == {"n": total}
    failures = sum(r["failures"] for r in reports)
    # every round writes cas (1 + its failures), add and racy once each
    assert sum(r["writes"] for r in reports) == 3 * total + failures
    racy = seed.get("counters", "racy")
    assert racy is not None and racy["n"] < total, "the workers never overlapped"
    assert failures > 0
    seed.close()


def test_many_stores_opened_at_once_on_a_new_location(shared_location: dict[str, Any]) -> None:
    """16 connections creating the store's table at the same moment all succeed (PostgreSQL's
    CREATE TABLE IF NOT EXISTS alone fails on its catalog's unique index in this race)."""
    opened: list[KVStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def open_one() -> None:
        barrier.wait()
        try:
            kv = open_store(**shared_location, clock=VirtualClock(), sampler=Sampler(CONST, 1))
            opened.append(kv)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [kv.add("t", "k", "n", 1) for kv in opened] == list(range(1, 17))
    for kv in opened:
        kv.close()


def test_postgres_store_reconnects_after_the_server_restarts(
    scratch_cluster: PostgresCluster, clock: VirtualClock, sampler: Sampler
) -> None:
    """The call in flight when the connection is lost fails, naming the store and what it was
    doing (formerly psycopg's bare error, which a run blamed on its workload); the next call
    reconnects."""
    pg = scratch_cluster
    kv = open_store(pg.dsn, clock=clock, sampler=sampler)
    kv.put("t", "k", {"v": 1})
    pg.restart(mode="fast")
    with pytest.raises(StoreUnavailableError, match=r"^cannot read the store at 'user=postgres "):
        kv.get("t", "k")
    assert kv.get("t", "k") == {"v": 1}
    pg.kill()
    pg.start()
    with pytest.raises(StoreUnavailableError, match=r"write in flight is unknown\)$"):
        kv.add("t", "k", "v", 1)
    assert kv.add("t", "k", "v", 1) == 2  # the failed add never reached the server
    pg.kill()
    with pytest.raises(StoreUnavailableError):
        kv.put("t", "k", {"v": 0})  # the server is down
    pg.start()
    assert kv.get("t", "k") == {"v": 2}
    kv.close()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.get("", "k"), r"bad table name '' \(accepted: 1-255 characters"),
        (lambda s: s.get("t$", "k"), r"bad table name 't\$'"),
        (lambda s: s.get("t", ""), r"bad key '': the partition must be a non-empty string"),
        (lambda s: s.get("t", ("p", "")), r"bad key \('p', ''\): the sort must be"),
        (lambda s: s.get("t", ("p", 3)), r"bad key \('p', 3\): the sort must be"),
        (lambda s: s.get("t", ["p", "s"]), r"bad key \['p', 's'\] \(accepted keys:"),
        (lambda s: s.put("t", "k", {"x": {1, 2}}), r"bad item .*accepted values: JSON"),
        (lambda s: s.put("t", "k", {"x": float("nan")}), r"bad item .*finite numbers"),
        (lambda s: s.put("t", "k", [1]), r"bad item \[1\] \(accepted: a mapping"),
        (lambda s: s.update("t", "k", {}, condition=[1]), r"bad condition \[1\]"),
        (lambda s: s.update("t", "k", {}, condition={"a": object}), r"bad item"),
        (lambda s: s.add("t", "k", "v", True), r"bad delta True for add"),
        (lambda s: s.add("t", "k", "v", float("inf")), r"bad delta inf for add"),
        (lambda s: s.add("t", "k", "", 1), r"bad attribute name ''"),
        (lambda s: s.get("t", "\ud800"), r"bad key '\\ud800': the partition must be .*UTF-8"),
        (lambda s: s.put("t", ("p", "a\udfff"), {}), r"bad key .*: the sort must be .*UTF-8"),
        (lambda s: s.query("t", ("p", "s")), r"bad partition \('p', 's'\)"),
        (lambda s: s.query("t", "\ud800"), r"bad partition '\\ud800' \(accepted: .*UTF-8"),
        (lambda s: s.get("t", "k", purpose="Poll"), r"bad purpose 'Poll' \(accepted: lowercase"),
        (lambda s: s.get("t", "k", purpose=""), r"bad purpose ''"),
    ],
)
def test_bad_arguments_are_rejected_before_counting(store: KVStore, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(store)
    assert store.counters.total == 0
    assert store.clock.now_ms() == 0.0


def test_open_store_bad_arguments(tmp_path: Path, clock: VirtualClock, sampler: Sampler) -> None:
    with pytest.raises(ValueError, match=r"unknown store backend 'redis' \(accepted: 'memory'"):
        open_store("redis", clock=clock, sampler=sampler)
    with pytest.raises(ValueError, match="the sqlite backend needs a path"):
        open_store("sqlite", clock=clock, sampler=sampler)
    with pytest.raises(ValueError, match="the memory backend takes no path"):
        open_store("memory", clock=clock, sampler=sampler, path=tmp_path / "x.db")
    with pytest.raises(ValueError, match=r"directory .*nope' does not exist"):
        open_store("sqlite", clock=clock, sampler=sampler, path=tmp_path / "nope" / "x.db")
    with pytest.raises(ValueError, match=r"a Postgres DSN takes no path, got '.*x.db'"):
        open_store("postgresql://h/db", clock=clock, sampler=sampler, path=tmp_path / "x.db")
    with pytest.raises(ValueError, match=r"bad Postgres DSN .*invalid URI query parameter"):
        open_store("postgresql://h/db?nosuch=1", clock=clock, sampler=sampler)
    with pytest.raises(ValueError, match=r"bad Postgres DSN .*percent-encoded"):
        open_store("postgresql://%zz", clock=clock, sampler=sampler)


def test_postgres_search_path_without_a_schema_is_a_bad_dsn(
    postgres_cluster: PostgresCluster, clock: VirtualClock, sampler: Sampler
) -> None:
    dsn = postgres_cluster.dsn + "?options=-csearch_path%3Dno_such_schema"
    with pytest.raises(ValueError) as err:
        open_store(dsn, clock=clock, sampler=sampler)
    assert str(err.value).endswith(
        ": no schema of its search_path (no_such_schema) exists to hold table kv_items "
        "(accepted: a search_path naming an existing schema)"
    )


def test_unreachable_postgres_is_one_clear_error_without_the_password(
    clock: VirtualClock, sampler: Sampler
) -> None:
    # Nothing listens on port 1 (a privileged port no test server uses): refused at once.
    with pytest.raises(StoreUnavailableError, match=r"connect to the store at .*port=1") as err:
        open_store("postgresql://u:s3cret@127.0.0.1:1/db", clock=clock, sampler=sampler)
    assert "s3cret" not in str(err.value)
    # ...and ends with the server's (libpq's) reason
    assert re.search(r"port=1.*: .*port 1 failed", str(err.value), re.DOTALL)
    assert "password=***" in str(err.value)


def test_a_failed_condition_names_the_table_and_the_key(store: KVStore) -> None:
    store.put("jobs", ("j", "c1"), {"status": "done"})
    with pytest.raises(ConditionalCheckFailed) as err:
        store.update("jobs", ("j", "c1"), {"status": "x"}, condition={"status": "new"})
    assert (err.value.table, err.value.key) == ("jobs", ("j", "c1"))
    assert err.value.mismatches == {"status": ("new", "done")}
    assert str(err.value) == (
        "conditional check failed on jobs[('j', 'c1')]: status: expected 'new', found 'done'"
    )


def test_an_add_that_shrinks_the_item_consumes_units_of_the_larger_before(
    store: KVStore,
) -> None:
    padding = _padded("k", 1025)["p"]
    item = {"p": padding[: -len(', "v": 100')], "v": 100}
    assert item_size("k", "", item) == 1025
    store.put("t", "k", item)
    before = store.counters.write_units
    assert store.add("t", "k", "v", -99) == 1  # the item is now 1,023 bytes
    assert store.counters.write_units == before + 2  # 1,025 bytes before: two 1 KB units


def test_a_delete_consumes_units_of_the_item_it_removes(store: KVStore) -> None:
    store.put("t", "big", _padded("big", 2049))
    before = store.counters.write_units
    store.delete("t", "big")
    assert store.counters.write_units == before + 3  # 2,049 bytes: three 1 KB units
    store.delete("t", "big")
    assert store.counters.write_units == before + 3 + 1  # nothing to remove: still one unit


@pytest.mark.parametrize(("size", "units"), [(4096, 1), (4097, 2)])
def test_a_query_consumes_read_units_of_the_items_it_returns(
    store: KVStore, size: int, units: int
) -> None:
    store.put("t", "p", _padded("p", size))  # the plain partition key: no sort key
    assert len(store.query("t", "p")) == 1
    assert store.counters.read_units == units


def test_a_query_counts_the_sort_keys_of_the_items_it_returns(store: KVStore) -> None:
    for sort in ("s1", "s2"):  # 2,048 + 2,049 bytes with their sort keys: 4,097 bytes
        size = 2048 if sort == "s1" else 2049
        store.put("t", ("p", sort), _padded("p", size - len(sort)))
        assert item_size("p", sort, store.get("t", ("p", sort)) or {}) == size
    before = store.counters.read_units
    store.query("t", "p")
    assert store.counters.read_units == before + 2  # DynamoDB: per started 4 KB of all items


@pytest.mark.parametrize(("size", "units"), [(1024, 1), (1025, 2)])
def test_a_put_counts_the_sort_key_in_its_write_units(
    store: KVStore, size: int, units: int
) -> None:
    item = _padded("p", size - len("sort"))
    assert item_size("p", "sort", item) == size
    store.put("t", ("p", "sort"), item)
    assert store.counters.write_units == units


def test_a_put_counts_a_non_ascii_key_in_utf8_bytes(store: KVStore) -> None:
    key = "€" * 10  # 10 characters, 30 bytes
    item = _padded(key, 1025)
    assert item_size(key, "", item) == 1025
    store.put("t", key, item)
    assert store.counters.write_units == 2


def test_bad_purpose_and_backend_messages_name_the_accepted_values(
    clock: VirtualClock, sampler: Sampler
) -> None:
    from durable_sim.baseline.store.kvstore import check_purpose

    with pytest.raises(ValueError) as purpose:
        check_purpose("Poll")
    assert str(purpose.value) == (
        "bad purpose 'Poll' (accepted: lowercase snake_case, 1-64 characters, "
        "e.g. 'job_creation', 'chunk_insert', 'poll', 'status_update')"
    )
    with pytest.raises(ValueError) as sqlite:
        open_store("sqlite", clock=clock, sampler=sampler)
    assert str(sqlite.value) == "the sqlite backend needs a path (accepted: a database file path)"
    with pytest.raises(ValueError) as unknown:
        open_store("redis", clock=clock, sampler=sampler)
    assert str(unknown.value) == (
        "unknown store backend 'redis' (accepted: 'memory', 'sqlite' with a path, "
        "or a libpq connection string: a postgresql:// URL or key=value pairs)"
    )
    with pytest.raises(ValueError) as unknown:
        open_store("mysql://u:S3cret@h/db", clock=clock, sampler=sampler)
    assert str(unknown.value).startswith("unknown store backend 'mysql://u:***@h/db' (accepted")


def test_the_nth_call_on_a_key_pays_the_draw_keyed_by_its_cost_key_and_n() -> None:
    """The keying `KVStore` documents, which fixes every committed store latency."""
    profile = LatencyProfile(name="noisy", kv_write=Dist(5.0, 0.5), kv_query=Dist(7.0, 0.5))
    clock = VirtualClock()
    kv = open_store("memory", clock=clock, sampler=Sampler(profile, seed=3))
    reference = Sampler(profile, seed=3)
    expected, paid = [], []
    for n in range(3):
        for call, draw_key in (
            (lambda: kv.put("t", ("p", "s"), {}), ("kv_write", "kv", "t", "p", "s", n)),
            (lambda: kv.query("t", "p"), ("kv_query", "kv", "t", "p", n)),
        ):
            start = clock.now_ms()
            call()
            paid.append(clock.now_ms() - start)
            expected.append(reference.draw(*draw_key))
    assert paid == pytest.approx(expected, rel=1e-12)
    assert len(set(paid)) == 6


def test_a_failed_condition_lists_every_mismatch_missing_attributes_as_absent(
    store: KVStore,
) -> None:
    store.put("t", "k", {"a": 2, "b": 3})
    with pytest.raises(ConditionalCheckFailed) as err:
        store.update("t", "k", {"a": 9}, condition={"c": 5, "a": 1, "b": ABSENT})
    assert err.value.mismatches == {"a": (1, 2), "b": (ABSENT, 3), "c": (5, ABSENT)}
    assert str(err.value) == (
        "conditional check failed on t['k']: a: expected 1, found 2, "
        "b: expected ABSENT, found 3, c: expected 5, found ABSENT"
    )
    assert store.get("t", "k") == {"a": 2, "b": 3}


_KEY_RULE = (
    "must be a non-empty string of Unicode characters (UTF-8, as DynamoDB's strings; no lone "
    "surrogates), got '' (accepted keys: 'partition' or ('partition', 'sort'))"
)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.get("t", ""), f"bad key '': the partition {_KEY_RULE}"),
        (lambda s: s.put("t", ("", "s"), {}), f"bad key ('', 's'): the partition {_KEY_RULE}"),
        (lambda s: s.delete("t", ("p", "")), f"bad key ('p', ''): the sort {_KEY_RULE}"),
        (
            lambda s: s.query("t", ""),
            "bad partition '' (accepted: a non-empty string, UTF-8 encodable)",
        ),
        (
            lambda s: s.put("t", "k", ["a"]),
            "bad item ['a'] (accepted: a mapping with string attribute names)",
        ),
        (
            lambda s: s.put("t", "k", 5),
            "bad item 5 (accepted: a mapping with string attribute names)",
        ),
    ],
)
def test_bad_keys_and_items_name_the_value_and_the_accepted_form(call: Any, message: str) -> None:
    kv = open_store("memory", clock=VirtualClock(), sampler=Sampler(CONST, seed=0))
    with pytest.raises(ValueError) as err:
        call(kv)
    assert str(err.value) == message
    assert kv.counters.total == 0


def test_a_bad_sqlite_path_names_the_path_and_its_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "x.db"
    with pytest.raises(ValueError) as err:
        SQLiteBackend(path)
    assert str(err.value) == (
        f"bad SQLite path {str(path)!r}: directory {str(path.parent)!r} does not exist "
        "(accepted: a file path in an existing directory)"
    )


def test_a_sqlite_call_waits_at_most_timeout_s_for_another_connections_lock(
    tmp_path: Path,
) -> None:
    """A call blocked by another connection's write lock fails after `timeout_s` (here 50 ms;
    the lock would be released after 3 s, which a longer wait would see)."""
    backend = SQLiteBackend(tmp_path / "s.db", timeout_s=0.05)
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(3.0, holder.rollback)
    release.start()
    try:
        with pytest.raises(StoreUnavailableError) as err:
            backend.get("t", "k", "")
        assert str(err.value) == f"cannot read the store {str(backend.path)!r}: database is locked"
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert backend.get("t", "k", "") is None  # the lock is gone: the same call succeeds
    backend.close()


def test_a_sqlite_backend_waits_30_s_by_default(tmp_path: Path) -> None:
    """The documented default busy timeout is 30 s; the longest accepted one is taken."""
    backend = SQLiteBackend(tmp_path / "s.db")
    assert backend.timeout_s == 30.0
    backend.close()
    longest = SQLiteBackend(tmp_path / "s.db", timeout_s=2_147_483)
    assert longest.timeout_s == 2_147_483.0
    longest.close()


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (-0.001, "-0.001"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (True, "True"),
        (np.bool_(True), "np.True_"),
        ("5", "'5'"),
        (None, "None"),
        (2_147_483.001, "2147483.001"),
        (3e6, "3000000.0"),
        (np.int64(2_147_484), "2147484"),
        (10**400, "1.000e+400"),  # formerly all 401 digits
    ],
)
def test_a_bad_sqlite_timeout_names_the_value_and_the_range(
    tmp_path: Path, bad: Any, shown: str
) -> None:
    """Longer than SQLite's millisecond C int holds, Python's sqlite3 waited not at all."""
    with pytest.raises(ValueError) as err:
        SQLiteBackend(tmp_path / "s.db", timeout_s=bad)
    assert str(err.value) == (
        f"bad SQLite timeout_s={shown} (accepted: a number of seconds from 0 to 2147483)"
    )
    assert not (tmp_path / "s.db").exists()  # nothing half-made


@pytest.mark.parametrize("good", [5, 5.0, np.int64(5), np.float64(5), np.int32(5), np.float32(5)])
def test_a_sqlite_timeout_is_any_real_number_and_stored_as_a_float(
    tmp_path: Path, good: Any
) -> None:
    """`np.float64(5)` was accepted and `np.int64(5)` refused; now every real number is."""
    backend = SQLiteBackend(tmp_path / "s.db", timeout_s=good)
    assert type(backend.timeout_s) is float and backend.timeout_s == 5.0
    backend.close()


def test_a_sqlite_timeout_of_minus_zero_is_stored_as_zero(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "s.db", timeout_s=-0.0)
    assert math.copysign(1.0, backend.timeout_s) == 1.0  # formerly -0.0
    backend.close()


def test_postgres_store_call_the_server_does_not_answer_fails_within_its_deadline(
    postgres_cluster: PostgresCluster, postgres_dsn: str
) -> None:
    """Formerly a call waited without a deadline (here: for a row lock another transaction
    holds; a stopped server, tests/test_pgconn.py); the next call reconnects."""
    from durable_sim.baseline.store.postgres import PostgresBackend

    backend = PostgresBackend(postgres_dsn, query_timeout_s=1)
    backend.put("t", "k", "s", '{"v": 1}')
    with psycopg.connect(postgres_dsn) as holder:
        holder.execute("UPDATE kv_items SET item = item")  # holds every row's lock, uncommitted
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=r"query_timeout_s=1 s"):
            backend.modify("t", "k", "s", lambda item: {"v": 2})
        assert time.monotonic() - started < 15  # formerly: until the holder let go
        holder.rollback()
    assert backend.get("t", "k", "s") == {"v": 1}  # reconnected; the failed write left nothing
    backend.close()


@pytest.mark.parametrize("name", ["connect_timeout_s", "query_timeout_s"])
@pytest.mark.parametrize("bad", [0, -1.0, 0.5, 2**31, float("nan"), float("inf"), True])
def test_a_bad_postgres_deadline_names_the_option_and_the_range(name: str, bad: Any) -> None:
    """Checked before any connection is tried (none could be made to port 1)."""
    with pytest.raises(ValueError) as err:
        PostgresBackend("postgresql://u@127.0.0.1:1/db", **{name: bad})
    assert str(err.value) == (
        f"bad {name}={bad!r} (accepted: a number of seconds from 1 to 2147483647)"
    )


def test_a_postgres_store_connects_with_the_deadlines_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both deadlines reach the connection (`durable_sim.pgconn.connect`), not its defaults."""
    from durable_sim import pgconn

    given: list[dict[str, Any]] = []

    def refuse(dsn: str, **deadlines: Any) -> Any:
        given.append(deadlines)
        raise psycopg.OperationalError("refused")

    monkeypatch.setattr(pgconn, "connect", refuse)
    with pytest.raises(StoreUnavailableError):
        PostgresBackend("postgresql://u@127.0.0.1:1/db", connect_timeout_s=3, query_timeout_s=4)
    assert given == [{"connect_timeout_s": 3.0, "query_timeout_s": 4.0}]


def test_a_sqlite_backend_may_fail_at_once_on_a_lock(tmp_path: Path) -> None:
    """``timeout_s=0`` (no wait for another connection's lock) is in range."""
    backend = SQLiteBackend(tmp_path / "s.db", timeout_s=0)
    assert backend.timeout_s == 0.0
    backend.close()
