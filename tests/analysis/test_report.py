"""The report rendered from each parameter file and from the measured data: no sentence
contradicts its numbers, and every claim gets a known verdict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from durable_sim.analysis.claims import VERDICTS, Settings, judge_claims
from durable_sim.analysis.evidence import evidence_tables
from durable_sim.analysis.prose import contradictions
from durable_sim.analysis.report import report_sentences
from durable_sim.experiments import run_experiments
from durable_sim.measure import load_calibration, load_parameter_set, load_specs
from durable_sim.study import (
    counter_specs,
    failure_specs,
    fanout_variant_spec,
    polling_specs,
    sweep_specs,
    twin_specs,
    video_specs,
)

REPO = Path(__file__).resolve().parents[2]
MEASURED = REPO / "data" / "measured"
PHASES = ("phase1_counter.csv", "phase2_video.csv")


def _measured() -> pd.DataFrame:
    return pd.concat([pd.read_csv(MEASURED / name) for name in PHASES], ignore_index=True)


def _render(rows: pd.DataFrame, canonical: str, **extra: pd.DataFrame | None) -> tuple:
    evidence = evidence_tables(rows, canonical=canonical, n_resamples=500, **extra)
    frames = {name: table.frame for name, table in evidence.items()}
    sentences = report_sentences(
        frames, canonical=canonical, level=0.95, strong_rho=0.7, tolerance=0.15
    )
    claims = judge_claims(frames, Settings(alpha=0.05, strong_rho=0.7, tolerance=0.15))
    return sentences, claims


@pytest.mark.parametrize("parameter_set", ["paper", "quick"])
def test_the_report_from_a_parameter_set_and_the_measured_data(parameter_set: str) -> None:
    both = load_parameter_set(REPO / "params" / parameter_set)
    c, p = both["01_counter"], both["02_video_pipeline"]
    report = yaml.safe_load(
        (REPO / "params" / parameter_set / "05_figure_and_statistics.yaml").read_text()
    )
    assert report["profile"] == c["profile"] == p["profile"]
    assert report["other_profiles"] == list(c["other_profiles"]) == list(p["other_profiles"])
    scenarios = [p["profile"], *p["other_profiles"]]
    rows = [
        run_experiments(counter_specs(c, profile=s) + video_specs(p, profile=s)) for s in scenarios
    ]
    measured_specs = [s for name in PHASES for s in load_specs(MEASURED / name)]
    predicted = run_experiments(
        twin_specs(
            measured_specs,
            host_cores=int(_measured()["cores"].iloc[0]),
            costs=load_calibration(MEASURED / "calibration.csv"),
        )
    )
    sensitivity = run_experiments([*sweep_specs(p), fanout_variant_spec(p)])
    sentences, claims = _render(
        pd.concat([*rows, _measured()], ignore_index=True),
        p["profile"],
        failures=run_experiments(failure_specs(p)),
        polling=run_experiments(polling_specs(p)),
        sensitivity=sensitivity,
        predicted=predicted,
    )
    wrong = {s.key: (s.text, contradictions(s)) for s in sentences if contradictions(s)}
    assert wrong == {}
    keys = {s.key for s in sentences}
    for scenario in [*scenarios, "measured"]:
        assert f"time_{scenario}_video" in keys
    assert {"clock_measured", "validation_video_baseline_time_ms", "poll_sweep"} <= keys
    assert set(claims["verdict"]) <= set(VERDICTS)
    assert len(claims) >= 12


def test_the_report_of_the_measured_data_alone_says_it_was_measured() -> None:
    sentences, claims = _render(_measured(), "measured")
    text = {s.key: s.text for s in sentences}
    assert "measured on the wall clock" in text["clock_canonical"]
    assert not any("virtual clock" in t for t in text.values())
    assert all(contradictions(s) == [] for s in sentences)
    # The measured runs carry no time split: no breakdown sentence is made up for them.
    assert not any(key.startswith("breakdown_") for key in text)
    assert set(claims["verdict"]) <= set(VERDICTS)


@pytest.mark.parametrize(
    ("measured", "predicted", "load", "reason"),
    [
        (1.30, 0.19, 10.3, "the host's load average was 10.3 on 2 cores"),
        (0.16, 0.05, 1.0, "under a millisecond"),
        (900.0, 700.0, 0.4, "the host was otherwise idle (load average 0.4 on 2 cores)"),
    ],
)
def test_a_validation_miss_names_the_reason_its_numbers_give(
    measured: float, predicted: float, load: float, reason: str
) -> None:
    from durable_sim.analysis.report import _validation_sentences

    row = {
        "workload": "counter",
        "model": "baseline",
        "metric": "time_ms",
        "unit": "ms",
        "measured": measured,
        "predicted": predicted,
        "rel_error": predicted / measured - 1,
        "within_target": False,
        "host_cores": 2,
        "mean_load_1m": load,
    }
    (sentence,) = _validation_sentences({"model_validation": pd.DataFrame([row])}, 0.15)
    assert reason in sentence.text and "does not match within 15 %" in sentence.text
    kinds = ("the host's load average was", "under a millisecond", "the host was otherwise idle")
    assert sum(kind in sentence.text for kind in kinds) == 1
