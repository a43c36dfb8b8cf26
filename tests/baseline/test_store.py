"""Store semantics on both backends, counts by kind and purpose, charged latency, errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from durable_sim.baseline import (
    ABSENT,
    ConditionalCheckFailed,
    KVStore,
    StoreCounters,
    open_store,
)
from durable_sim.baseline.store.model import item_size
from durable_sim.clock import VirtualClock
from durable_sim.latency import Dist, LatencyProfile, Sampler

from .conftest import CONST


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


def test_sqlite_persists_across_store_objects(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "state.db"
    first = open_store("sqlite", clock=clock, sampler=Sampler(CONST, 1), path=path)
    first.put("jobs", ("j", "c1"), {"done": True})
    first.add("counters", "c", "value", 5)
    first.close()
    second = open_store("sqlite", clock=clock, sampler=Sampler(CONST, 1), path=path)
    assert second.get("jobs", ("j", "c1")) == {"done": True}
    assert second.add("counters", "c", "value", 1) == 6
    assert second.counters.total == 2  # counts belong to the store object, not the file
    second.close()


def test_two_sqlite_stores_on_one_file_see_each_others_writes(
    tmp_path: Path, clock: VirtualClock
) -> None:
    path = tmp_path / "shared.db"
    a = open_store("sqlite", clock=clock, sampler=Sampler(CONST, 1), path=path)
    b = open_store("sqlite", clock=clock, sampler=Sampler(CONST, 1), path=path)
    a.update("t", "k", {"owner": "a"}, condition={"owner": ABSENT})
    with pytest.raises(ConditionalCheckFailed):
        b.update("t", "k", {"owner": "b"}, condition={"owner": ABSENT})
    assert b.get("t", "k") == {"owner": "a"}
    a.close()
    b.close()


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
        (lambda s: s.query("t", ("p", "s")), r"bad partition \('p', 's'\)"),
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
