"""Python's cyclic garbage collector paused over a region of simulation work.

A simulated run allocates many container objects that stay alive until it ends (operation
records, history entries, a batch's thousands of suspended branch coroutines, the time trace),
and every full collection meanwhile walks all of them with nothing to free: the engine's
objects form no reference cycles and are freed by reference counting when the run ends. Pausing
the collector over such a region saves that work; a cycle made by workflow code meanwhile is
freed by the first collection after the region.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the ``with`` block, then restore the state found.

    Re-entrant: a nested region, or a caller that disabled the collector itself, leaves it as it
    found it. The collector is process-wide: a thread that enables it meanwhile ends the pause.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
