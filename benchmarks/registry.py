"""The benchmark registry: each area module registers functions that return result rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure, its target and whether it was met."""

    area: str
    name: str
    value: float
    unit: str
    target: str
    passed: bool | None  # None: informational, no target


Benchmark = Callable[[], list[Row]]
BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[Benchmark], Benchmark]:
    """Register a benchmark function under `name` (run in registration order)."""

    def register(func: Benchmark) -> Benchmark:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is registered twice")
        BENCHMARKS[name] = func
        return func

    return register
