"""Mutation testing with mutmut: the score per package and every surviving mutant.

    python tools/mutate.py [durable] [baseline] [stats]     (default: all three)

Each target runs in its own temporary copy of ``src/``, ``tests/`` and ``pyproject.toml`` (mutmut
writes its ``mutants/`` tree and its cache beside the code it mutates, so the working tree is
never touched), against the tests that mirror it, with pytest-xdist off (mutmut runs each
mutant's covering tests itself, in forked children). The score is the share of mutants the tests
detect (killed, timed out or crashed) over those plus the survivors, the suspicious ones and the
mutants no test reaches; each missed mutant is printed with its diff. Mutants mutmut skips are
counted apart.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: target -> (the files to mutate, a glob; the tests that mirror it), relative to the root.
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "durable": ("src/durable_sim/durable/*", ("tests/durable/", "tests/engines/")),
    "baseline": ("src/durable_sim/baseline/*", ("tests/baseline/",)),
    "stats": ("src/durable_sim/analysis/stats.py", ("tests/analysis/",)),
}
#: mutmut's summary counts (``export-cicd-stats``) that mean the tests noticed the mutant...
DETECTED = ("killed", "timeout", "segfault")
#: ...and those that mean they did not (suspicious: passed, but unusually slowly).
MISSED = ("survived", "no_tests", "suspicious")
#: How `mutmut results` labels the missed ones.
MISSED_LABELS = (": survived", ": no tests", ": suspicious")


def _config(code: str, tests: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{t}"' for t in tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f'only_mutate = ["{code}"]\n'
        f"pytest_add_cli_args_test_selection = [{quoted}]\n"
        'pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:cacheprovider", "-q"]\n'
    )


def run_target(name: str, workdir: Path, max_children: int) -> dict[str, object]:
    """Run mutmut on one target in a fresh copy; returns its counts and survivors."""
    code, tests = TARGETS[name]
    copy = workdir / name
    copy.mkdir()
    for part in ("src", "tests"):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (copy / "pyproject.toml").write_text(pyproject + _config(code, tests), encoding="utf-8")
    mutmut = [sys.executable, "-m", "mutmut"]
    run = subprocess.run(
        [*mutmut, "run", "--max-children", str(max_children)],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    if not (copy / "mutants").is_dir():
        raise SystemExit(f"mutmut run failed for {name}:\n{run.stderr[-3000:]}")
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=copy, check=True, capture_output=True)
    stats = json.loads((copy / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run(
        [*mutmut, "results"], cwd=copy, check=True, capture_output=True, text=True
    ).stdout
    survivors = []
    for line in listing.splitlines():
        if line.rstrip().endswith(MISSED_LABELS):
            mutant = line.strip().rsplit(":", 1)[0]
            diff = subprocess.run(
                [*mutmut, "show", mutant], cwd=copy, check=True, capture_output=True, text=True
            ).stdout.splitlines()
            changed = [
                d.strip() for d in diff if d[:1] in ("+", "-") and d[:3] not in ("+++", "---")
            ]
            survivors.append(f"{line.strip()}  " + "  =>  ".join(changed))
    detected = sum(int(stats.get(key, 0)) for key in DETECTED)
    missed = sum(int(stats.get(key, 0)) for key in MISSED)
    return {
        "target": name,
        "detected": detected,
        "missed": missed,
        "skipped": int(stats.get("skipped", 0)),
        "score": detected / (detected + missed) if detected + missed else float("nan"),
        "survivors": survivors,
        "stats": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("targets", nargs="*", choices=list(TARGETS), help="default: all")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="durable-sim-mutate-") as tmp:
        for name in args.targets or list(TARGETS):
            result = run_target(name, Path(tmp), args.max_children)
            results.append(result)
            print(
                f"{name}: mutation score {result['score']:.1%} "
                f"({result['detected']} detected, {result['missed']} missed, "
                f"{result['skipped']} skipped)"
            )
            for line in result["survivors"]:  # type: ignore[attr-defined]
                print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
