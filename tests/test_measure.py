"""The measured data set command: files, host columns, sidecars, and what a twin reads back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from durable_sim.experiments import SpecError
from durable_sim.measure import load_calibration, load_parameter_set, load_specs, measure

PARAMS = Path(__file__).resolve().parents[1] / "params"
FLAT = {
    "counter_runs": 2,
    "runs_durable": 1,
    "runs_baseline": 2,
    "chunks": 2,
    "profile": "paper-local",
    "clock": "wall",
    "engine": "sim",
    "encoder": "model",
    "failure_probability": 0.0,
    "fanout": "map",
    "poll_interval_ms": 10.0,
    "seed": 1,
    "warmup_runs": 1,
}
SMALL = {"01_counter": FLAT, "02_video_pipeline": FLAT}


def test_measure_writes_both_phases_with_the_hosts_cores_and_load(tmp_path) -> None:
    written = measure(SMALL, tmp_path)
    assert sorted(p.name for p in written) == ["phase1_counter.csv", "phase2_video.csv"]
    video = pd.read_csv(tmp_path / "phase2_video.csv")
    assert len(video) == 3 and (video["clock"] == "wall").all()
    assert (video["cores"] >= 1).all() and video["load_1m"].notna().all()
    assert video["time_compute_ms"].isna().all()  # wall-clock time is not split
    specs = load_specs(tmp_path / "phase2_video.csv")
    assert [s.model for s in specs] == ["durable", "baseline"] and specs[0].warmup_runs == 1


def test_measure_refuses_a_missing_directory_before_running(tmp_path) -> None:
    with pytest.raises(SpecError, match="bad output directory"):
        measure(SMALL, tmp_path / "absent")
    assert list(tmp_path.iterdir()) == []


def test_the_measured_set_is_read_through_the_notebooks_models(tmp_path: Path) -> None:
    params = load_parameter_set(PARAMS / "measured")
    assert params["02_video_pipeline"]["encoder"] == "real"
    assert params["01_counter"]["warmup_runs"] >= 1
    (tmp_path / "01_counter.yaml").write_text("counter_runs: 2\nwarmup_run: 1\n")
    (tmp_path / "02_video_pipeline.yaml").write_text("")
    with pytest.raises(SpecError, match="01_counter: unknown parameter 'warmup_run'"):
        load_parameter_set(tmp_path)
    (tmp_path / "01_counter.yaml").unlink()
    with pytest.raises(SpecError, match=r"no parameter file .*01_counter\.yaml"):
        load_parameter_set(tmp_path)


def test_a_calibration_gives_the_profile_costs_only(tmp_path) -> None:
    path = tmp_path / "calibration.csv"
    path.write_text(
        "cost,value,unit,what\ncores,2,cores,x\nencode_per_s,80.5,ms,x\n"
        "encode_per_s_sigma,0.05,,x\nload_1m,3.0,,x\n"
    )
    assert load_calibration(path) == {"encode_per_s": 80.5, "encode_per_s_sigma": 0.05}
