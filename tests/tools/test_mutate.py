"""`make mutate`: targets, the mutant classes and score, and the equivalent-mutant list."""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import json
import re
import subprocess
import tomllib
from collections.abc import Sequence
from pathlib import Path

import mutate
import psycopg
import pytest
from mutate import Equivalent, Mutant, MutateError

from durable_sim.pgcluster import PostgresNotFound
from tests.conftest import SHARED_CLUSTER_ENV

REPO = Path(__file__).resolve().parents[2]


def test_targets_name_existing_code_and_tests() -> None:
    sources = [p.relative_to(REPO).as_posix() for p in (REPO / "src").rglob("*.py")]
    for name in mutate.TARGETS:
        _, code, tests = mutate.resolve_target(name)
        assert any(fnmatch.fnmatch(path, code) for path in sources), name
        assert all((REPO / t).exists() for t in tests), name


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("durable", "src/durable_sim/durable/*"),
        ("durable/codec.py", "src/durable_sim/durable/codec.py"),
        ("durable/journal", "src/durable_sim/durable/journal/*"),
        ("durable/journal/", "src/durable_sim/durable/journal/*"),
        ("baseline/store/kvstore.py", "src/durable_sim/baseline/store/kvstore.py"),
        ("stats", "src/durable_sim/analysis/stats.py"),
    ],
)
def test_a_target_is_a_package_or_a_module_of_one(spec: str, code: str) -> None:
    name, glob, tests = mutate.resolve_target(spec)
    assert (name, glob) == (spec, code)
    assert tests == mutate.TARGETS[spec.split("/")[0]][1]


@pytest.mark.parametrize("spec", ["analysis", "durable/nope.py", "stats/x.py", "Durable", ""])
def test_a_bad_target_is_one_error_naming_it(spec: str) -> None:
    with pytest.raises(MutateError, match=re.escape(repr(spec))):
        mutate.resolve_target(spec)


def test_generated_config_is_valid_toml() -> None:
    _, code, tests = mutate.resolve_target("durable/codec.py")
    config = tomllib.loads(mutate._config(code, tests))["tool"]["mutmut"]
    assert config["only_mutate"] == [code]
    assert config["pytest_add_cli_args_test_selection"] == list(tests)
    assert "no:xdist" in config["pytest_add_cli_args"]
    marks = config["pytest_add_cli_args"][config["pytest_add_cli_args"].index("-m") + 1]
    assert marks == "not slow"
    assert (config["timeout_multiplier"], config["timeout_constant"]) == (5.0, 2.0)
    assert config["also_copy"] == list(mutate.ROOT_INPUTS)


def test_the_inputs_copied_for_the_tests_exist() -> None:
    """The default price table every experiment spec reads is among them (the mutated package
    resolves the project root to the target's copy)."""
    from durable_sim.experiments import DEFAULT_PRICES

    assert all((REPO / part).is_dir() for part in mutate.ROOT_INPUTS)
    assert any(DEFAULT_PRICES.startswith(part + "/") for part in mutate.ROOT_INPUTS)


def test_the_runs_cluster_is_named_under_the_fixtures_variable() -> None:
    assert mutate.SHARED_CLUSTER_ENV == SHARED_CLUSTER_ENV


def test_the_test_runs_get_the_runs_cluster_and_the_mutated_code_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SHARED_CLUSTER_ENV, "postgresql://someone@elsewhere/db")
    monkeypatch.setenv("PYTHONPATH", "/x")
    env = mutate.mutmut_environment(tmp_path, "postgresql://postgres@127.0.0.1:5/postgres")
    assert env[SHARED_CLUSTER_ENV] == "postgresql://postgres@127.0.0.1:5/postgres"
    assert env["DURABLE_SIM_MUTATION"] == "1"
    assert env["PYTHONPATH"].split(":") == [str(tmp_path / "mutants" / "src"), "/x"]
    # no cluster of the run's: the tests start their own, whatever the caller's environment
    assert SHARED_CLUSTER_ENV not in mutate.mutmut_environment(tmp_path, None)


def test_a_run_shares_one_cluster_and_removes_it_at_the_end() -> None:
    with mutate.shared_postgres() as dsn:
        assert dsn is not None
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=5)


def test_without_server_programs_a_run_starts_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_found(**_: object) -> None:
        raise PostgresNotFound("no initdb")

    monkeypatch.setattr(mutate, "PostgresCluster", not_found)
    with mutate.shared_postgres() as dsn:
        assert dsn is None


def test_function_of_a_mutant_name() -> None:
    assert mutate.function_of("a.b.x__var__mutmut_12") == "a.b._var"
    assert mutate.function_of("a.b.x_welch_test__mutmut_3") == "a.b.welch_test"
    assert mutate.function_of("a.b.xǁJournalǁappend__mutmut_1") == "a.b.Journal.append"
    assert mutate.function_of("a.b.xǁJǁ__init____mutmut_2") == "a.b.J.__init__"
    with pytest.raises(MutateError, match=r"'a\.b\.f'"):
        mutate.function_of("a.b.f")


def test_changed_lines_of_a_diff() -> None:
    diff = "\n".join(
        [
            "--- src/m.py",
            "+++ src/m.py",
            "@@ -1,3 +1,3 @@",
            " def f(x):",
            "-    return x - 1",
            "+    return x + 1",
            "-    # -- not a header",
            "+    # ++ not a header",
        ]
    )
    assert mutate.changed_lines(diff) == (
        "return x - 1\n# -- not a header",
        "return x + 1\n# ++ not a header",
    )


def _m(status: str, function: str = "p.m.f", old: str = "a", new: str = "b") -> Mutant:
    return Mutant(f"p.m.x_f__mutmut_{len(status)}", status, function, old, new)


def test_tally_sorts_mutants_into_four_classes() -> None:
    mutants = [
        _m("killed"),
        _m("timeout"),
        _m("segfault"),
        _m("survived"),  # equivalent
        _m("survived"),  # a second, identical one: the entry explains only one
        _m("no tests"),  # untested, never equivalent
        _m("suspicious", new="c"),
        _m("skipped"),
    ]
    equivalents = [
        Equivalent("p.m.f", "a", "b", "why"),
        Equivalent("p.m.f", "a", "z", "killed now"),
        Equivalent("q.m.f", "a", "b", "another module"),
    ]
    result = mutate.tally(mutants, equivalents, "src/p/m.py")
    assert (result.killed, result.equivalent, result.skipped) == (3, 1, 1)
    assert [m.status for m in result.survived] == ["survived", "no tests", "suspicious"]
    assert result.score == pytest.approx(3 / 6)
    assert [e.reason for e in result.stale] == []  # p/m.py is not a file of this checkout


def test_score_line_counts_killed_equivalent_and_survived() -> None:
    result = mutate.Tally(
        killed=90, equivalent=4, survived=[_m("survived")] * 10, skipped=1, stale=[]
    )
    line = mutate.report("stats", result, 125.4)[0]
    assert line == (
        "stats: mutation score 90.0% (90 killed, 4 equivalent, 10 survived, 1 skipped; "
        "2m05s, 49.8 mutants/min)"
    )


def test_a_target_without_mutants_reports_no_score() -> None:
    empty = mutate.Tally(killed=0, equivalent=0, survived=[], skipped=0, stale=[])
    assert mutate.report("durable/__init__.py", empty, 61.0) == [
        "durable/__init__.py: mutation score no mutants (0 killed, 0 equivalent, 0 survived, "
        "0 skipped; 1m01s, 0.0 mutants/min)"
    ]


def test_an_entry_that_explains_no_survivor_is_stale() -> None:
    entry = Equivalent("durable_sim.analysis.stats._var", "x", "y", "killed since")
    result = mutate.tally([], [entry], "src/durable_sim/analysis/stats.py")
    assert result.stale == [entry]
    assert mutate.tally([], [entry], "src/durable_sim/durable/*").stale == []


def test_a_bad_equivalent_list_is_one_error_naming_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "eq.toml"
    entry = '[[equivalent]]\nfunction = "m.f"\nold = "a"\nnew = "b"\nreason = "r"\n'
    path.write_text(entry + entry.replace('reason = "r"', 'reason = " "'), encoding="utf-8")
    with pytest.raises(MutateError, match=r"entry 2 \('m.f'\): missing or empty \['reason'\]"):
        mutate.load_equivalents(path)
    path.write_text(entry + entry, encoding="utf-8")
    with pytest.raises(MutateError, match=r"entry 2 repeats m\.f"):
        mutate.load_equivalents(path)
    path.write_text(entry.replace("reason", "because"), encoding="utf-8")
    with pytest.raises(MutateError, match=r"unknown keys \['because'\]"):
        mutate.load_equivalents(path)


def test_an_entry_may_explain_a_mutant_that_deletes_a_line(tmp_path: Path) -> None:
    """A deleted line (an argument of a call spread over lines) leaves ``new`` empty; ``old``
    and ``reason`` may still not be."""
    path = tmp_path / "eq.toml"
    entry = '[[equivalent]]\nfunction = "m.f"\nold = "x=1,"\nnew = ""\nreason = "r"\n'
    path.write_text(entry, encoding="utf-8")
    (loaded,) = mutate.load_equivalents(path)
    deleted = mutate.Mutant("m.x_f__mutmut_1", "survived", "m.f", "x=1,", "")
    assert mutate.tally([deleted], [loaded], "src/m.py").equivalent == 1
    path.write_text(entry.replace('old = "x=1,"', 'old = ""'), encoding="utf-8")
    with pytest.raises(MutateError, match=r"missing or empty \['old'\]"):
        mutate.load_equivalents(path)


def _function_lines(path: Path, dotted: str) -> set[str]:
    """The stripped source lines of a top-level function or a method of a top-level class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = dotted.split(".")
    nodes: list[ast.stmt] = tree.body
    for i, name in enumerate(names):
        found = [
            n
            for n in nodes
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and n.name == name
        ]
        if not found:
            return set()
        if i < len(names) - 1:
            nodes = found[0].body
    segment = ast.get_source_segment(path.read_text(encoding="utf-8"), found[0]) or ""
    return {line.strip() for line in segment.splitlines()}


def test_every_equivalent_entry_names_code_that_still_exists() -> None:
    entries = mutate.load_equivalents()
    assert entries, "the list is read from tools/equivalent_mutants.toml"
    globs = [mutate.resolve_target(name)[1] for name in mutate.TARGETS]
    for entry in entries:
        path = mutate.module_file(entry.function)
        assert path is not None, entry.function
        assert any(fnmatch.fnmatch(path, g) for g in globs), f"{entry.function}: not a target"
        module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
        module = module.removesuffix(".__init__")
        lines = _function_lines(REPO / path, entry.function.removeprefix(module + "."))
        missing = [line for line in entry.old.splitlines() if line not in lines]
        assert not missing, f"{entry.function}: {missing} no longer in its source; update the entry"
        assert entry.old != entry.new and "\n" not in entry.reason, entry.function


# -- --only: the mutants of some functions ------------------------------------------------------


def test_the_functions_of_a_target_are_named_as_mutmut_names_them() -> None:
    functions = mutate.functions_of("src/durable_sim/durable/*")
    assert functions["durable_sim.durable.state.ExecutionState.fire_due"] == (
        "durable_sim.durable.state.xǁExecutionStateǁfire_due"
    )
    assert functions["durable_sim.durable.lease.lease_is_free"] == (
        "durable_sim.durable.lease.x_lease_is_free"
    )
    # every mangled name reads back, through a mutant's name, as its dotted one
    for dotted, mangled in functions.items():
        assert mutate.function_of(f"{mangled}__mutmut_12") == dotted
    assert not any(f.startswith("durable_sim.baseline.") for f in functions)


def test_only_selects_the_mutants_of_matching_functions() -> None:
    functions = mutate.functions_of("src/durable_sim/durable/state.py")
    globs = mutate.mutant_globs(functions, ["*.ExecutionState._send", "*.fire_due"])
    assert globs == [
        "durable_sim.durable.state.xǁExecutionStateǁ_send__mutmut_*",
        "durable_sim.durable.state.xǁExecutionStateǁfire_due__mutmut_*",
    ]
    send = "durable_sim.durable.state.xǁExecutionStateǁ_send__mutmut_4"
    send_more = "durable_sim.durable.state.xǁExecutionStateǁ_send_batch__mutmut_4"
    assert fnmatch.fnmatchcase(send, globs[0]) and not fnmatch.fnmatchcase(send_more, globs[0])
    assert mutate.mutant_globs(functions, ["*.FIRE_DUE", "*.nothing"]) == []


def _fake_mutmut(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> list[list[str]]:
    """Replace the mutmut subprocesses: the run does nothing, the dump lists `names` as
    survivors; returns the commands run."""
    commands: list[list[str]] = []

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        out = (
            ""
            if "mutmut" in command
            else json.dumps([{"name": n, "status": "survived", "diff": "-a\n+b\n"} for n in names])
        )
        return subprocess.CompletedProcess(command, 0, out, "")

    monkeypatch.setattr(mutate.subprocess, "run", run)
    return commands


def test_a_run_with_only_passes_its_globs_to_mutmut_and_returns_only_their_mutants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fire = "durable_sim.durable.state.xǁExecutionStateǁfire_due__mutmut_1"
    other = "durable_sim.durable.state.xǁExecutionStateǁ__init____mutmut_1"
    commands = _fake_mutmut(monkeypatch, [fire, other])
    globs = ["durable_sim.durable.state.xǁExecutionStateǁfire_due__mutmut_*"]
    mutants, _ = mutate.run_target("durable/state.py", tmp_path, 1, only=globs)
    assert commands[0][-3:] == ["--max-children", "1", globs[0]]
    assert [m.name for m in mutants] == [fire]
    (tmp_path / "durable_state.py").rename(tmp_path / "first")
    mutants, _ = mutate.run_target("durable/state.py", tmp_path, 1)  # no --only: all of them
    assert commands[2][-2:] == ["--max-children", "1"]
    assert [m.name for m in mutants] == [fire, other]


def test_only_reports_its_functions_and_their_stale_entries_and_skips_other_targets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: dict[str, Sequence[str]] = {}

    def run_target(
        spec: str, workdir: Path, max_children: int, postgres_dsn: str | None, only: Sequence[str]
    ) -> tuple[list[Mutant], float]:
        ran[spec] = only
        return [], 1.0

    monkeypatch.setattr(mutate, "run_target", run_target)
    monkeypatch.setattr(mutate, "shared_postgres", lambda: contextlib.nullcontext(None))
    monkeypatch.setattr(
        mutate,
        "load_equivalents",
        lambda: [
            Equivalent("durable_sim.durable.lease.LeaseKeeper.stop", "a", "b", "why"),
            Equivalent("durable_sim.durable.lease.LeaseKeeper._run", "a", "b", "why"),
        ],
    )
    assert mutate.main(["durable/lease.py", "stats", "--only", "*.LeaseKeeper.stop"]) == 0
    out = capsys.readouterr().out
    assert ran == {"durable/lease.py": ["durable_sim.durable.lease.xǁLeaseKeeperǁstop__mutmut_*"]}
    assert "stats: no function matches --only; not run" in out
    assert "LeaseKeeper.stop  a  =>  b" in out and "LeaseKeeper._run" not in out


def test_an_only_glob_that_matches_nothing_is_one_error_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        mutate.main(["durable/lease.py", "--only", "*.fire_due"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--only '*.fire_due' matches no function of durable/lease.py (accepted: " in err
