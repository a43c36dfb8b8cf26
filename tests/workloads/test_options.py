"""A workload's own parameters (`Workload.options`) and result columns (`Workload.columns`):
checked by the spec, given to each run, written into its rows, and refused at registration
when they could not be."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model

from durable_sim.cli import main
from durable_sim.errors import SpecError, WorkloadError
from durable_sim.experiments import ExperimentSpec, load_rows, run_experiment
from durable_sim.registry import RegistryError, UnknownNameError
from durable_sim.workloads import (
    WORKLOADS,
    Platform,
    RunEnv,
    RunValues,
    Workload,
    register_workload,
    run_baseline_workflow,
)


class Knobs(BaseModel):
    """Two options with ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: int = Field(3, ge=1, le=10, description="items per order")
    price: float = Field(2.5, gt=0.0, description="price of an item")
    label: str = "plain"


def _runner(spec: Any, env: RunEnv) -> RunValues:
    knobs: Knobs = env.options

    def body(platform: Platform) -> RunValues:
        total = knobs.items * knobs.price
        return {"final_value": total, "total": total, "label_seen": knobs.label, "ok": True}

    return run_baseline_workflow(env, body)


@pytest.fixture
def knobs() -> Iterator[Workload]:
    """A workload with options and columns, registered for one test."""
    workload = register_workload(
        Workload(
            name="knobs",
            phase="knobs",
            runners={"baseline": _runner},
            store_purposes=(),
            labels=lambda spec: {},
            options=Knobs,
            columns=("total", "label_seen", "never_reported"),
        )
    )
    yield workload
    with contextlib.suppress(UnknownNameError):
        WORKLOADS.unregister("knobs")


def spec(**values: Any) -> ExperimentSpec:
    return ExperimentSpec.parse({"workload": "knobs", "model": "baseline", "runs": 2, **values})


def test_a_spec_holds_every_option_with_defaults_filled_in(knobs: Workload) -> None:
    assert spec().options == {"items": 3, "price": 2.5, "label": "plain"}
    given = spec(options={"price": 4})
    assert given.options == {"items": 3, "price": 4.0, "label": "plain"}
    assert type(given.options["price"]) is float  # the model's type, not the input's
    assert given == spec(options={"items": 3, "price": 4.0, "label": "plain"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"item": 2},
            "bad experiment spec: options={'item': 2}: workload 'knobs' has no option 'item' "
            "(accepted: items: an int in 1..10; price: a number > 0; label: a string)",
        ),
        (
            {"items": 11},
            "bad experiment spec: options={'items': 11}: workload 'knobs' option items=11 is "
            "out of range (accepted: an int in 1..10)",
        ),
        (
            {"price": "cheap"},
            "bad experiment spec: options={'price': 'cheap'}: workload 'knobs' option "
            "price='cheap': text is never a number (accepted: a number > 0)",
        ),
    ],
)
def test_a_bad_option_is_one_line_naming_it_and_its_range(
    knobs: Workload, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        spec(options=options)
    assert str(caught.value) == message


def test_a_workload_without_options_takes_none() -> None:
    with pytest.raises(SpecError, match=r"workload 'counter' takes no options, got \['x'\]"):
        ExperimentSpec.parse({"workload": "counter", "model": "durable", "options": {"x": 1}})
    assert ExperimentSpec.parse({"workload": "counter", "model": "durable"}).options == {}


def test_each_run_gets_its_options_and_its_rows_carry_the_columns(knobs: Workload) -> None:
    rows = run_experiment(spec(options={"items": 4, "label": "gift"}))
    assert list(rows["total"]) == [10.0, 10.0] and list(rows["final_value"]) == [10.0, 10.0]
    assert list(rows["label_seen"]) == ["gift", "gift"]
    options = rows[["items", "price", "label"]]  # every option, defaults too, without labels
    assert options.to_dict("records") == [{"items": 4, "price": 2.5, "label": "gift"}] * 2
    assert rows["never_reported"].isna().all()
    assert list(rows.columns[-3:]) == ["total", "label_seen", "never_reported"]


def test_a_column_its_labels_already_set_is_refused_at_the_first_run(knobs: Workload) -> None:
    clash = Workload(
        name="knobs",
        phase="knobs",
        runners={"baseline": _runner},
        store_purposes=(),
        labels=lambda spec: {"total": 0},
        options=Knobs,
        columns=("total",),
    )
    register_workload(clash, replace=True)
    with pytest.raises(WorkloadError, match="reports column 'total', which its labels already set"):
        run_experiment(spec())


def _workload(**fields: Any) -> Workload:
    values: dict[str, Any] = {
        "name": "bad-knobs",
        "phase": "knobs",
        "runners": {"baseline": _runner},
        "store_purposes": (),
        "labels": lambda spec: {},
        **fields,
    }
    return Workload(**values)


class Required(BaseModel):
    items: int


def _options(name: str) -> type[BaseModel]:
    """An options model with one option called `name`."""
    return create_model("Named", **{name: (int, 1)})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"options": dict}, "options must be a pydantic BaseModel subclass"),
        ({"options": Knobs()}, "options must be a pydantic BaseModel subclass"),
        ({"options": Required}, r"options field\(s\) \['items'\] have no default"),
        ({"options": _options("seed")}, r"options field\(s\) \['seed'\] cannot be row columns"),
        ({"options": _options("store_ops_x")}, r"\['store_ops_x'\] cannot be row columns"),
        ({"options": _options("Items")}, r"\['Items'\] cannot be row columns"),
        (
            {"options": Knobs, "columns": ("items",)},
            r"\['items'\] cannot be row columns .* nor one of the workload's columns",
        ),
        ({"columns": ("Total",)}, r"has columns \('Total',\)"),
        ({"columns": ("time_ms",)}, r"has columns \('time_ms',\)"),
        ({"columns": ("cost_usd",)}, r"has columns \('cost_usd',\)"),
        ({"options": _options("memory_mb")}, r"\['memory_mb'\] cannot be row columns"),
        ({"columns": ("store_ops_mine",)}, r"has columns \('store_ops_mine',\)"),
        ({"columns": ("total", "total")}, r"has columns \('total', 'total'\)"),
        ({"columns": "total"}, r"has columns 'total'"),
    ],
)
def test_bad_options_or_columns_are_refused_at_registration(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        register_workload(_workload(**fields))
    assert "bad-knobs" not in WORKLOADS


def test_the_decorator_takes_options_and_columns() -> None:
    @register_workload("knobs-class", options=Knobs, columns=("total",))
    class KnobsByDecorator:
        """Knobs, by decorator."""

        baseline = staticmethod(_runner)

    try:
        workload = WORKLOADS["knobs-class"]
        assert workload.options is Knobs and workload.columns == ("total",)
        with pytest.raises(RegistryError, match="has columns 'total'"):
            register_workload("knobs-str", columns="total")(KnobsByDecorator)
    finally:
        WORKLOADS.unregister("knobs-class")


def test_the_command_line_reads_options_as_yaml_scalars(
    knobs: Workload, tmp_path: Any, capsys: Any
) -> None:
    out = tmp_path / "knobs.csv"
    args = ["run", "knobs", "--model", "baseline", "--runs", "1", "-q", "--out", str(out)]
    assert main([*args, "--options", "items=2", "--options", "label=true"]) == 2
    assert "workload 'knobs' option label=True has the wrong type (bool) (accepted: a" in (
        capsys.readouterr().err
    )
    assert main([*args, "--options", "items=2", "--options", "price=1e1"]) == 0
    rows = load_rows(out)
    assert list(rows["total"]) == [20.0] and list(rows["items"]) == [2]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("items", "'items' is not NAME=VALUE"),
        ("=2", "'=2' is not NAME=VALUE"),
        ("items=", "'items=' is not NAME=VALUE"),
        ("items=[1, 2]", "'items=[1, 2]' is not NAME=VALUE"),
        ("itemz=2", "workload 'knobs' has no option 'itemz'"),
    ],
)
def test_a_bad_options_flag_is_one_line_and_exit_2(
    knobs: Workload, value: str, message: str, capsys: Any
) -> None:
    assert main(["run", "knobs", "--model", "baseline", "--options", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_options_are_recorded_with_the_spec(knobs: Workload) -> None:
    dumped = spec(options={"items": 5}).model_dump()
    assert dumped["options"] == {"items": 5, "price": 2.5, "label": "plain"}
    assert ExperimentSpec.parse(dumped) == spec(options={"items": 5})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"items": True}, "option items=True: a boolean is never a number (accepted: an int in"),
        ({"price": False}, "option price=False: a boolean is never a number"),
        ({"price": float("nan")}, "option price=nan: not a number"),
    ],
)
def test_an_option_that_is_no_number_is_refused_by_the_one_rule(
    knobs: Workload, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        knobs.parse_options(values)
    assert knobs.parse_options({"label": "7"}).label == "7"  # text options take any text


class Mirror(BaseModel):
    """Options typed as the spec's own `runs` (int) and `failure_probability` (float), and a
    boolean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(1, ge=1, le=1_000_000)
    chance: float = Field(0.0, ge=0.0, lt=1.0)
    audit: bool = False


MIRROR = Workload(
    name="mirror",
    phase="mirror",
    runners={"baseline": _runner},
    store_purposes=(),
    labels=lambda spec: {},
    options=Mirror,
)


def _outcome(parse: Any, given: Any) -> tuple[str, Any]:
    """("accepted", (type, value)) or ("refused", why): the reason after ``name=value``."""
    try:
        value = parse()
    except (ValueError, SpecError) as exc:
        text = str(exc)
        shown = f"={given!r}"
        why = text[text.rindex(shown) + len(shown) :].removeprefix(":").strip()
        return "refused", why.split(" (accepted")[0]
    return "accepted", (type(value), value)


SCALARS = st.one_of(
    st.integers(-5, 2_000_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 20).map(float),  # integral floats
    st.booleans(),
    st.sampled_from(["3", "0.5", "1e1", "nan", "yes", "true", "", "abc"]),
    st.none(),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=SCALARS)
def test_an_option_takes_what_the_specs_own_field_of_its_type_takes(value: Any) -> None:
    """Formerly text was parsed by the option model ('3' became 3), unlike the spec's fields:
    now an int option and the spec's `runs`, a float option and `failure_probability`, accept
    the same values (as the same numbers) and refuse the same ones for the same reason."""
    counter = {"workload": "counter", "model": "durable", "runs": value}
    as_runs = _outcome(lambda: ExperimentSpec.parse(counter).runs, value)
    as_count = _outcome(lambda: MIRROR.parse_options({"count": value}).count, value)  # type: ignore[union-attr]
    assert as_runs == as_count
    base = {"workload": "video", "model": "durable", "failure_probability": value}
    as_probability = _outcome(lambda: ExperimentSpec.parse(base).failure_probability, value)
    as_chance = _outcome(lambda: MIRROR.parse_options({"chance": value}).chance, value)  # type: ignore[union-attr]
    assert as_probability == as_chance


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"count": "3"},
            "workload 'mirror' option count='3': text is never a number "
            "(accepted: an int in 1..1000000)",
        ),
        (
            {"count": 2.5},
            "workload 'mirror' option count=2.5 is not a whole number (accepted: an int in "
            "1..1000000)",
        ),
        ({"chance": "0.5"}, "workload 'mirror' option chance='0.5': text is never a number"),
        (
            {"audit": 1},
            "workload 'mirror' option audit=1: only True and False are booleans (accepted: True "
            "or False)",
        ),
        (
            {"audit": "yes"},
            "workload 'mirror' option audit='yes': only True and False are booleans",
        ),
    ],
)
def test_a_bad_option_value_names_the_option_the_value_and_the_range(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        MIRROR.parse_options(values)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_int_option_takes_an_integral_float_as_the_spec_does() -> None:
    options = MIRROR.parse_options({"count": 3.0, "audit": True})
    assert options == Mirror(count=3, audit=True) and type(options.count) is int  # type: ignore[union-attr]
