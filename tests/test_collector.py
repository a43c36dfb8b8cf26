"""The cyclic collector paused over a region: the state found is restored, even on an error."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from durable_sim.collector import collector_paused


@pytest.fixture
def collector_state() -> Any:
    """Restore the collector's state whatever a test leaves it in."""
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_restores_the_state_it_found(enabled: bool, collector_state: Any) -> None:
    if enabled:
        gc.enable()
    else:
        gc.disable()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # a nested batch
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled() is enabled
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("a branch's error")
    assert gc.isenabled() is enabled
