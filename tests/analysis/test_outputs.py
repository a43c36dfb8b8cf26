"""`report_outputs`: every table, sentence and figure of the report from the rows in one call;
`evidence.read_rows`/`load_rows`: rows verified against their sidecars."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from durable_sim.analysis.evidence import (
    CLAIM_EVIDENCE,
    load_claim_evidence,
    load_rows,
    read_rows,
    scenario_files,
)
from durable_sim.analysis.figures import FIGURE_FORMATS
from durable_sim.analysis.outputs import report_outputs
from durable_sim.analysis.render import FORMATS
from durable_sim.analysis.schema import AnalysisInputError
from durable_sim.errors import SidecarMismatchError
from durable_sim.files import publish_pair


def _two_scenarios(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([rows, rows.assign(profile="aws-lambda")], ignore_index=True)


def test_one_call_gives_tables_sentences_claims_and_a_figure_per_scenario(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    outputs = report_outputs(
        {"rows": _two_scenarios(rows)}, canonical="paper-local", n_resamples=200
    )
    assert list(outputs.tables)[:2] == ["table1_counter", "table2_video"]
    assert list(outputs.tables)[-2:] == ["sentences", "claims"]
    assert "failures" not in outputs.tables and "poll_sweep" not in outputs.tables
    assert list(outputs.figures) == ["figure1", "figure1_aws-lambda", "time_breakdown"]
    keys = {s.key for s in outputs.sentences}
    assert list(outputs.tables["sentences"].frame["key"]) == [s.key for s in outputs.sentences]
    assert {"time_paper-local_video", "time_aws-lambda_video"} <= keys
    assert set(outputs.rows["scenario"]) == {"paper-local", "aws-lambda"}
    files = outputs.files(tmp_path / "t", tmp_path / "f")
    expected = {tmp_path / "t" / f"{n}.{x}" for n in outputs.tables for x in FORMATS}
    expected |= {tmp_path / "f" / f"{n}.{x}" for n in outputs.figures for x in FIGURE_FORMATS}
    assert set(files) == expected
    again = report_outputs({"rows": _two_scenarios(rows)}, canonical="paper-local", n_resamples=200)
    assert files == again.files(tmp_path / "t", tmp_path / "f")  # same bytes every time
    assert not (tmp_path / "t").exists()  # rendering writes nothing


def test_optional_inputs_add_their_tables(rows: pd.DataFrame) -> None:
    failures = rows[rows["phase"] == "video"].assign(failure_probability=0.1)
    outputs = report_outputs(
        {"rows": rows, "failures": failures, "polling": None}, canonical="paper-local",
        n_resamples=200,
    )  # fmt: skip
    assert {"failures", "correlation_failures"} <= set(outputs.tables)
    assert "polling_design" not in outputs.tables


def test_bad_inputs_are_refused(rows: pd.DataFrame) -> None:
    with pytest.raises(AnalysisInputError, match="no 'rows' among the inputs"):
        report_outputs({"failures": rows}, canonical="paper-local")
    with pytest.raises(AnalysisInputError, match="no rows of canonical scenario 'aws-lambda'"):
        report_outputs({"rows": rows}, canonical="aws-lambda", n_resamples=200)


def test_rows_are_read_only_as_a_verified_pair(rows: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "phase1_counter.csv"
    assert read_rows(path) is None  # neither file: absent, not an error
    data = rows.to_csv(index=False).encode()
    publish_pair(path, data, {"specs": []})
    assert read_rows(path).equals(pd.read_csv(path))  # type: ignore[union-attr]
    path.write_bytes(data + b"\n")
    with pytest.raises(SidecarMismatchError, match=r"phase1_counter\.csv does not match"):
        read_rows(path)
    path.with_suffix(".meta.json").unlink()
    with pytest.raises(
        SidecarMismatchError, match=r"its sidecar phase1_counter\.meta\.json is missing"
    ):
        read_rows(path)


def test_a_missing_canonical_file_names_what_to_run(rows: pd.DataFrame, tmp_path: Path) -> None:
    publish_pair(tmp_path / "phase1_counter.csv", rows.to_csv(index=False).encode(), {})
    with pytest.raises(AnalysisInputError, match=r"missing \['phase2_video.csv'\].*notebooks 01"):
        load_rows(tmp_path, None, ["aws-lambda"])


def test_claims_read_the_evidence_other_notebooks_wrote(rows: pd.DataFrame, tmp_path: Path) -> None:
    assert load_claim_evidence(tmp_path) == {}
    mapping = pd.DataFrame([{"actor_model": "Actor state", "verdict": "holds"}])
    results = pd.DataFrame([{"variant": "durable", "clients": 4, "lost_updates": 0}])
    mapping.to_csv(tmp_path / "actor_mapping.csv", index=False)
    results.to_csv(tmp_path / "actor_results.csv", index=False)
    evidence = load_claim_evidence(tmp_path)
    assert set(evidence) == {"actor_mapping", "actor_results"} <= set(CLAIM_EVIDENCE)
    claims = (
        report_outputs({"rows": rows}, canonical="paper-local", n_resamples=200, evidence=evidence)
        .tables["claims"]
        .frame.set_index("id")
    )
    assert claims.loc["actor_semantics", "verdict"] == "supported"
    assert claims.loc["advantages_grow", "verdict"] == "not testable here"


def test_scenario_files_name_a_further_scenario_or_the_canonical_one(
    rows: pd.DataFrame, tmp_path: Path
) -> None:
    for name in ("phase1_counter", "phase2_video"):
        publish_pair(tmp_path / f"{name}.csv", rows.to_csv(index=False).encode(), {})
    assert [p.name for p in scenario_files(tmp_path, "paper-local")] == [
        "phase1_counter.csv",
        "phase2_video.csv",
    ]
    with pytest.raises(AnalysisInputError, match=r"no rows of scenario 'aws-lambda'.*notebooks 01"):
        scenario_files(tmp_path, "aws-lambda")
    for name in ("phase1_counter", "phase2_video"):
        other = rows.assign(profile="aws-lambda").to_csv(index=False).encode()
        publish_pair(tmp_path / f"{name}_aws-lambda.csv", other, {})
    assert [p.name for p in scenario_files(tmp_path, "aws-lambda")] == [
        "phase1_counter_aws-lambda.csv",
        "phase2_video_aws-lambda.csv",
    ]
