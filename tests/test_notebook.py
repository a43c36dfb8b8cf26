"""Notebook parameters: one typed rule for every parameter, and outputs under one root."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_sim import notebook
from durable_sim.notebook import (
    NOTEBOOK_PARAMETERS,
    CounterParameters,
    ParameterError,
    ProjectRootError,
    StatisticsParameters,
    VideoParameters,
    check_parameters,
    project_root,
)

REPO = Path(__file__).resolve().parents[1]
INT_FIELDS = [
    (cls, name)
    for cls in NOTEBOOK_PARAMETERS.values()
    for name, field in cls.model_fields.items()
    if field.annotation is int
]
FLOAT_FIELDS = [
    (cls, name)
    for cls in NOTEBOOK_PARAMETERS.values()
    for name, field in cls.model_fields.items()
    if field.annotation is float
]


def _bounds(cls: type, name: str) -> tuple[float, float]:
    """The closed range a field accepts, read from its constraints (open ends nudged inward)."""
    low, high = -math.inf, math.inf
    for meta in cls.model_fields[name].metadata:
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
        if getattr(meta, "gt", None) is not None:
            low = math.nextafter(meta.gt, math.inf)
        if getattr(meta, "lt", None) is not None:
            high = math.nextafter(meta.lt, -math.inf)
    return low, high


def test_named_inputs_of_the_issue() -> None:
    assert StatisticsParameters.check({"strong_rho": 1}).strong_rho == 1.0  # inside (0, 1]
    assert StatisticsParameters.check({"n_resamples": 1e4}).n_resamples == 10_000
    assert type(StatisticsParameters.check({"n_resamples": 1e4}).n_resamples) is int
    assert VideoParameters.check({"runs_baseline": 2.0}).runs_baseline == 2
    with pytest.raises(ParameterError, match=r"01_counter: bad parameter seed=True"):
        CounterParameters.check({"seed": True})


def test_unknown_key_names_the_key_and_the_notebook() -> None:
    with pytest.raises(ParameterError) as info:
        check_parameters("02_video_pipeline", {"runs_baselines": 5})
    message = str(info.value)
    assert message.startswith("02_video_pipeline: unknown parameter 'runs_baselines'")
    assert "runs_baseline" in message.split("accepted:")[1]


def test_out_of_range_names_value_and_range() -> None:
    with pytest.raises(ParameterError) as info:
        VideoParameters.check({"chunks": 0})
    assert str(info.value) == (
        "02_video_pipeline: bad parameter chunks=0: Input should be greater than or equal to 1 "
        "(accepted: an int in 1..300)"
    )
    with pytest.raises(ParameterError, match=r"level=1\.0: .* \(accepted: a number in \(0, 1\)\)"):
        StatisticsParameters.check({"level": 1.0})
    with pytest.raises(ParameterError, match=r"poll_sweep_ms=\[\]"):
        VideoParameters.check({"poll_sweep_ms": []})
    with pytest.raises(ParameterError, match="no parameterized notebook 'nope'"):
        check_parameters("nope", {})


@pytest.mark.parametrize(("cls", "name"), INT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
@settings(max_examples=25, derandomize=True, deadline=None)
@given(data=st.data())
def test_int_parameters_take_ints_and_integral_floats_only(
    cls: type, name: str, data: st.DataObject
) -> None:
    low, high = _bounds(cls, name)
    value = data.draw(st.integers(int(low), int(min(high, 2**53))))
    assert getattr(cls.check({name: value}), name) == value
    parsed = getattr(cls.check({name: float(value)}), name)
    assert (parsed, type(parsed)) == (value, int)
    for bad in (True, False, str(value), value + 0.5):
        with pytest.raises(ParameterError, match=f"{cls.notebook}: bad parameter {name}="):
            cls.check({name: bad})


@pytest.mark.parametrize(("cls", "name"), FLOAT_FIELDS, ids=lambda v: getattr(v, "__name__", v))
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_float_parameters_take_ints_and_floats_in_range(
    cls: type, name: str, data: st.DataObject
) -> None:
    low, high = _bounds(cls, name)
    value = data.draw(st.floats(low, high, allow_nan=False))
    assert getattr(cls.check({name: value}), name) == value
    for bad in (True, str(value), math.nan):
        with pytest.raises(ParameterError, match=f"bad parameter {name}="):
            cls.check({name: bad})
    for outside in (math.nextafter(low, -math.inf), math.nextafter(high, math.inf)):
        if math.isfinite(outside):
            with pytest.raises(ParameterError):
                cls.check({name: outside})


def test_bind_rebinds_the_namespace_to_validated_values() -> None:
    namespace: dict[str, object] = {"counter_runs": 3.0, "seed": 7, "unrelated": object()}
    params = CounterParameters.bind(namespace)
    assert params.counter_runs == 3
    assert type(namespace["counter_runs"]) is int
    assert namespace["profile"] == "paper-local"  # defaults filled in
    assert "unrelated" in namespace


def test_summary_names_no_machine_path() -> None:
    text = CounterParameters().summary()
    assert text.endswith("outputs under the project root")
    assert "/" not in text


def test_project_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notebook.ROOT_ENV, raising=False)
    assert project_root() == REPO  # the editable checkout, whatever the cwd
    monkeypatch.chdir(tmp_path)
    assert project_root() == REPO
    monkeypatch.setenv(notebook.ROOT_ENV, str(tmp_path / "env"))
    assert project_root() == tmp_path / "env"
    assert project_root(str(tmp_path / "explicit")) == tmp_path / "explicit"
    with pytest.raises(ProjectRootError, match="bad output_root='out': an absolute path"):
        project_root("out")
    monkeypatch.setenv(notebook.ROOT_ENV, "relative")
    with pytest.raises(ProjectRootError, match=f"bad {notebook.ROOT_ENV}='relative'"):
        project_root()


def test_outside_a_checkout_asks_for_a_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notebook.ROOT_ENV, raising=False)
    monkeypatch.setattr(notebook, "installed_checkout", lambda: None)
    with pytest.raises(ProjectRootError, match="set output_root or DURABLE_SIM_ROOT"):
        project_root()


def test_paths_and_ensure(tmp_path: Path) -> None:
    paths = CounterParameters(output_root=str(tmp_path)).paths().ensure()
    assert paths.data == tmp_path / "data" / "experiments"
    assert paths.tables == tmp_path / "paper" / "generated"
    assert paths.figures == tmp_path / "figures"
    assert all(p.is_dir() for p in (paths.data, paths.tables, paths.figures))
    (tmp_path / "blocked").write_text("a file where the root should be")
    with pytest.raises(ProjectRootError, match="cannot create output directory"):
        CounterParameters(output_root=str(tmp_path / "blocked")).paths().ensure()
