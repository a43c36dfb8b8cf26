"""Notebook parameters: one typed rule for every parameter, and outputs under one root."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_sim.errors import SpecError
from durable_sim.notebook import (
    NOTEBOOK_PARAMETERS,
    ActorParameters,
    CounterParameters,
    ParameterError,
    SensitivityParameters,
    StatisticsParameters,
    VideoParameters,
    check_parameters,
)
from durable_sim.project import ProjectRootError, installed_checkout
from durable_sim.report import ReportSpec

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


def test_a_database_parameter_is_shown_without_its_password() -> None:
    """A notebook prints its parameters (committed with its outputs) and names a bad one: a
    DSN's secrets are masked in both, and the notebook itself keeps the DSN it was given."""
    url = "postgresql://su:S3cretPassw0rdXYZ@db.example/runs?sslpassword=KeyPassZZZ"
    namespace: dict[str, object] = {"database": url}
    params = CounterParameters.bind(namespace)
    assert namespace["database"] == url  # the runs connect with it
    text = params.summary()
    assert "database='user=su password=*** dbname=runs host=db.example sslpassword=***'" in text
    for bad in (
        "postgresql+psycopg://su:S3cretPassw0rdXYZ@h/d",
        "host=h password S3cretPassw0rdXYZ",
    ):
        with pytest.raises(ParameterError) as err:
            CounterParameters.check({"database": bad})
        assert "S3cretPassw0rdXYZ" not in str(err.value) and "***" in str(err.value)


def test_paths_and_ensure(tmp_path: Path) -> None:
    paths = CounterParameters(output_root=str(tmp_path)).paths().ensure()
    assert paths.data == tmp_path / "data" / "experiments"
    assert paths.tables == tmp_path / "paper" / "generated"
    assert paths.figures == tmp_path / "figures"
    assert all(p.is_dir() for p in (paths.data, paths.tables, paths.figures))
    (tmp_path / "blocked").write_text("a file where the root should be")
    with pytest.raises(ProjectRootError, match="cannot create output directory"):
        CounterParameters(output_root=str(tmp_path / "blocked")).paths().ensure()


def test_notebook_05_parameters_are_the_report_spec() -> None:
    """One source of truth: notebook 05's model is `ReportSpec`'s fields plus output_root, and
    its instances are report specs with the same values."""
    assert set(StatisticsParameters.model_fields) == {*ReportSpec.model_fields, "output_root"}
    params = StatisticsParameters.check({"n_resamples": 1e3, "other_profiles": ["aws-lambda"]})
    assert isinstance(params, ReportSpec)
    assert ReportSpec.parse(params.values()) == ReportSpec(
        n_resamples=1000, other_profiles=("aws-lambda",)
    )
    for bad in ({"stats_seed": True}, {"n_resamples": 100.5}, {"strong_rho": "1"}):
        with pytest.raises(SpecError):
            ReportSpec.parse(bad)  # the CLI's spec refuses what the notebook refuses


def test_notebook_03_parameters() -> None:
    params = ActorParameters.check({"actor_clients": [1.0, 4], "memory_mb": 3008.0})
    assert params.actor_clients == [1, 4] and type(params.actor_clients[0]) is int
    with pytest.raises(ParameterError, match=r"actor_clients\.1=2000: .*\(accepted: a non-empty"):
        ActorParameters.check({"actor_clients": [1, 2000]})
    with pytest.raises(
        ParameterError, match=r"memory_mb=64: .*\(accepted: an int in 128\.\.10240\)"
    ):
        ActorParameters.check({"memory_mb": 64})
    root = Path("/srv/project")
    assert ActorParameters(output_root=str(root)).prices_path() == (
        root / "data" / "prices" / "aws-us-east-1.yaml"
    )


def test_notebook_04_parameters() -> None:
    params = SensitivityParameters.check({"n_resamples": 1e3, "sweep_workers": 2.0})
    assert (params.n_resamples, params.sweep_workers) == (1000, 2)
    with pytest.raises(ParameterError, match=r"n_resamples=50: .*\(accepted: an int in 100\.\."):
        SensitivityParameters.check({"n_resamples": 50})
    with pytest.raises(ParameterError, match=r"chunks_sweep='': .*\(accepted: "):
        SensitivityParameters.check({"chunks_sweep": ""})


def test_notebook_04_reads_its_sweep_files_from_the_output_root_or_the_checkout(
    tmp_path: Path,
) -> None:
    """A fresh output root holds no sweep files: the checkout's committed ones are read; a file
    the output root does hold is read from there; an absolute path is taken as it is."""
    checkout = installed_checkout()
    assert checkout is not None
    own = tmp_path / "params/sweeps/coarse/sensitivity_failures.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("{}")
    paths = SensitivityParameters(
        output_root=str(tmp_path), cores_sweep="/elsewhere/cores.yaml"
    ).sweep_paths()
    assert paths == {
        "chunks": checkout / "params/sweeps/coarse/sensitivity_chunks.yaml",
        "failures": own,
        "polling": checkout / "params/sweeps/coarse/sensitivity_polling.yaml",
        "cores": Path("/elsewhere/cores.yaml"),
    }
    assert all(p.is_file() for name, p in paths.items() if name != "cores")
