"""Run every registered benchmark (or those named on the command line) and print one table."""

from __future__ import annotations

import argparse
import sys

from benchmarks import (  # noqa: F401 - each module registers its benchmarks
    calibrate,
    dispatch,
    engine,
    featurecosts,
    journal,
    sidebyside,
    store,
    sweeps,
    workloads,
)
from benchmarks.registry import BENCHMARKS, Row


def _format(rows: list[Row]) -> str:
    header = ("area", "figure", "value", "unit", "target", "result")
    lines = [
        (
            r.area,
            r.name,
            f"{r.value:,.3f}" if abs(r.value) < 100 else f"{r.value:,.0f}",
            r.unit,
            r.target,
            "-" if r.passed is None else ("PASS" if r.passed else "MISS"),
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (all: {sorted(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown} (accepted: {sorted(BENCHMARKS)})")
    rows: list[Row] = []
    for name, func in BENCHMARKS.items():
        if not args.names or name in args.names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows += func()
    print(_format(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
