"""The study's specs from flat parameters: the same experiments for notebooks, tests, measure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from durable_sim.experiments import ExperimentSpec, SpecError
from durable_sim.notebook import check_parameters
from durable_sim.study import (
    POLL_STRATEGIES,
    counter_specs,
    failure_specs,
    fanout_variant_spec,
    polling_specs,
    sweep_specs,
    twin_specs,
    video_specs,
)

PARAMS = Path(__file__).resolve().parents[1] / "params"


def _values(parameter_set: str, notebook: str) -> dict[str, object]:
    """A notebook's validated parameters in a set, as the notebook passes them to the study."""
    path = PARAMS / parameter_set / f"{notebook}.yaml"
    return check_parameters(notebook, yaml.safe_load(path.read_text()) or {}).values()


@pytest.mark.parametrize("name", ["paper", "quick", "measured"])
def test_every_parameter_file_builds_valid_specs(name: str) -> None:
    p = _values(name, "02_video_pipeline")
    counter, video = counter_specs(_values(name, "01_counter")), video_specs(p)
    assert [s.model for s in counter + video] == ["durable", "baseline"] * 2
    assert (
        video[1].runs == p["runs_baseline"] and video[1].poll_interval_ms == p["poll_interval_ms"]
    )
    assert counter[1].engine == "sim"  # the baseline has no durable engine
    assert all(s.failure_probability == p["failure_sweep"] for s in failure_specs(p))
    assert [(s.poll_read, s.poll_backoff) for s in polling_specs(p)] == list(POLL_STRATEGIES)
    assert [s.poll_interval_ms for s in sweep_specs(p)] == p["poll_sweep_ms"]
    assert fanout_variant_spec(p).fanout != video[0].fanout


def test_the_measured_file_runs_the_official_runner_on_the_wall_clock() -> None:
    durable = video_specs(_values("measured", "02_video_pipeline"))[0]
    assert (durable.clock, durable.engine, durable.encoder) == ("wall", "aws-local", "real")
    assert durable.warmup_runs >= 1


def test_a_missing_parameter_is_named() -> None:
    with pytest.raises(SpecError, match=r"missing parameter\(s\) \['counter_runs'\]"):
        counter_specs({"profile": "paper-local", "clock": "virtual", "engine": "sim", "seed": 0})


def test_a_twin_runs_the_measured_spec_on_the_model() -> None:
    measured = ExperimentSpec.parse(
        {
            "workload": "video",
            "model": "baseline",
            "clock": "wall",
            "encoder": "real",
            "workers": 2,
            "warmup_runs": 1,
        }
    )
    (twin,) = twin_specs([measured], host_cores=4, costs={"encode_per_s": 70.0})
    assert (twin.clock, twin.engine, twin.encoder, twin.warmup_runs) == (
        "virtual",
        "sim",
        "model",
        0,
    )
    assert twin.cores == 2  # the real encoder ran on 2 worker processes
    assert twin.latency_profile().encode_per_s.median_ms == 70.0
    assert (twin.runs, twin.seed, twin.chunks) == (measured.runs, measured.seed, measured.chunks)


def test_every_spec_made_from_another_keeps_its_database_whole() -> None:
    """A spec's dump masks its DSN's password (so that no file records it): the specs the study
    makes from others (the polling design space, the interval sweep, the other fan-out) are
    derived from the spec itself, and connect with the password they were given."""
    dsn = "postgresql://su:S3cretPassw0rdXYZ@db.example/runs?sslpassword=KeyPassZZZ"
    p = {**_values("quick", "02_video_pipeline"), "database": dsn}
    derived = [*polling_specs(p), *sweep_specs(p), fanout_variant_spec(p), *failure_specs(p)]
    assert {s.database for s in derived} == {dsn}
    assert "S3cretPassw0rdXYZ" not in str(derived[0].model_dump())
