"""Mutation testing with mutmut: the score per target, the equivalent mutants, every survivor.

    python tools/mutate.py [TARGET ...] [--only GLOB ...] [--max-children N] [--json FILE]

A TARGET is ``durable``, ``baseline`` or ``stats`` (default: all three), or one module or
subpackage of a package target, to keep a run short: ``durable/codec.py``, ``durable/journal``,
``baseline/store/kvstore.py``. Each runs in its own temporary copy of ``src/``, ``tests/``, the
inputs they read (`ROOT_INPUTS`) and ``pyproject.toml`` (mutmut writes its ``mutants/`` tree and
its cache beside the code it mutates, so the working tree is never touched), against the tests
that mirror it, with pytest-xdist off (mutmut runs each mutant's covering tests itself, in
forked children). Subprocesses the tests start import the mutated code too (``PYTHONPATH``), so
a test that crashes a worker process tests the mutant, not the original.

mutmut runs the tests covering a function once for every mutant of it, so two things keep a
run short (about ten times as many mutants a minute as the full suite), and neither can raise a
score, only lower it (a mutant a left-out test would kill counts as a survivor):

- tests marked ``slow`` (the subprocess crash matrix and the chaos runs: many seconds each,
  their work in other processes, timing-sensitive under load) are left out (``-m "not slow"``);
  the in-process tests cover the same functions;
- ``DURABLE_SIM_MUTATION=1`` is set for the test runs, and each property test then draws a
  tenth of its examples (``tests/property_budget.py``).

``--only GLOB`` (repeatable) runs only the mutants of the functions whose dotted names, as this
tool prints them, match a glob (``fnmatch``, case-sensitive): ``--only '*.ExecutionState.fire_due'``
or ``--only 'durable_sim.durable.state.*'``, e.g. to finish functions a stopped run never reached.
The score, survivors and stale entries then cover those functions only; a glob that matches no
function of the targets is an error naming it. (mutmut still measures which tests cover what
over the whole selection first; only the mutants are filtered.)

Tests on PostgreSQL ask for the ``postgres_cluster`` fixture, which starts a cluster once per
pytest session (``initdb`` and a start, seconds): once per mutant here. So the run starts one
throwaway cluster itself (`durable_sim.pgcluster`, without fsync, as the fixture's) and names its
DSN in `SHARED_CLUSTER_ENV`, and the fixture connects to that one instead; each test still gets a
schema of its own (named with its process id, so concurrent children never share one). Tests that
stop or kill a server (``scratch_cluster``) still start their own. Without the server programs no
cluster is started and the tests fail as they do in ``make test``.

A mutant that makes a loop endless is stopped, and counted killed (mutmut's ``timeout``), once
its tests have run `TIMEOUT_MULTIPLIER` times as long as they took on the original code (plus
`TIMEOUT_CONSTANT` seconds), not mutmut's default 15 times: in the engine's hot functions the
covering tests take half a minute, and one endless mutant held a worker for eight.

Every mutant ends up in one of four classes:

- killed: a test failed, timed out or crashed (mutmut's ``killed``, ``timeout``, ``segfault``);
- equivalent: it survived, and ``tools/equivalent_mutants.toml`` explains why no test can tell
  it from the original (matched by function and changed lines, not by mutmut's numbering, so
  an entry outlives edits elsewhere in the function);
- survived: every other mutant the tests missed (mutmut's ``survived``, ``suspicious``, and
  ``no tests``: no selected test reaches its function);
- skipped: mutmut did not run it.

The mutation score is killed / (killed + survived): equivalent mutants are not faults, so they
count on neither side. Entries of the equivalent list that match no survivor of the run are
printed as stale (the mutant is killed now, or the code changed): delete or update them.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from durable_sim.pgcluster import PostgresCluster, PostgresNotFound

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "src/durable_sim"
#: package target -> (its path under src/durable_sim/, the tests that mirror it), from the root.
TARGETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "durable": ("durable", ("tests/durable/", "tests/engines/")),
    "baseline": ("baseline", ("tests/baseline/",)),
    "stats": (
        "analysis/stats.py",
        (
            "tests/analysis/test_stats.py",
            "tests/analysis/test_stats_guards.py",
            "tests/analysis/test_stats_paired.py",
        ),
    ),
}
EQUIVALENT_FILE = REPO / "tools" / "equivalent_mutants.toml"
#: Inputs under the project root that the selected tests read (the default price table of every
#: experiment spec), copied beside the code: the mutated package finds its root in the copy.
ROOT_INPUTS = ("data/prices",)
#: The variable naming the run's cluster to tests/conftest.py's ``postgres_cluster`` (same name).
SHARED_CLUSTER_ENV = "DURABLE_SIM_TEST_PG_DSN"
#: The tests a mutation run selects (module docstring: why ``slow`` ones are left out).
MUTATION_MARKERS = "not slow"
#: mutmut's timeout: (the covering tests' time on the original + constant) x multiplier, seconds.
TIMEOUT_MULTIPLIER = 5.0
TIMEOUT_CONSTANT = 2.0
#: mutmut's status -> our class.
CLASS_OF_STATUS = {
    "killed": "killed",
    "timeout": "killed",
    "segfault": "killed",
    "survived": "survived",
    "suspicious": "survived",
    "no tests": "survived",
    "not checked": "survived",
    "check was interrupted by user": "survived",
    "skipped": "skipped",
}
#: The missed statuses an equivalent-list entry may explain (a function no test reaches is
#: untested, never equivalent).
EQUIVALENT_STATUSES = ("survived", "suspicious")
_MUTANT_NAME = re.compile(
    r"^(?P<module>.+)\.x(?:ǁ(?P<cls>[^ǁ]+)ǁ|_)(?P<function>.+)__mutmut_(?P<n>\d+)$"
)


#: What mutmut prints when it stops because no selected test covers any mutant.
_NOTHING_COVERED = "could not find any test case for any mutant"


class MutateError(Exception):
    """A target or an equivalent-list entry that cannot be used; the message names it."""


@dataclass(frozen=True)
class Mutant:
    """One mutant: mutmut's name and status, the function it lives in, the lines it changes."""

    name: str
    status: str
    function: str  #: dotted: ``module.function`` or ``module.Class.method``
    old: str  #: the changed lines of the original, stripped, joined by newlines
    new: str  #: the same lines in the mutant


@dataclass(frozen=True)
class Equivalent:
    """An entry of the equivalent list: a mutant no test can tell apart, and why."""

    function: str
    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class Tally:
    """The classes of one run's mutants; `score` is killed / (killed + survived)."""

    killed: int
    equivalent: int
    survived: list[Mutant]
    skipped: int
    stale: list[Equivalent]

    @property
    def score(self) -> float:
        detected, missed = self.killed, len(self.survived)
        return detected / (detected + missed) if detected + missed else float("nan")


def resolve_target(spec: str) -> tuple[str, str, tuple[str, ...]]:
    """`spec` -> (its name, the glob of files to mutate relative to the root, its tests).

    ``durable`` mutates the whole package; ``durable/codec.py`` one module and
    ``durable/journal`` one subpackage, against the package's tests. Raises `MutateError`
    naming the spec and the accepted ones when it matches no source file.
    """
    package, _, rest = spec.partition("/")
    accepted = ", ".join(TARGETS)
    if package not in TARGETS or (rest and package == "stats"):
        raise MutateError(
            f"unknown mutation target {spec!r}; accepted: {accepted}, or a module or "
            "subpackage of durable or baseline (e.g. durable/codec.py, durable/journal)"
        )
    path, tests = TARGETS[package]
    if not rest:
        code = f"{PACKAGE}/{path}" + ("" if path.endswith(".py") else "/*")
    else:
        rest = rest.rstrip("/")
        code = f"{PACKAGE}/{path}/{rest}" + ("" if rest.endswith(".py") else "/*")
    if not any(fnmatch.fnmatch(p, code) for p in _sources()):
        raise MutateError(f"mutation target {spec!r} matches no file under {PACKAGE}/{path}")
    return spec, code, tests


def _sources() -> list[str]:
    return [p.relative_to(REPO).as_posix() for p in (REPO / "src").rglob("*.py")]


def _config(code: str, tests: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{t}"' for t in tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"also_copy = [{', '.join(repr(p) for p in ROOT_INPUTS)}]\n"
        f'only_mutate = ["{code}"]\n'
        f"pytest_add_cli_args_test_selection = [{quoted}]\n"
        'pytest_add_cli_args = ["-p", "no:xdist", "-p", "no:cacheprovider", "-q", '
        f'"-m", "{MUTATION_MARKERS}"]\n'
        f"timeout_multiplier = {TIMEOUT_MULTIPLIER}\n"
        f"timeout_constant = {TIMEOUT_CONSTANT}\n"
    )


def function_of(name: str) -> str:
    """mutmut's mutant name -> the dotted function it mutates.

    ``pkg.mod.x_f__mutmut_3`` -> ``pkg.mod.f``; ``pkg.mod.xǁCǁm__mutmut_1`` -> ``pkg.mod.C.m``.
    Raises `MutateError` for a name of another shape.
    """
    match = _MUTANT_NAME.match(name)
    if match is None:
        raise MutateError(f"not a mutmut mutant name: {name!r}")
    parts = [match["module"], match["cls"], match["function"]]
    return ".".join(p for p in parts if p)


def functions_of(code: str) -> dict[str, str]:
    """The functions mutmut can mutate in the files matching glob `code` (relative to the root):
    their dotted names (as `function_of` gives them) -> mutmut's mangled names (a module's
    functions and its classes' methods: ``pkg.mod.f`` -> ``pkg.mod.x_f``, ``pkg.mod.C.m`` ->
    ``pkg.mod.xǁCǁm``)."""
    functions = {}
    for path in sorted(p for p in _sources() if fnmatch.fnmatch(p, code)):
        module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
        module = module.removesuffix(".__init__")
        tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[f"{module}.{node.name}"] = f"{module}.x_{node.name}"
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        dotted = f"{module}.{node.name}.{item.name}"
                        functions[dotted] = f"{module}.xǁ{node.name}ǁ{item.name}"
    return functions


def mutant_globs(functions: dict[str, str], patterns: Sequence[str]) -> list[str]:
    """mutmut's mutant-name globs for the `functions` (`functions_of`) whose dotted names match
    one of `patterns` (``fnmatch``, case-sensitive); sorted, empty when none matches."""
    return sorted(
        f"{mangled}__mutmut_*"
        for dotted, mangled in functions.items()
        if any(fnmatch.fnmatchcase(dotted, pattern) for pattern in patterns)
    )


def changed_lines(diff: str) -> tuple[str, str]:
    """A unified diff -> (removed lines, added lines), each stripped and joined by newlines."""
    old, new = [], []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("-"):
            old.append(line[1:].strip())
        elif line.startswith("+"):
            new.append(line[1:].strip())
    return "\n".join(old), "\n".join(new)


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    """The equivalent list: ``[[equivalent]]`` tables with function, old, new and reason.

    Raises `MutateError` naming the entry when a field is missing or empty, or an entry repeats.
    """
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries, seen = [], set()
    for i, table in enumerate(data.get("equivalent", []), start=1):
        fields = {k: table.get(k) for k in ("function", "old", "new", "reason")}
        # ``new`` may be empty: a mutant that deletes a line (an argument of a call spread
        # over lines) changes it to nothing.
        bad = [
            k for k, v in fields.items() if not isinstance(v, str) or (not v.strip() and k != "new")
        ]
        if bad or set(table) - set(fields):
            unknown = sorted(set(table) - set(fields))
            raise MutateError(
                f"{path.name}: entry {i} ({table.get('function')!r}): "
                f"missing or empty {bad}, unknown keys {unknown}; each entry needs exactly "
                "function, old, new and reason (new may be empty: a deleted line)"
            )
        entry = Equivalent(**{k: v.strip() for k, v in fields.items()})  # type: ignore[union-attr]
        key = (entry.function, entry.old, entry.new)
        if key in seen:
            raise MutateError(f"{path.name}: entry {i} repeats {entry.function}: {entry.old!r}")
        seen.add(key)
        entries.append(entry)
    return entries


def module_file(function: str) -> str | None:
    """The source file (relative to the root) that defines dotted `function`, if any."""
    parts = function.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        base = "src/" + "/".join(parts[:cut])
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            if (REPO / candidate).is_file():
                return candidate
    return None


def tally(mutants: list[Mutant], equivalents: list[Equivalent], code: str) -> Tally:
    """Sort `mutants` into killed, equivalent, survived and skipped (module docstring).

    Each entry explains at most one mutant; entries for files under `code` that explain none
    are returned as stale.
    """
    unused = Counter((e.function, e.old, e.new) for e in equivalents)
    killed = skipped = equivalent = 0
    survived = []
    for m in mutants:
        cls = CLASS_OF_STATUS.get(m.status, "survived")
        key = (m.function, m.old, m.new)
        if cls == "killed":
            killed += 1
        elif cls == "skipped":
            skipped += 1
        elif m.status in EQUIVALENT_STATUSES and unused[key] > 0:
            unused[key] -= 1
            equivalent += 1
        else:
            survived.append(m)
    stale = []
    for e in equivalents:
        key = (e.function, e.old, e.new)
        path = module_file(e.function)
        if unused[key] > 0 and path is not None and fnmatch.fnmatch(path, code):
            unused[key] -= 1
            stale.append(e)
    return Tally(killed, equivalent, survived, skipped, stale)


def dump_results() -> None:
    """Print every mutant of the mutmut run in the working directory as JSON (one list).

    Runs inside the target's copy, in a fresh interpreter: mutmut reads its configuration from
    the working directory once per process.
    """
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    out = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, exit_code in data.exit_code_by_key.items():
            status = status_by_exit_code[exit_code]
            diff = "" if status == "killed" else get_diff_for_mutant(name, path=path)
            out.append({"name": name, "status": status, "diff": diff})
    json.dump(out, sys.stdout)


@contextmanager
def shared_postgres() -> Iterator[str | None]:
    """One throwaway PostgreSQL cluster for every test session of the run: its superuser DSN,
    removed on exit; None when the server programs are not installed (module docstring)."""
    try:
        cluster = PostgresCluster(fsync=False)
    except PostgresNotFound:
        yield None
        return
    with cluster:
        yield cluster.dsn


def mutmut_environment(copy: Path, postgres_dsn: str | None) -> dict[str, str]:
    """The environment of mutmut's test runs in target copy `copy`: this one's, plus the
    mutation budget, the mutated code first on ``PYTHONPATH``, and the shared cluster's DSN
    (`SHARED_CLUSTER_ENV`; removed when `postgres_dsn` is None)."""
    env = dict(os.environ, DURABLE_SIM_MUTATION="1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(copy / "mutants" / "src"), env.get("PYTHONPATH")) if p
    )
    env.pop(SHARED_CLUSTER_ENV, None)
    if postgres_dsn is not None:
        env[SHARED_CLUSTER_ENV] = postgres_dsn
    return env


def run_target(
    spec: str,
    workdir: Path,
    max_children: int,
    postgres_dsn: str | None = None,
    only: Sequence[str] = (),
) -> tuple[list[Mutant], float]:
    """Run mutmut on one target in a fresh copy; returns its mutants and the seconds it took.

    `postgres_dsn` is the run's shared cluster (`shared_postgres`), or None for the tests to
    start their own. `only` (`mutant_globs`), if given, limits the run, and the mutants
    returned, to the mutants whose names match one of its globs.
    """
    name, code, tests = resolve_target(spec)
    copy = workdir / name.replace("/", "_")
    copy.mkdir()
    for part in ("src", "tests", *ROOT_INPUTS):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (copy / "pyproject.toml").write_text(pyproject + _config(code, tests), encoding="utf-8")
    # Created now, not by mutmut: a sys.path entry missing at start-up is cached as unusable.
    (copy / "mutants" / "src").mkdir(parents=True)
    env = mutmut_environment(copy, postgres_dsn)
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *only],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - started
    # mutmut stops with exit 1 when no selected test covers any mutant: a target with no
    # mutants at all (only imports, or a Protocol under a no-mutate pragma), or one whose
    # mutants no test reaches; the results below tell the two apart (the latter survive).
    nothing_covered = _NOTHING_COVERED in run.stdout + run.stderr
    if (run.returncode != 0 and not nothing_covered) or not (copy / "mutants").is_dir():
        tail = (run.stdout[-3000:] + run.stderr[-3000:]).strip()
        raise MutateError(f"mutmut run failed for {name} (exit {run.returncode}):\n{tail}")
    dumped = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(REPO / 'tools')!r}); "
            "import mutate; mutate.dump_results()",
        ],
        cwd=copy,
        check=True,
        capture_output=True,
        text=True,
    )
    mutants = []
    for item in json.loads(dumped.stdout):
        if only and not any(fnmatch.fnmatchcase(item["name"], glob) for glob in only):
            continue
        old, new = changed_lines(item["diff"])
        mutants.append(Mutant(item["name"], item["status"], function_of(item["name"]), old, new))
    return mutants, seconds


def _one_line(text: str) -> str:
    return " / ".join(text.splitlines())


def report(name: str, result: Tally, seconds: float) -> list[str]:
    """The printed lines for one target: the score line, the survivors, the stale entries."""
    minutes, secs = divmod(round(seconds), 60)
    run = result.killed + result.equivalent + len(result.survived)
    rate = f"{run / seconds * 60:.1f} mutants/min" if seconds > 0 else "no time"
    score = "no mutants" if run == 0 else f"{result.score:.1%}"
    lines = [
        f"{name}: mutation score {score} ({result.killed} killed, "
        f"{result.equivalent} equivalent, {len(result.survived)} survived, "
        f"{result.skipped} skipped; {minutes}m{secs:02d}s, {rate})"
    ]
    for m in result.survived:
        lines.append(f"  {m.status}: {m.name}  {_one_line(m.old)}  =>  {_one_line(m.new)}")
    for e in result.stale:
        lines.append(
            f"  stale equivalent entry (no survivor matches; delete or update it): "
            f"{e.function}  {_one_line(e.old)}  =>  {_one_line(e.new)}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "targets", nargs="*", help=f"{', '.join(TARGETS)}, or e.g. durable/codec.py (default: all)"
    )
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only the mutants of functions whose dotted names match GLOB (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        specs = [resolve_target(t)[0] for t in args.targets or list(TARGETS)]
        equivalents = load_equivalents()
    except MutateError as exc:
        parser.error(str(exc))
    selected: dict[str, list[str]] = {}
    if args.only:
        functions = {spec: functions_of(resolve_target(spec)[1]) for spec in specs}
        for pattern in args.only:
            if not any(mutant_globs(f, [pattern]) for f in functions.values()):
                parser.error(
                    f"--only {pattern!r} matches no function of {', '.join(specs)} (accepted: "
                    "a glob over dotted names such as durable_sim.durable.state.ExecutionState."
                    "fire_due or '*.fire_due')"
                )
        selected = {spec: mutant_globs(f, args.only) for spec, f in functions.items()}
        equivalents = [
            e for e in equivalents if any(fnmatch.fnmatchcase(e.function, p) for p in args.only)
        ]
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="durable-sim-mutate-") as tmp,
        shared_postgres() as postgres_dsn,
    ):
        for spec in specs:
            if args.only and not selected[spec]:
                print(f"{spec}: no function matches --only; not run", flush=True)
                continue
            try:
                mutants, seconds = run_target(
                    spec, Path(tmp), args.max_children, postgres_dsn, selected.get(spec, ())
                )
            except MutateError as exc:
                print(exc, file=sys.stderr)
                return 1
            result = tally(mutants, equivalents, resolve_target(spec)[1])
            print("\n".join(report(spec, result, seconds)), flush=True)
            results.append(
                {"target": spec, "score": result.score, "seconds": seconds, **asdict(result)}
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
