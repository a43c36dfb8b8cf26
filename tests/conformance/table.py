"""The pass table: for each of AWS's suites, how many requirements each engine meets.

An outcome is one of ``pass``, ``known`` (a declared difference, with its reason) and ``not
applicable`` (a suite left out, with the reason). `declared` derives the outcomes the cases
declare; the strict xfails of the requirement tests fail the suite whenever an engine does better
or worse than declared, so when the tests pass the declared outcomes are the observed ones.
`tools/conformance.py` runs the tests, checks exactly that, and writes the files with `write`;
`test_table.py` checks the committed files against `declared`.

Files (deterministic, byte-stable): ``conformance.csv`` (suite, requirements, then per engine the
applicable requirements and those met, and a final ``all`` row), ``conformance_notes.csv``
(engine, note: ``known`` difference, ``not applicable`` or ``wall clock`` (aws-local run without
time skipping), its reason, the requirement ids, their count) and ``conformance.md`` (both, for
reading).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from . import (
    test_callback,
    test_child,
    test_invoke,
    test_map,
    test_parallel,
    test_step,
    test_wait,
    test_wait_for_callback,
    test_wait_for_condition,
)
from .harness import ENGINES, Case
from .requirements import ROOT, SUITES, requirements

PASS, KNOWN, NOT_APPLICABLE = "pass", "known", "not applicable"
Outcome = tuple[str, str | None]  # (kind, reason)

EXCLUDED: dict[str, str] = {
    "plugin": (
        "AWS's plugin suite observes the SDK's instrumentation-plugin hooks (invocation, "
        "operation and attempt start/end) only through the records a plugin logs; our engine "
        "has no plugin hooks, so the issue leaves this suite out on both engines"
    ),
}
CASES: dict[str, Mapping[str, Case]] = {
    "step": test_step.CASES,
    "wait": test_wait.CASES,
    "child": test_child.CASES,
    "callback": test_callback.CASES,
    "invoke": test_invoke.CASES,
    "wait_for_condition": test_wait_for_condition.CASES,
    "wait_for_callback": test_wait_for_callback.CASES,
    "parallel": test_parallel.CASES,
    "map": test_map.CASES,
}
ROOT_GENERATED = ROOT / "paper" / "conformance"
TABLE = "conformance.csv"
NOTES = "conformance_notes.csv"
REPORT = "conformance.md"


def declared() -> dict[tuple[str, str], Outcome]:
    """(requirement id, engine) -> the outcome the cases declare, for every requirement."""
    outcomes: dict[tuple[str, str], Outcome] = {}
    for req in requirements().values():
        case = CASES.get(req.suite, {}).get(req.id)
        for engine in ENGINES:
            if req.suite in EXCLUDED:
                outcomes[req.id, engine] = (NOT_APPLICABLE, EXCLUDED[req.suite])
            elif case is None:
                raise KeyError(f"requirement {req.id} ({req.suite}) has no case")
            elif engine in case.known:
                outcomes[req.id, engine] = (KNOWN, case.known[engine].reason)
            else:
                outcomes[req.id, engine] = (PASS, None)
    return outcomes


def _column(engine: str) -> str:
    return engine.replace("-", "_")


def table_rows(outcomes: Mapping[tuple[str, str], Outcome]) -> list[dict[str, int | str]]:
    """One row per suite (in AWS's order) and a final ``all`` row."""
    rows: list[dict[str, int | str]] = []
    for suite in [*SUITES, "all"]:
        ids = [r.id for r in requirements().values() if suite in ("all", r.suite)]
        row: dict[str, int | str] = {"suite": suite, "requirements": len(ids)}
        for engine in ENGINES:
            kinds = [outcomes[i, engine][0] for i in ids]
            row[f"applicable_{_column(engine)}"] = sum(k != NOT_APPLICABLE for k in kinds)
            row[f"pass_{_column(engine)}"] = sum(k == PASS for k in kinds)
        rows.append(row)
    return rows


WALL_CLOCK = "wall clock"


def note_rows(outcomes: Mapping[tuple[str, str], Outcome]) -> list[dict[str, int | str]]:
    """One row per (engine, note, reason) with the requirement ids it concerns: every known
    difference and exclusion, and the requirements aws-local runs on the wall clock."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for (req_id, engine), (kind, reason) in outcomes.items():
        if kind != PASS and reason is not None:
            grouped.setdefault((engine, kind, reason), []).append(req_id)
    for cases in CASES.values():
        for req_id, case in cases.items():
            if case.real_time is not None:
                grouped.setdefault(("aws-local", WALL_CLOCK, case.real_time), []).append(req_id)
    order = {req_id: i for i, req_id in enumerate(requirements())}
    rows: list[dict[str, int | str]] = []
    for (engine, note, reason), ids in grouped.items():
        ids.sort(key=order.__getitem__)
        rows.append(
            {
                "engine": engine,
                "note": note,
                "reason": reason,
                "requirements": " ".join(ids),
                "count": len(ids),
            }
        )
    rows.sort(
        key=lambda r: (ENGINES.index(str(r["engine"])), order[str(r["requirements"]).split()[0]])
    )
    return rows


def _csv(rows: list[dict[str, int | str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _markdown(table: list[dict[str, int | str]], notes: list[dict[str, int | str]]) -> str:
    engines = " | ".join(f"applicable ({e}) | pass ({e})" for e in ENGINES)
    lines = [
        "# AWS durable execution conformance requirements, checked offline",
        "",
        "Requirements: `aws-durable-execution-conformance-tests` 1.0.0; checks: status, result,",
        "execution history (AWS's matcher) and expected logs. Regenerate with `make conformance`.",
        "",
        f"| suite | requirements | {engines} |",
        "| --- | --: |" + " --: |" * (2 * len(ENGINES)),
    ]
    for row in table:
        cells = [str(row[k]) for k in row]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Notes: why a requirement is not met, not applicable, or run otherwise", ""]
    for row in notes:
        lines.append(
            f"- **{row['engine']}**, {row['note']} ({row['count']}: {row['requirements']}): "
            f"{row['reason']}."
        )
    return "\n".join(lines) + "\n"


def render(outcomes: Mapping[tuple[str, str], Outcome]) -> dict[str, str]:
    """File name -> contents of the three generated files."""
    table = table_rows(outcomes)
    notes = note_rows(outcomes)
    return {TABLE: _csv(table), NOTES: _csv(notes), REPORT: _markdown(table, notes)}


def write(directory: Path, outcomes: Mapping[tuple[str, str], Outcome]) -> list[Path]:
    """Write the three files into `directory`, each replaced whole (never half-written)."""
    written = []
    for name, text in render(outcomes).items():
        target = directory / name
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, target)
        written.append(target)
    return written
