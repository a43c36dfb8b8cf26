"""Shared fixtures: a constant-cost latency profile and a store on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_sim.baseline import KVStore, open_store
from durable_sim.clock import VirtualClock
from durable_sim.latency import Dist, LatencyProfile, Sampler

CONST = LatencyProfile(
    name="test-constant",
    invoke=Dist(10.0),
    cold_start=Dist(100.0),
    kv_read=Dist(2.0),
    kv_write=Dist(5.0),
    kv_query=Dist(7.0),
)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sampler() -> Sampler:
    return Sampler(CONST, seed=7)


BACKENDS = ["memory", "sqlite", "postgres"]
SHARED_BACKENDS = ["sqlite", "postgres"]  # several store objects, or processes, on one location


def store_location(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> dict[str, Any]:
    """`open_store` arguments for a fresh, empty store on `backend` (Postgres: a new schema)."""
    if backend == "sqlite":
        return {"backend": "sqlite", "path": tmp_path / "store.db"}
    if backend == "postgres":
        return {"backend": request.getfixturevalue("postgres_dsn")}
    return {"backend": backend}


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: VirtualClock, sampler: Sampler
) -> Iterator[KVStore]:
    kv = open_store(
        **store_location(request, request.param, tmp_path), clock=clock, sampler=sampler
    )
    yield kv
    kv.close()


@pytest.fixture(params=SHARED_BACKENDS)
def shared_location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where two store objects (or processes) can open the same data."""
    return store_location(request, request.param, tmp_path)
