"""Shared fixtures: a constant-cost latency profile and a store on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(params=["memory", "sqlite"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: VirtualClock, sampler: Sampler
) -> Iterator[KVStore]:
    path = tmp_path / "store.db" if request.param == "sqlite" else None
    kv = open_store(request.param, clock=clock, sampler=sampler, path=path)
    yield kv
    kv.close()
