"""The key-value store the baseline's functions call: counts every call and charges its latency.

`KVStore` wraps a raw `Backend` once, so the accounting is the same for every backend. Each
call that reaches the store is counted by kind and by the caller's *purpose* label, whether it
succeeds or not (a failed conditional write is still a round trip), and its latency is charged
to the clock the store is bound to. Argument errors are raised before anything is counted.

Kinds (``StoreCounters`` fields) and the latency cost charged for each call:

============  =====================================  ==========
call          counted as                              cost
============  =====================================  ==========
``get``       ``reads``                               ``kv_read``
``put``       ``writes``                              ``kv_write``
``update``    ``writes`` (+ ``conditional_failures``  ``kv_write``
              when its condition does not hold)
``add``       ``writes``                              ``kv_write``
``delete``    ``deletes``                             ``kv_write``
``query``     ``queries`` (a poll is a query)         ``kv_query``
============  =====================================  ==========

``total`` is ``reads + writes + deletes + queries``: the paper's "store operations".

Each call also consumes DynamoDB on-demand request units, counted as DynamoDB reports them
(``ConsumedCapacity``; rules from the DynamoDB Developer Guide, "Read/write capacity mode",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/capacity-mode.html):

* ``read_units``: a ``get`` consumes one unit per started 4 KB of the item read (reads are
  strongly consistent: this store always returns the latest write); a ``query`` one unit per
  started 4 KB of all items returned together; at least one unit per call.
* ``write_units``: a write consumes one unit per started 1 KB of the larger of the item before
  and after it (``update`` and ``add``; a failed conditional write still consumes them), of the
  item written (``put``), or of the item removed (``delete``); at least one unit per call.

Item sizes are `item_size` bytes: an approximation of DynamoDB's (attribute names plus values)
that counts the JSON text, so it errs a few bytes high.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from durable_sim.baseline.store.backend import Backend
from durable_sim.baseline.store.memory import MemoryBackend
from durable_sim.baseline.store.model import (
    ConditionalCheckFailed,
    Item,
    Key,
    apply_add,
    apply_update,
    check_attr,
    check_condition,
    check_delta,
    check_partition,
    check_table,
    encode_item,
    item_size,
    read_units,
    split_key,
    write_units,
)
from durable_sim.baseline.store.postgres import PostgresBackend
from durable_sim.baseline.store.sqlite import SQLiteBackend
from durable_sim.clock import Clock
from durable_sim.dsn import is_postgres_dsn, redact
from durable_sim.latency import Sampler

DEFAULT_PURPOSE = "other"
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass
class StoreCounters:
    """Store calls by kind, and all calls by the caller's purpose label."""

    reads: int = 0
    writes: int = 0
    conditional_failures: int = 0
    queries: int = 0
    deletes: int = 0
    read_units: int = 0
    write_units: int = 0
    by_purpose: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All store round trips (a failed conditional write is one of the ``writes``)."""
        return self.reads + self.writes + self.queries + self.deletes

    def as_row(self) -> dict[str, int]:
        """Flat columns for a results row: ``store_ops``, per kind, and ``store_ops_<purpose>``."""
        row = {
            "store_ops": self.total,
            "store_reads": self.reads,
            "store_writes": self.writes,
            "store_conditional_failures": self.conditional_failures,
            "store_queries": self.queries,
            "store_deletes": self.deletes,
            "store_read_units": self.read_units,
            "store_write_units": self.write_units,
        }
        row.update({f"store_ops_{p}": n for p, n in sorted(self.by_purpose.items())})
        return row


def check_purpose(purpose: object) -> str:
    """Validate a purpose label (it becomes part of a column name)."""
    if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
        raise ValueError(
            f"bad purpose {purpose!r} (accepted: lowercase snake_case, 1-64 characters, "
            "e.g. 'job_creation', 'chunk_insert', 'poll', 'status_update')"
        )
    return purpose


@dataclass
class _Shared:
    """State every view of one store shares: the data, the counts, the draw indices."""

    backend: Backend
    sampler: Sampler
    counters: StoreCounters = field(default_factory=StoreCounters)
    draws: Counter[tuple[str, ...]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class KVStore:
    """A DynamoDB-shaped store over a raw backend, counting and charging every call.

    Latency draws are keyed by identity, ``(cost, "kv", table, partition, sort, n)`` with `n`
    the number of earlier calls of that cost on that key, so they do not depend on how calls
    on *different* keys interleave across threads.
    """

    def __init__(self, backend: Backend, *, clock: Clock, sampler: Sampler) -> None:
        self._shared = _Shared(backend=backend, sampler=sampler)
        self._clock = clock

    def bind(self, clock: Clock) -> KVStore:
        """A view of the same store (same data, same counters) that charges `clock`.

        A function running on a forked clock binds the store to its own clock, so its store
        latency is charged to its own timeline.
        """
        view = copy.copy(self)
        view._clock = clock
        return view

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def counters(self) -> StoreCounters:
        """A snapshot of the counts so far."""
        with self._shared.lock:
            return copy.deepcopy(self._shared.counters)

    def _account(self, kind: str, cost: str, purpose: str, draw_key: tuple[str, ...]) -> None:
        shared = self._shared
        with shared.lock:
            counters = shared.counters
            setattr(counters, kind, getattr(counters, kind) + 1)
            counters.by_purpose[purpose] = counters.by_purpose.get(purpose, 0) + 1
            index = shared.draws[(cost, *draw_key)]
            shared.draws[(cost, *draw_key)] += 1
        self._clock.charge(shared.sampler.draw(cost, "kv", *draw_key, index))

    def _consume(self, *, read: int = 0, write: int = 0) -> None:
        with self._shared.lock:
            self._shared.counters.read_units += read
            self._shared.counters.write_units += write

    def get(self, table: str, key: Key, *, purpose: str = DEFAULT_PURPOSE) -> Item | None:
        """The item at `key`, or None (``GetItem``)."""
        check_table(table)
        pk, sk = split_key(key)
        self._account("reads", "kv_read", check_purpose(purpose), (table, pk, sk))
        item = self._shared.backend.get(table, pk, sk)
        self._consume(read=read_units(0 if item is None else item_size(pk, sk, item)))
        return item

    def put(
        self, table: str, key: Key, item: Mapping[str, object], *, purpose: str = DEFAULT_PURPOSE
    ) -> None:
        """Store `item` at `key`, replacing any previous item (``PutItem``)."""
        check_table(table)
        pk, sk = split_key(key)
        text = encode_item(item)
        self._account("writes", "kv_write", check_purpose(purpose), (table, pk, sk))
        self._shared.backend.put(table, pk, sk, text)
        self._consume(write=write_units(len(pk.encode()) + len(sk.encode()) + len(text.encode())))

    def update(
        self,
        table: str,
        key: Key,
        changes: Mapping[str, object],
        *,
        condition: Mapping[str, object] | None = None,
        purpose: str = DEFAULT_PURPOSE,
    ) -> Item:
        """Set the attributes in `changes` if `condition` holds; return the new item.

        `condition` maps attribute names to the values they must hold now (`ABSENT`: must not
        exist): a compare-and-swap. When it does not hold, nothing is written, the failure is
        counted and `ConditionalCheckFailed` is raised. A missing item is created
        (``UpdateItem`` with a ``ConditionExpression``).
        """
        check_table(table)
        pk, sk = split_key(key)
        encode_item(changes)
        expected = check_condition(condition)
        self._account("writes", "kv_write", check_purpose(purpose), (table, pk, sk))
        new = dict(changes)
        before: list[int] = []

        def change(current: Item | None) -> Item:
            before.append(0 if current is None else item_size(pk, sk, current))
            return apply_update(table, key, current, new, expected)

        try:
            item = self._shared.backend.modify(table, pk, sk, change)
        except ConditionalCheckFailed:
            with self._shared.lock:
                self._shared.counters.conditional_failures += 1
            self._consume(write=write_units(before[0]))
            raise
        self._consume(write=write_units(max(before[0], item_size(pk, sk, item))))
        return item

    def add(
        self, table: str, key: Key, attr: str, delta: float, *, purpose: str = DEFAULT_PURPOSE
    ) -> float:
        """Atomically add `delta` to the number `attr` (missing: 0); return the new value.

        DynamoDB's ``UpdateItem`` with ``ADD``: no read-modify-write race, one round trip.
        """
        check_table(table)
        pk, sk = split_key(key)
        check_attr(attr)
        check_delta(delta)
        self._account("writes", "kv_write", check_purpose(purpose), (table, pk, sk))
        before: list[int] = []

        def change(current: Item | None) -> Item:
            before.append(0 if current is None else item_size(pk, sk, current))
            return apply_add(table, key, current, attr, delta)

        item = self._shared.backend.modify(table, pk, sk, change)
        self._consume(write=write_units(max(before[0], item_size(pk, sk, item))))
        value: float = item[attr]
        return value

    def delete(self, table: str, key: Key, *, purpose: str = DEFAULT_PURPOSE) -> None:
        """Remove the item at `key`; no error if there is none (``DeleteItem``)."""
        check_table(table)
        pk, sk = split_key(key)
        self._account("deletes", "kv_write", check_purpose(purpose), (table, pk, sk))
        item = self._shared.backend.get(table, pk, sk)
        self._shared.backend.delete(table, pk, sk)
        self._consume(write=write_units(0 if item is None else item_size(pk, sk, item)))

    def query(self, table: str, partition: str, *, purpose: str = DEFAULT_PURPOSE) -> list[Item]:
        """Items whose key's partition is `partition`, in sort-key order (``Query``).

        The plain-string key ``partition`` (no sort key) comes first if it exists.
        """
        check_table(table)
        pk = check_partition(partition)
        self._account("queries", "kv_query", check_purpose(purpose), (table, pk))
        pairs = self._shared.backend.query(table, pk)
        self._consume(read=read_units(sum(item_size(pk, sk, item) for sk, item in pairs)))
        return [item for _, item in pairs]

    def close(self) -> None:
        """Close the backend (every view shares it)."""
        self._shared.backend.close()


def open_store(
    backend: str, *, clock: Clock, sampler: Sampler, path: str | Path | None = None
) -> KVStore:
    """A counting store on the backend named by `backend`.

    ``"memory"`` (no `path`); ``"sqlite"`` with `path`, a database file in an existing
    directory; or a libpq connection string (no `path`): a ``postgresql://`` (or
    ``postgres://``) URL, e.g. ``"postgresql://user@127.0.0.1/db?options=-csearch_path%3Dexp1"``,
    or ``key=value`` pairs, e.g. ``"host=127.0.0.1 dbname=db options=-csearch_path=exp1"``.

    Raises:
        ValueError: an unknown backend, a missing or extra `path`, a bad SQLite path or DSN
            (named with its secrets masked, `durable_sim.dsn.redact`).
        StoreUnavailableError: the Postgres server cannot be reached or does not answer.
    """
    if backend == "memory":
        _check_no_path(path, "the memory backend")
        return KVStore(MemoryBackend(), clock=clock, sampler=sampler)
    if backend == "sqlite":
        if path is None:
            raise ValueError("the sqlite backend needs a path (accepted: a database file path)")
        return KVStore(SQLiteBackend(path), clock=clock, sampler=sampler)
    if isinstance(backend, str) and is_postgres_dsn(backend):
        _check_no_path(path, "a Postgres DSN")
        return KVStore(PostgresBackend(backend), clock=clock, sampler=sampler)
    shown = repr(redact(backend)) if isinstance(backend, str) else redact(repr(backend))
    raise ValueError(
        f"unknown store backend {shown} (accepted: 'memory', 'sqlite' with a path, "
        "or a libpq connection string: a postgresql:// URL or key=value pairs)"
    )


def _check_no_path(path: str | Path | None, what: str) -> None:
    if path is not None:
        raise ValueError(f"{what} takes no path, got {str(path)!r}")
