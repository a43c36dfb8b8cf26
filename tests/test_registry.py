"""Registered workloads and latency profiles work wherever the built-ins do: the spec, the command
line, spawned workers, the analysis and notebooks; entry points of installed packages likewise.

The user's workload is `user_workload` (registered by function and by decorator on import);
`shared_workloads` wraps it so that a spawned worker always does some of the runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim import dispatch
from durable_sim.analysis import compare_groups, validate_rows
from durable_sim.analysis.breakdown import breakdown_table
from durable_sim.analysis.scenarios import scenarios_table
from durable_sim.analysis.schema import AnalysisInputError, ordered_phases, select_phase
from durable_sim.analysis.tables import (
    correlation_table,
    paper_comparison_table,
    statistics_table,
    table1,
)
from durable_sim.cli import main
from durable_sim.errors import SpecError
from durable_sim.experiments import (
    ExperimentSpec,
    Registrations,
    extension_provenance,
    load_rows,
    run_experiment,
    run_experiments,
    save_rows,
)
from durable_sim.kernel import KERNEL_NAME
from durable_sim.latency import PAPER_LOCAL, PROFILES, get_profile, register_profile
from durable_sim.registry import (
    MAX_NAME_LENGTH,
    Origin,
    Registry,
    RegistryError,
    UnknownNameError,
    check_name,
)
from durable_sim.sweeps import parse_sweep, read_sweep, run_sweep
from durable_sim.workloads import (
    COUNTER,
    WORKLOADS,
    Workload,
    get_workload,
    no_labels,
    register_workload,
)
from durable_sim.workloads.actor import ActorSpec

TESTS = Path(__file__).resolve().parent
#: Modules of this test's that register on import: forgotten after each test.
FIXTURE_MODULES = ("user_workload", "shared_workloads", "order_plugin", "broken_plugin")


@pytest.fixture(autouse=True)
def forget_registrations() -> Iterator[None]:
    """Whatever a test registers, or imports that registers, is gone afterwards; so is an
    entry point's package (the test's monkeypatch takes it off `sys.path`)."""
    workloads, profiles = set(WORKLOADS), set(PROFILES)
    yield
    for module in FIXTURE_MODULES:
        sys.modules.pop(module, None)
    for registry, before in ((WORKLOADS, workloads), (PROFILES, profiles)):
        for name in set(registry) - before:
            with contextlib.suppress(UnknownNameError):
                registry.unregister(name)


@pytest.fixture
def user() -> types.ModuleType:
    """The user's module, imported (so its workloads and profile are registered)."""
    return importlib.import_module("user_workload")


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory for `shared_workloads`' marks; short runs are shared out all the same."""
    directory = tmp_path / "marks"
    directory.mkdir()
    monkeypatch.setenv("DURABLE_SIM_TEST_MARKS", f"{os.getpid()}:{directory}")
    monkeypatch.setattr(dispatch, "SERIAL_BELOW_S", 0.0)
    return directory


def spec(**values: Any) -> ExperimentSpec:
    return ExperimentSpec.parse({"model": "durable", "runs": 4, **values})


# -- the registry itself ----------------------------------------------------------------------


@dataclass(frozen=True)
class Thing:
    name: str


def _valid(name: str) -> bool:
    """The naming rule, written out character by character."""
    letters, digits = "abcdefghijklmnopqrstuvwxyz", "0123456789"
    if not 1 <= len(name) <= MAX_NAME_LENGTH or name[0] not in letters:
        return False
    if any(c not in letters + digits + "-_" for c in name) or name[-1] in "-_":
        return False
    return not any(a in "-_" and b in "-_" for a, b in itertools.pairwise(name))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet="ab9-_A .é", max_size=MAX_NAME_LENGTH + 2))
def test_a_name_is_accepted_exactly_when_it_follows_the_rule(name: str) -> None:
    if _valid(name):
        assert check_name(name, "name") == name
    else:
        with pytest.raises(RegistryError, match=r"bad name .* \(accepted: lower-case letters"):
            check_name(name, "name")


def _register_from(module: str, registry: Registry[Thing], value: Thing, replace: bool) -> None:
    """Register `value` as the top level of module `module` would."""
    code = "registry.register(value, replace=replace)"
    exec(code, {"__name__": module, "registry": registry, "value": value, "replace": replace})


operations = st.lists(
    st.tuples(
        st.sampled_from(["register", "unregister"]),
        st.sampled_from(["a", "b", "c"]),  # name
        st.sampled_from(["mod_a", "mod_b"]),  # registering module
        st.booleans(),  # replace
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(operations)
def test_registrations_follow_the_duplicate_rules(ops: list[tuple[str, str, str, bool]]) -> None:
    """Against a dict model: a name registered from another module is refused unless
    `replace`; from the same module it is replaced; unregistering an absent name fails."""
    registry: Registry[Thing] = Registry("thing", Thing, group="durable_sim.tests.none")
    model: dict[str, tuple[Thing, str]] = {}
    for op, name, module, replace in ops:
        if op == "register":
            value = Thing(name)
            held = model.get(name)
            if held is not None and held[1] != module and not replace:
                with pytest.raises(RegistryError, match=rf"thing '{name}' is already registered"):
                    _register_from(module, registry, value, replace)
            else:
                _register_from(module, registry, value, replace)
                model[name] = (value, module)
        elif name in model:
            registry.unregister(name)
            del model[name]
        else:
            with pytest.raises(UnknownNameError, match=rf"thing '{name}' is unknown"):
                registry.unregister(name)
        assert list(registry) == sorted(model)
        assert all(registry[n] is v for n, (v, _) in model.items())


def test_unknown_names_list_the_accepted_ones_and_read_like_a_mapping() -> None:
    registry: Registry[Thing] = Registry("thing", Thing, group="durable_sim.tests.none")
    registry.register(Thing("b"))
    registry.register(Thing("a"))
    with pytest.raises(UnknownNameError) as info:
        registry["c"]
    assert str(info.value) == "thing 'c' is unknown (accepted: ['a', 'b'])"
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert registry.get("c") is None and "c" not in registry and len(registry) == 2


def test_bad_registrations_fail_with_one_line() -> None:
    registry: Registry[Thing] = Registry("thing", Thing, group="durable_sim.tests.none")
    with pytest.raises(RegistryError, match=r"^a thing must be a Thing, got int 3$"):
        registry.register(3)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match=r"^bad thing name 'Big' \(accepted: lower-case"):
        registry.register(Thing("Big"))


def test_built_ins_can_be_neither_replaced_nor_removed() -> None:
    with pytest.raises(RegistryError, match=r"workload 'counter' is built in and cannot be"):
        register_workload(dataclasses.replace(COUNTER, description="mine"), replace=True)
    assert register_workload(COUNTER) is COUNTER  # the same value again changes nothing
    with pytest.raises(RegistryError, match=r"latency profile 'zero' is built in"):
        PROFILES.unregister("zero")
    assert WORKLOADS.origin("video") == Origin("builtin", module="durable_sim.workloads")
    assert get_profile("paper-local") is PAPER_LOCAL


def test_a_name_registered_by_another_module_is_refused_unless_replaced(user: Any) -> None:
    other = Workload(
        name="order",
        phase="order",
        runners={"durable": user.run_durable_order},
        store_purposes=(),
        labels=no_labels,
    )
    with pytest.raises(RegistryError, match=r"'order' is already registered by module user_wo"):
        register_workload(other)
    assert register_workload(other, replace=True) is get_workload("order")


# -- workloads and profiles -------------------------------------------------------------------


def test_registered_by_function_and_by_decorator(user: Any) -> None:
    assert get_workload("order") is user.ORDER
    by_class = get_workload("order-class")
    assert by_class.runners == {
        "baseline": user.run_baseline_order,
        "durable": user.run_durable_order,
    }
    assert (by_class.phase, by_class.description) == (
        "order",
        "The same order, registered by decorator.",
    )
    assert WORKLOADS.origin("order") == Origin("module", module="user_workload")
    assert isinstance(user.OrderByDecorator, type)  # the decorator returns the class
    assert get_profile("my-lab") is user.MY_LAB


def _runner(spec: Any, env: Any) -> dict[str, Any]:
    return {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"runners": {}}, r"has runners for \[\] \(accepted: one or both of \['baseline', 'dur"),
        ({"runners": {"actor": _runner}}, r"has runners for \['actor'\]"),
        ({"runners": {"durable": 3}}, r"runner 'durable' must be callable, got 3"),
        ({"phase": "Phase 3"}, r"bad phase of workload 'mine' 'Phase 3' \(accepted: lower"),
        ({"store_purposes": "orders"}, r"has store_purposes 'orders' \(accepted: a tuple of"),
        ({"store_purposes": ("a", "a")}, r"has store_purposes \('a', 'a'\)"),
        ({"store_purposes": ("Order-Read",)}, r"has store_purposes \('Order-Read',\)"),
        ({"labels": None}, r"labels must be callable, got None"),
        ({"description": "two\nlines"}, r"description must be one line of text"),
    ],
)
def test_a_bad_workload_is_refused_with_one_clear_line(
    fields: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {
        "name": "mine",
        "phase": "mine",
        "runners": {"durable": _runner},
        "store_purposes": (),
        "labels": no_labels,
        **fields,
    }
    with pytest.raises(RegistryError, match=message) as info:
        register_workload(Workload(**values))
    assert "\n" not in str(info.value) and "mine" not in WORKLOADS


def test_the_two_forms_are_not_mixed() -> None:
    with pytest.raises(RegistryError, match=r"options of the decorator form"):
        register_workload(COUNTER, phase="x")  # type: ignore[call-overload]
    with pytest.raises(RegistryError, match=r"takes a Workload, or a name .*got int"):
        register_workload(3)  # type: ignore[call-overload]
    with pytest.raises(RegistryError, match=r"decorates a class .*got function"):
        register_workload("mine")(_runner)  # type: ignore[type-var]
    with pytest.raises(RegistryError, match=r"a latency profile must be a LatencyProfile"):
        register_profile("fast")  # type: ignore[arg-type]


def test_the_spec_accepts_registered_names_and_lists_them_when_unknown(user: Any) -> None:
    with pytest.raises(SpecError) as info:
        spec(workload="ordr")
    assert (
        "workload='ordr' is not registered (accepted: a registered workload: counter, order, "
        "order-class" in str(info.value)
    )
    with pytest.raises(
        SpecError, match=r"'my-lb' is not registered \(accepted: .*: aws-lambda, my-"
    ):
        spec(workload="order", profile="my-lb")


@pytest.mark.parametrize("workload", ["order", "order-class"])
@pytest.mark.parametrize("model", ["durable", "baseline"])
def test_a_registered_workload_runs_with_a_registered_profile(
    user: Any, workload: str, model: str
) -> None:
    rows = run_experiment(spec(workload=workload, model=model, profile="my-lab"))
    assert (rows.phase == "order").all() and (rows.profile == "my-lab").all()
    assert (rows.cores == 1).all() and rows.ok.all() and (rows.final_value == 30).all()
    if model == "baseline":  # three functions, each one get and one put
        assert (rows.store_ops_order_read == 3).all() and (rows.store_ops_order_write == 3).all()
    else:  # three steps, three checkpoints, one invocation paying my-lab's 150 ms
        assert (rows.store_ops == 0).all() and (rows.checkpoint_ops == 3).all()
        assert (rows.time_ms > 0.9 * 150).all() and (rows.time_invocation_ms > 0).all()
    validate_rows(rows)


# -- spawned workers --------------------------------------------------------------------------


@pytest.mark.parametrize("workload", ["order-shared", "order-class-shared"])
def test_module_registrations_reach_spawned_workers(marks: Path, workload: str) -> None:
    importlib.import_module("shared_workloads")
    s = spec(workload=workload, profile="my-lab", runs=8)
    parallel = run_experiment(s, jobs=2)
    assert len(sys.modules["shared_workloads"].worker_pids(marks)) == 2  # a worker did runs
    pd.testing.assert_frame_equal(parallel, run_experiment(s, jobs=1))


def _cell(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run `source` as a notebook cell runs: at the top level of a ``__main__`` module that has
    neither a file nor a spec (what ipykernel gives its user namespace)."""
    main_module = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main_module)
    exec(compile(textwrap.dedent(source), "<cell>", "exec"), main_module.__dict__)


CELL = """
    from dataclasses import replace
    from user_workload import ORDER
    from durable_sim.workloads import register_workload
    register_workload(replace(ORDER, name="order-cell"))
"""


def test_a_notebook_cell_registration_runs_here_and_refuses_workers_before_any_run(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cell(CELL, monkeypatch)
    _cell(CELL, monkeypatch)  # running the cell again replaces its own registration
    assert WORKLOADS.origin("order-cell") == Origin(
        "process", module="a notebook cell or interactive session"
    )
    s = spec(workload="order-cell")
    assert run_experiment(s, jobs=1).ok.all()
    done: list[int] = []
    with pytest.raises(RegistryError) as info:
        run_experiment(s, jobs=2, progress=done.append)
    assert done == []
    assert str(info.value) == (
        "workload 'order-cell' was registered in a notebook cell or interactive session, which "
        "spawned worker processes cannot repeat: run with jobs=1, or move it into a module (a "
        ".py file on the import path, or a package with a 'durable_sim.workloads' entry point) "
        "and register it at that module's top level"
    )


def test_a_data_file_names_the_user_code_that_produced_it(
    user: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cell(CELL, monkeypatch)
    specs = [spec(workload=w, profile=p, runs=1) for w, p in CODE_SPECS]
    saved = save_rows(run_experiments(specs), specs, tmp_path / "rows.csv")
    meta = json.loads(saved.with_suffix(".meta.json").read_text())
    source = hashlib.sha256(Path(user.__file__).read_bytes()).hexdigest()
    module, cell = (
        "module user_workload",
        "this process only (a notebook cell or interactive session)",
    )
    assert [tuple(e.values()) for e in meta["extensions"]] == [
        ("workload", "order", module, source),
        ("latency profile", "my-lab", module, source),
        ("workload", "order-cell", cell, None),
    ]
    built_in = specs[-1:]
    saved = save_rows(run_experiments(built_in), built_in, tmp_path / "built_in.csv")
    assert "extensions" not in json.loads(saved.with_suffix(".meta.json").read_text())
    actor = ActorSpec.parse({"variant": "durable", "clients": 1, "messages": 1})
    assert extension_provenance([actor]) == []  # another kind of spec: its own fields only
    assert extension_provenance([actor.model_copy(update={"profile": "my-lab"})]) == [
        {"kind": "latency profile", "name": "my-lab", "origin": module, "source_sha256": source}
    ]


#: Workload and profile of each spec: a module's both, again, a notebook cell's, built-ins.
CODE_SPECS = [
    ("order", "my-lab"),
    ("order", "my-lab"),
    ("order-cell", "paper-local"),
    ("counter", "paper-local"),
]


def test_a_registration_in_a_function_does_not_reach_workers(user: Any) -> None:
    register_profile(user.MY_LAB.__class__(name="made-here", machine=user.MY_LAB.machine))
    with pytest.raises(RegistryError, match=r"'made-here' was registered in function test_a_re"):
        Registrations.of(spec(workload="order", profile="made-here"))


def test_a_worker_that_cannot_make_a_registration_again_says_why() -> None:
    with pytest.raises(RegistryError, match=r"workload 'nope' is not registered in this worker"):
        WORKLOADS.restore("nope", Origin("module", module="json"))
    with pytest.raises(RegistryError, match=r"cannot import module 'gone_module' in this worker"):
        WORKLOADS.restore("nope", Origin("module", module="gone_module"))


def test_a_script_registration_reaches_workers(tmp_path: Path, marks: Path) -> None:
    """A script's top level is run again in each spawned worker (as ``__mp_main__``)."""
    script = tmp_path / "study.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            sys.path.insert(0, {str(TESTS)!r})
            from shared_workloads import MARKS, shared, worker_pids
            from user_workload import ORDER
            from durable_sim import dispatch
            from durable_sim.experiments import ExperimentSpec, run_experiment
            from durable_sim.workloads import WORKLOADS, register_workload
            register_workload(shared(ORDER, "order-script"))
            if __name__ == "__main__":
                os.environ[MARKS] = f"{{os.getpid()}}:{marks}"
                dispatch.SERIAL_BELOW_S = 0.0
                s = ExperimentSpec.parse(
                    {{"workload": "order-script", "model": "baseline", "runs": 8}}
                )
                print(WORKLOADS.origin("order-script").describe())
                print(run_experiment(s, jobs=2).equals(run_experiment(s, jobs=1)))
                print(len(worker_pids({str(marks)!r})))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "module __main__\nTrue\n2\n"


def test_a_sweep_runs_registered_workloads_on_its_worker_processes(
    user: Any, tmp_path: Path
) -> None:
    """A process pool runs every point in its workers: they must make the registrations."""
    base = {"workload": "order", "profile": "my-lab", "runs": 2}
    sweep = parse_sweep({"base": base, "grid": {"model": ["durable", "baseline"]}})
    run_sweep(sweep, tmp_path / "pool", workers=2, progress=False)
    run_sweep(sweep, tmp_path / "here", progress=False)
    rows = read_sweep(tmp_path / "pool")
    assert list(rows.phase) == ["order"] * 4 and set(rows.profile) == {"my-lab"}
    assert _tree(tmp_path / "pool") == _tree(tmp_path / "here")


def test_a_sweep_of_a_notebook_cells_workload_refuses_workers_before_writing(
    user: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cell(CELL, monkeypatch)
    sweep = parse_sweep({"base": {"workload": "order-cell"}, "grid": {"model": ["durable"]}})
    with pytest.raises(RegistryError, match=r"'order-cell' was registered in a notebook cell"):
        run_sweep(sweep, tmp_path / "out", workers=2, progress=False)
    assert not (tmp_path / "out").exists()
    run_sweep(sweep, tmp_path / "out", progress=False)  # in this process it runs


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.suffix != ".lock"}


# -- entry points of installed packages -------------------------------------------------------


def _install(root: Path, package: str, entry_points: str, module: str = "") -> Path:
    """A distribution installed in `root`: its ``.dist-info`` with `entry_points` and, if given,
    its module's source."""
    info = root / f"{package.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    if module:
        (root / f"{package.replace('-', '_')}.py").write_text(textwrap.dedent(module))
    return root


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package ``order-plugin`` with a workload (``order-ep``) and a profile
    (``my-lab-ep``), on `sys.path` for this test."""
    root = _install(
        tmp_path / "site",
        "order-plugin",
        """
        [durable_sim.workloads]
        order-ep = order_plugin:WORKLOAD
        [durable_sim.profiles]
        my-lab-ep = order_plugin:PROFILE
        """,
        """
        from dataclasses import replace
        from shared_workloads import shared
        from user_workload import MY_LAB, ORDER
        WORKLOAD = shared(ORDER, "order-ep")
        PROFILE = replace(MY_LAB, name="my-lab-ep")
        """,
    )
    monkeypatch.syspath_prepend(str(root))
    return root


def test_entry_points_are_listed_without_import_and_loaded_on_first_use(plugin: Path) -> None:
    assert "order-ep" in WORKLOADS and "my-lab-ep" in list(PROFILES)
    assert "order_plugin" not in sys.modules
    workload = get_workload("order-ep")
    assert sys.modules["order_plugin"].WORKLOAD is workload is get_workload("order-ep")
    assert WORKLOADS.origin("order-ep") == Origin(
        "entry_point", entry_point="order-ep", package="order-plugin 1.0"
    )
    assert get_profile("my-lab-ep").machine.cores == 1


def test_entry_point_registrations_reach_spawned_workers(plugin: Path, marks: Path) -> None:
    s = spec(workload="order-ep", model="baseline", profile="my-lab-ep", runs=8)
    parallel = run_experiment(s, jobs=2)
    assert len(sys.modules["shared_workloads"].worker_pids(marks)) == 2
    pd.testing.assert_frame_equal(parallel, run_experiment(s, jobs=1))
    assert (parallel.profile == "my-lab-ep").all() and (parallel.store_ops == 6).all()


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package ``broken-plugin``, whose entry points fail in each way, and a second package
    declaring one of its names."""
    root = _install(
        tmp_path / "broken",
        "broken-plugin",
        """
        [durable_sim.workloads]
        missing = no_such_module_here:WORKLOAD
        wrong-type = broken_plugin:NOT_A_WORKLOAD
        misnamed = broken_plugin:COUNTER
        twice = broken_plugin:COUNTER
        """,
        """
        from durable_sim.workloads import COUNTER
        NOT_A_WORKLOAD = 42
        """,
    )
    _install(root, "other-plugin", "[durable_sim.workloads]\ntwice = other_plugin:X\n")
    monkeypatch.syspath_prepend(str(root))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "missing",
            "cannot load entry point 'missing = no_such_module_here:WORKLOAD' of package "
            "'broken-plugin 1.0' (group durable_sim.workloads): ModuleNotFoundError: No module "
            "named 'no_such_module_here'",
        ),
        (
            "wrong-type",
            "entry point 'wrong-type = broken_plugin:NOT_A_WORKLOAD' of package 'broken-plugin "
            "1.0' (group durable_sim.workloads) gives a int, not a Workload (accepted: a Workload "
            "named 'wrong-type', or an object whose module registers one on import)",
        ),
        (
            "misnamed",
            "entry point 'misnamed = broken_plugin:COUNTER' of package 'broken-plugin 1.0' "
            "(group durable_sim.workloads) gives a workload named 'counter'; the names must agree",
        ),
        (
            "twice",
            "workload 'twice' is an entry point of several packages ['broken-plugin 1.0', "
            "'other-plugin 1.0'] (group durable_sim.workloads); uninstall all but one",
        ),
    ],
)
def test_a_broken_entry_point_is_one_error_naming_package_and_entry_point(
    broken: None, name: str, message: str
) -> None:
    with pytest.raises(RegistryError) as info:
        get_workload(name)
    assert str(info.value) == message
    with pytest.raises(SpecError) as spec_error:  # the spec reports it on one line too
        spec(workload=name)
    assert message in str(spec_error.value) and "\n" not in str(spec_error.value)
    assert get_workload("counter") is COUNTER  # the rest still works


def test_the_command_line_reports_a_broken_entry_point_in_one_line(
    broken: None, capsys: Any
) -> None:
    assert main(["workloads"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("durable-sim: RegistryError: entry point 'misnamed = broken_plugin:")
    assert err.count("\n") == 1


# -- the command line -------------------------------------------------------------------------


def test_import_registers_for_run_and_the_listings(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "order.csv"
    args = ["--import", "user_workload", "run", "order-class", "--model", "baseline"]
    assert main([*args, "--profile", "my-lab", "--runs", "3", "-q", "--out", str(out)]) == 0
    rows = load_rows(out)
    assert list(rows.final_value) == [30, 30, 30] and set(rows.profile) == {"my-lab"}
    capsys.readouterr()
    assert main(["workloads"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["counter", "order", "order-class", "video"]
    assert re.split(r"\s{2,}", lines[1])[1:] == [
        "phase order",
        "baseline+durable",
        "module user_workload",
        "an order: reserve, charge, ship",
    ]
    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    mine = next(line for line in lines if line.startswith("my-lab"))
    assert "module user_workload" in mine and "host, 1 core; durable invoke 150 ms" in mine


def test_the_installed_command_imports_from_the_current_directory() -> None:
    """``durable-sim`` (the console script, whose own directory is on its path, not the current
    one) finds a module beside the user as ``python -m`` would."""
    command = [str(Path(sys.executable).with_name("durable-sim")), "--import", "user_workload"]
    done = subprocess.run(
        [*command, "run", "order", "--model", "baseline", "--runs", "2", "-q"],
        capture_output=True,
        text=True,
        cwd=TESTS,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(io.StringIO(done.stdout))
    assert list(rows.phase) == ["order", "order"] and list(rows.store_ops) == [6, 6]


def test_import_and_jobs_share_runs_with_workers(tmp_path: Path, marks: Path) -> None:
    args = ["--import", "shared_workloads", "run", "order-shared", "--model", "durable", "-q"]
    args += ["--profile", "my-lab", "--runs", "8"]
    assert main([*args, "--jobs", "2", "--out", str(tmp_path / "two.csv")]) == 0
    assert len(sys.modules["shared_workloads"].worker_pids(marks)) == 2
    assert main([*args, "--out", str(tmp_path / "one.csv")]) == 0
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--import", "no_such_module_here", "workloads"],
            "durable-sim: Invalid value for '--import': cannot import 'no_such_module_here': No "
            "module named 'no_such_module_here' (searched the current directory, then the "
            "installed packages)",
        ),
        (
            ["--import", "user_workload", "run", "ordr", "--model", "durable"],
            "durable-sim run: Invalid value for 'WORKLOAD': 'ordr' is not a registered workload "
            "(accepted: counter, order, order-class, video)",
        ),
        (
            ["--import", "user_workload", "run", "order", "--model", "durable", "--chunks", "2"],
            "durable-sim: --chunks does not apply to workload 'order' (accepted: only with "
            "workload video)",
        ),
    ],
)
def test_bad_usage_with_registered_names_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: Any
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(message), err


# -- the analysis -----------------------------------------------------------------------------


@pytest.fixture
def mixed_rows(user: Any) -> pd.DataFrame:
    """The counter's and the order's rows, both models, on the virtual clock."""
    frames = [
        run_experiment(spec(workload=workload, model=model, runs=6, seed=3))
        for workload in ("order", "counter")
        for model in ("baseline", "durable")
    ]
    frames = [f.assign(run_id=f.run_id + 100 * i) for i, f in enumerate(frames)]
    return pd.concat(frames, ignore_index=True)


def test_compare_groups_and_tables_take_a_registered_workloads_phase(
    mixed_rows: pd.DataFrame,
) -> None:
    rows = mixed_rows
    validate_rows(rows)
    assert ordered_phases(rows.phase) == ["counter", "order"]
    order = rows[rows.phase == "order"]
    comparison = compare_groups(rows, "time_ms", phase="order", n_resamples=200)
    by_model = order.groupby("model").time_ms.mean()
    assert comparison.diff_mean == pytest.approx(by_model["durable"] - by_model["baseline"])
    assert (comparison.n_a, comparison.n_b) == (6, 6)
    ops = compare_groups(rows, "store_ops", phase="order", n_resamples=200)
    assert ops.diff_mean == -6.0  # three functions with a get and a put each, against none
    stats = statistics_table(rows, n_resamples=200).frame
    assert list(stats.phase) == ["counter", "counter", "order", "order"]
    corr = correlation_table(rows).frame
    assert list(corr.phase) == ["counter", "counter", "order", "order"]
    breakdown = breakdown_table(rows).frame
    assert list(breakdown.phase) == ["counter", "counter", "order", "order"]
    durable_order = breakdown[(breakdown.phase == "order") & (breakdown.model == "durable")]
    assert durable_order.time_ms.iloc[0] == pytest.approx(
        order[order.model == "durable"].time_ms.mean()
    )
    scenarios = scenarios_table(rows).frame
    assert set(scenarios[scenarios.scenario == "paper-local"].phase) == {"counter", "order"}
    assert len(select_phase(rows, "order")) == 12  # a user's phase, like the paper's


def test_the_papers_tables_read_only_the_papers_phases(mixed_rows: pd.DataFrame) -> None:
    counter_only = mixed_rows[mixed_rows.phase == "counter"]
    pd.testing.assert_frame_equal(table1(mixed_rows).frame, table1(counter_only).frame)
    assert set(paper_comparison_table(mixed_rows).frame.phase) == {"counter", "video"}
    with pytest.raises(AnalysisInputError, match=r"unknown phase 'ordr'; accepted: 'counter', 'o"):
        compare_groups(mixed_rows, phase="ordr")
    with pytest.raises(AnalysisInputError, match=r"no rows with phase 'ordr'; phases present: \["):
        select_phase(mixed_rows, "ordr")


# -- notebooks --------------------------------------------------------------------------------


def test_a_workload_defined_in_a_notebook_cell_runs_there_with_one_process() -> None:
    """In the project kernel, as papermill runs notebooks: a workload defined and registered in a
    cell runs with jobs=1; jobs=2 explains, before any run, that it belongs in a module."""
    cells = [
        """
        from dataclasses import replace
        from durable_sim.experiments import ExperimentSpec, run_experiment
        from durable_sim.registry import RegistryError
        from durable_sim.workloads import Workload, no_labels, register_workload
        from user_workload import run_baseline_order, run_durable_order
        register_workload(Workload(
            name="order-nb", phase="order",
            runners={"durable": run_durable_order, "baseline": run_baseline_order},
            store_purposes=("order_read", "order_write"), labels=no_labels,
        ))
        spec = ExperimentSpec.parse({"workload": "order-nb", "model": "baseline", "runs": 3})
        print(list(run_experiment(spec).final_value))
        """,
        """
        try:
            run_experiment(spec, jobs=2)
        except RegistryError as exc:
            print(exc)
        """,
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL_NAME, timeout=120, resources={"metadata": {"path": str(TESTS)}}
    )
    client.execute()
    outputs = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    assert outputs[0] == "[30, 30, 30]\n"
    assert outputs[1].startswith(
        "workload 'order-nb' was registered in a notebook cell or interactive session, which "
        "spawned worker processes cannot repeat: run with jobs=1, or move it into a module"
    )


BAD_MODULES = {
    "broken": "def f(:\n    pass\n",
    "raising": "raise ValueError('boom at import')\n",
    "bad_runs": (
        "from durable_sim.workloads import register_workload\n\n\n"
        "@register_workload('bad-row', phase='bad')\n"
        "class BadRow:\n"
        "    durable = staticmethod(lambda spec, env: {'time_ms': 'abc'})\n\n\n"
        "@register_workload('raises', phase='bad')\n"
        "class Raises:\n"
        "    @staticmethod\n"
        "    def durable(spec, env):\n"
        "        raise KeyError('no such order')\n"
    ),
}


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (
            ["--import", "broken", "workloads"],
            2,
            "durable-sim: Invalid value for '--import': cannot import 'broken': invalid syntax "
            "(broken.py, line 1) (see 'durable-sim --help')",
        ),
        (
            ["--import", "raising", "workloads"],
            1,
            "durable-sim: importing 'raising' raised ValueError: boom at import",
        ),
        (
            ["--import", "bad_runs", "run", "bad-row", "--model", "durable", "--runs", "1", "-q"],
            1,
            "durable-sim: WorkloadError: workload 'bad-row' (module bad_runs) returned values "
            "that make no row: ",
        ),
        (
            ["--import", "bad_runs", "run", "raises", "--model", "durable", "--runs", "1", "-q"],
            1,
            "durable-sim: WorkloadError: workload 'raises' (module bad_runs) raised: KeyError: "
            "'no such order'",
        ),
    ],
)
def test_a_users_broken_module_or_workload_is_one_line_without_traceback(
    tmp_path: Path, args: list[str], status: int, line: str
) -> None:
    """The reviewer's inputs: a module with a syntax error, one that raises on import, a
    workload that returns ``{"time_ms": "abc"}`` and one that raises used to dump tracebacks."""
    for name, source in BAD_MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
    command = str(Path(sys.executable).with_name("durable-sim"))
    done = subprocess.run(
        [command, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == status, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(line), done.stderr


def test_a_full_stdout_is_one_line_on_stderr(tmp_path: Path) -> None:
    """The reviewer's ``durable-sim run counter --model durable --runs 2 -q > /dev/full``."""
    command = str(Path(sys.executable).with_name("durable-sim"))
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [command, "run", "counter", "--model", "durable", "--runs", "2", "-q"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )
    assert done.returncode == 1
    assert done.stderr == "durable-sim: cannot write to stdout: No space left on device\n"
