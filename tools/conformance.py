"""Run AWS's conformance requirements on both engines and write the pass table.

    python tools/conformance.py [--out paper/conformance] [--workers 2]

Runs ``tests/conformance`` with pytest and records each requirement's outcome on each engine: met,
or a declared known difference (a strict xfail, with its reason); the requirements of a suite left
out are not applicable. If any test failed or was skipped, or an outcome differs from what the
cases declare, it prints the disagreements, writes nothing and exits 1; otherwise it writes
``conformance.csv``, ``conformance_notes.csv`` and ``conformance.md`` (see
`tests.conformance.table`).
Takes about two minutes on two cores: aws-local waits out real callback timeouts.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.conformance.table import (  # noqa: E402
    KNOWN,
    NOT_APPLICABLE,
    PASS,
    Outcome,
    declared,
    write,
)

_NODE = re.compile(r"\[(?P<req>\d+-\d+)-(?P<engine>sim|aws-local)\]$")


class Recorder:
    """A pytest plugin that keeps each requirement test's outcome."""

    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.failures: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        match = _NODE.search(report.nodeid)
        if match is None:
            if report.failed:
                self.failures.append(f"{report.nodeid}: failed")
            return
        key = (match["req"], match["engine"])
        if report.failed:
            self.failures.append(f"{report.nodeid}: failed")
        elif report.skipped and hasattr(report, "wasxfail"):
            self.outcomes[key] = (KNOWN, report.wasxfail)
        elif report.skipped:
            self.failures.append(f"{report.nodeid}: skipped")
        elif report.when == "call":
            self.outcomes[key] = (PASS, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "paper" / "conformance"), help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (0: none)")
    args = parser.parse_args(argv)
    recorder = Recorder()
    workers = ["-n", str(args.workers)] if args.workers > 0 else ["-p", "no:xdist"]
    suite = ROOT / "tests" / "conformance"
    not_stale_check = "not test_committed_table_is_current"  # the files this run rewrites
    code = pytest.main(
        ["-q", "-p", "no:cacheprovider", *workers, "-k", not_stale_check, str(suite)],
        plugins=[recorder],
    )
    expected = declared()
    observed = dict(recorder.outcomes)
    for key, (kind, _) in expected.items():
        if kind == NOT_APPLICABLE and key not in observed:
            observed[key] = expected[key]  # excluded suites have no tests to run
    problems = list(recorder.failures)
    for key in sorted(set(expected) | set(observed)):
        if expected.get(key) != observed.get(key):
            problems.append(
                f"{key[0]} on {key[1]}: declared {expected.get(key)}, observed {observed.get(key)}"
            )
    if code != 0 or problems:
        print("conformance: not writing the table:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    for path in write(Path(args.out), observed):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
