"""Shared helpers for the durable engine's tests: constant costs and body-execution counters."""

from __future__ import annotations

from collections import Counter

import pytest

from durable_sim.latency import Dist, LatencyProfile

STEP_MS = 100.0

# Only a step costs time, so elapsed virtual time counts step executions exactly.
STEP_ONLY = LatencyProfile(name="test-step-only", step=Dist(STEP_MS))


@pytest.fixture
def calls() -> Counter[str]:
    """A side channel: step bodies count their executions here, keyed by their identity."""
    return Counter()
