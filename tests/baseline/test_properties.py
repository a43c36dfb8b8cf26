"""Property: the memory, SQLite and Postgres backends behave identically under any call sequence."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim.baseline import ABSENT, ConditionalCheckFailed, KVStore, open_store
from durable_sim.baseline.store.model import decode_item, encode_item
from durable_sim.clock import VirtualClock
from durable_sim.latency import Dist, LatencyProfile, Sampler

NOISY = LatencyProfile(
    name="noisy", kv_read=Dist(2, 0.3), kv_write=Dist(5, 0.3), kv_query=Dist(7, 0.3)
)
PARTITIONS = ["p1", "p2"]
# Sort keys whose order differs between code points, bytes and a locale's collation, and NUL.
SORT_KEYS = ["a", "B", "b", "a\x00", "\x00", "é", "z", "\U0001f600", "\uffff"]
keys = st.one_of(
    st.sampled_from(PARTITIONS), st.tuples(st.sampled_from(PARTITIONS), st.sampled_from(SORT_KEYS))
)
values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("xy", max_size=2))
items = st.dictionaries(st.sampled_from(["n", "s", "v"]), values, max_size=3)
conditions = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(["n", "s"]), st.one_of(values, st.just(ABSENT)))
)
ops = st.one_of(
    st.tuples(st.just("get"), keys),
    st.tuples(st.just("put"), keys, items),
    st.tuples(st.just("update"), keys, items, conditions),
    st.tuples(st.just("add"), keys, st.integers(-3, 3)),
    st.tuples(st.just("delete"), keys),
    st.tuples(st.just("query"), st.sampled_from(PARTITIONS)),
)


def run(kv: KVStore, program: list[tuple[Any, ...]]) -> list[Any]:
    """Apply the calls, recording each result or the kind of error it raised."""
    out: list[Any] = []
    for op, *args in program:
        try:
            if op == "add":
                out.append(kv.add("t", args[0], "n", args[1], purpose="counter"))
            elif op == "update":
                out.append(kv.update("t", args[0], args[1], condition=args[2]))
            else:
                out.append(getattr(kv, op)("t", *args))
        except (ConditionalCheckFailed, TypeError) as exc:
            out.append(type(exc).__name__)
    out.append([kv.query("t", p, purpose="final") for p in PARTITIONS])
    return out


# One Postgres schema serves the whole test and each example empties it first (hence the
# function-scoped fixture is safe here).
@settings(
    max_examples=examples(60),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(program=st.lists(ops, max_size=25))
def test_memory_sqlite_and_postgres_agree(
    postgres_dsn: str, program: list[tuple[Any, ...]]
) -> None:
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend, path in (
            ("memory", None),
            ("sqlite", Path(tmp) / "kv.db"),
            (postgres_dsn, None),
        ):
            clock = VirtualClock()
            kv = open_store(backend, clock=clock, sampler=Sampler(NOISY, 11), path=path)
            if backend == postgres_dsn:
                with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                    conn.execute("TRUNCATE kv_items")
            outcomes.append((run(kv, program), kv.counters, clock.now_ms()))
            kv.close()
    assert outcomes[0] == outcomes[1] == outcomes[2]


@settings(max_examples=examples(200), derandomize=True, deadline=None)
@given(st.dictionaries(st.text(max_size=4), values, max_size=6))
def test_an_item_has_one_json_text_whatever_its_attribute_order(item: dict[str, Any]) -> None:
    """`encode_item` is the one serialization every backend stores: an item's text does not
    depend on the order its attributes were set in (JSON objects, like DynamoDB's items, are
    unordered), so every backend stores, sizes and returns it alike."""
    reordered = dict(reversed(list(item.items())))
    assert encode_item(reordered) == encode_item(item)
    assert decode_item(encode_item(item)) == item
