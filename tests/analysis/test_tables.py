"""Tables from rows, the paper comparison, and byte-stable atomic writers."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from durable_sim.analysis import (
    PAPER_VALUES,
    AnalysisInputError,
    Table,
    correlation_table,
    paper_comparison_table,
    statistics_table,
    store_ops_table,
    table1,
    table2,
    to_csv,
    to_latex,
    to_markdown,
    validate_rows,
    write_table,
    write_tables,
)
from durable_sim.analysis.render import format_cell, latex_escape

pytestmark = pytest.mark.filterwarnings("error")


def test_synthetic_rows_follow_the_schema(rows: pd.DataFrame) -> None:
    validate_rows(rows)
    with pytest.raises(AnalysisInputError, match="'ok'"):
        validate_rows(rows.drop(columns="ok"))


def test_table1_means_per_model(rows: pd.DataFrame) -> None:
    frame = table1(rows).frame.set_index("model")
    counter = rows[rows["phase"] == "counter"].groupby("model")
    assert list(frame.index) == ["baseline", "durable"]
    assert frame["runs"].tolist() == [10, 10]
    assert frame["mean_store_ops"].tolist() == [5.0, 0.0]
    assert frame["mean_steps"].tolist() == [4.0, 4.0]
    assert frame["mean_final_value"].tolist() == [2.0, 2.0]
    assert frame["mean_checkpoint_ops"].tolist() == [0.0, 5.0]
    assert np.allclose(frame["sd_time_ms"], counter["time_ms"].std().to_numpy())


def test_table2_means_per_model(rows: pd.DataFrame) -> None:
    frame = table2(rows).frame.set_index("model")
    video = rows[rows["phase"] == "video"].groupby("model")
    assert frame["runs"].tolist() == [20, 10]
    assert np.allclose(frame["mean_time_ms"], video["time_ms"].mean().to_numpy())
    assert np.allclose(frame["mean_store_ops"], video["store_ops"].mean().to_numpy())
    assert frame["mean_retries"].tolist() == [0.0, 0.0]


def test_tables_fail_clearly_on_bad_rows(rows: pd.DataFrame) -> None:
    with pytest.raises(AnalysisInputError, match=r"no rows with phase 'counter'; phases present"):
        table1(rows[rows["phase"] == "video"])
    bad = rows.assign(model=rows["model"].replace({"durable": "Durable"}))
    with pytest.raises(AnalysisInputError, match=r"unknown model 'Durable'; accepted"):
        table2(bad)
    with pytest.raises(AnalysisInputError, match=r"lack column\(s\) 'retries'"):
        table2(rows.drop(columns="retries"))


def test_paper_comparison(rows: pd.DataFrame) -> None:
    frame = paper_comparison_table(rows).frame
    assert len(frame) == len(PAPER_VALUES)
    runs = frame[(frame["metric"] == "runs") & (frame["phase"] == "video")]
    assert runs["paper"].tolist() == [20.0, 10.0] and runs["abs_diff"].tolist() == [0.0, 0.0]
    time = frame[(frame["metric"] == "time_ms") & (frame["model"] == "baseline")].iloc[0]
    assert time["abs_diff"] == pytest.approx(time["ours"] - 197.0)
    assert time["rel_diff"] == pytest.approx((time["ours"] - 197.0) / 197.0)
    zero = frame[(frame["paper"] == 0.0)]
    assert zero["rel_diff"].isna().all()
    assert zero["notes"].str.contains("relative difference undefined").all()


def test_paper_comparison_marks_missing_phases(rows: pd.DataFrame) -> None:
    frame = paper_comparison_table(rows[rows["phase"] == "counter"]).frame
    video = frame[frame["phase"] == "video"]
    assert video["ours"].isna().all()
    assert video["notes"].str.contains("no video rows").all()


def test_statistics_table_is_seeded(rows: pd.DataFrame) -> None:
    first = statistics_table(rows, seed=3, n_resamples=500)
    second = statistics_table(rows, seed=3, n_resamples=500)
    assert to_csv(first) == to_csv(second)
    assert first.frame[["phase", "metric"]].values.tolist() == [
        ["counter", "time_ms"],
        ["counter", "store_ops"],
        ["video", "time_ms"],
        ["video", "store_ops"],
    ]
    assert to_csv(statistics_table(rows, seed=4, n_resamples=500)) != to_csv(first)


def test_correlation_and_store_ops_tables(rows: pd.DataFrame) -> None:
    corr = correlation_table(rows).frame
    baseline_video = corr[(corr["phase"] == "video") & (corr["group"] == "baseline")].iloc[0]
    assert baseline_video["rho"] > 0.8
    kinds = store_ops_table(rows).frame.set_index("model")
    assert "store_ops_read" not in kinds.columns  # counter kinds are absent from video runs
    assert kinds.loc["baseline", "store_ops_chunk_insert"] == 10.0
    parts = kinds.filter(like="store_ops_").sum(axis=1)
    assert np.allclose(parts, kinds["store_ops"])


@pytest.fixture
def tiny() -> Table:
    frame = pd.DataFrame(
        {
            "model": ["baseline", "durable"],
            "runs": [2, 1],
            "value": [-0.01, float("nan")],
            "note": ["a_b & 50%", "x|y"],
        }
    )
    return Table(
        "tiny",
        "Tiny 100% table.",
        frame,
        {"model": "Model", "runs": "Runs", "value": "Value", "note": "Note"},
        {"model": "s", "runs": "d", "value": ".1f", "note": "s"},
        {"baseline": "Baseline"},
    )


def test_markdown_is_exact(tiny: Table) -> None:
    assert to_markdown(tiny) == (
        "| Model    | Runs | Value | Note      |\n"
        "| -------- | ---: | ----: | --------- |\n"
        "| Baseline |    2 |   0.0 | a_b & 50% |\n"
        "| durable  |    1 |    -- | x\\|y      |\n"
        "\n"
        "Tiny 100% table.\n"
    )


def test_latex_is_exact(tiny: Table) -> None:
    assert to_latex(tiny) == (
        "\\begin{table}[t]\n\\centering\n\\caption{Tiny 100\\% table.}\n\\label{tab:tiny}\n"
        "\\begin{tabular}{lrrl}\n\\toprule\nModel & Runs & Value & Note \\\\\n\\midrule\n"
        "Baseline & 2 & 0.0 & a\\_b \\& 50\\% \\\\\ndurable & 1 & -- & x|y \\\\\n"
        "\\bottomrule\n\\end{tabular}\n\\end{table}\n"
    )


def test_csv_keeps_all_data_and_normalizes_negative_zero(tiny: Table) -> None:
    frame = tiny.frame.assign(value=[-0.0, 1 / 3])
    text = to_csv(Table(tiny.name, tiny.caption, frame, tiny.headers, tiny.formats))
    assert text == "model,runs,value,note\nbaseline,2,0,a_b & 50%\ndurable,1,0.3333333333,x|y\n"


@pytest.mark.parametrize(
    ("value", "spec", "text"),
    [
        (-0.04, ".1f", "0.0"),
        (-0.0, ".3g", "0"),
        (-0.0004, ".1%", "0.0%"),
        (None, "s", "--"),
        (3.0, "d", "3"),
        (-1.26, ".1f", "-1.3"),
    ],
)
def test_format_cell(value: object, spec: str, text: str) -> None:
    assert format_cell(value, spec) == text


def test_latex_escape_covers_specials() -> None:
    assert latex_escape(r"a\b~c^d{e}$#") == (
        r"a\textbackslash{}b\textasciitilde{}c\textasciicircum{}d\{e\}\$\#"
    )


def test_table_rejects_inconsistent_presentation(tiny: Table) -> None:
    with pytest.raises(AnalysisInputError, match="absent columns"):
        Table("t", "c", tiny.frame, {"nope": "Nope"}, {"nope": "s"})
    with pytest.raises(AnalysisInputError, match="no format"):
        Table("t", "c", tiny.frame, {"runs": "Runs"}, {})


def test_write_table_is_byte_stable(rows: pd.DataFrame, tmp_path: Path) -> None:
    table = table2(rows)
    paths = write_table(table, tmp_path)
    assert [p.name for p in paths] == ["table2_video.csv", "table2_video.tex", "table2_video.md"]
    first = {p: p.read_bytes() for p in paths}
    write_table(table2(rows), tmp_path)
    assert {p: p.read_bytes() for p in paths} == first
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)  # no temp files left


def test_bad_input_writes_nothing(rows: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError, match=r"unknown table format\(s\) \['xlsx'\]"):
        write_table(table1(rows), tmp_path, formats=("csv", "xlsx"))
    with pytest.raises(AnalysisInputError, match="repeated"):
        write_tables([table1(rows), table1(rows)], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_replace_keeps_the_old_file(
    rows: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (path,) = write_table(table1(rows), tmp_path, formats=("md",))
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_table(table2(rows), tmp_path, formats=("md",))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_tables_writes_every_table(rows: pd.DataFrame, tmp_path: Path) -> None:
    tables = [table1(rows), table2(rows), paper_comparison_table(rows)]
    paths = write_tables(tables, tmp_path / "generated", formats=("md",))
    assert [p.name for p in paths] == ["table1_counter.md", "table2_video.md", "paper_vs_ours.md"]
    assert "Durable execution" in paths[1].read_text()
    assert not math.isnan(table2(rows).frame["sd_time_ms"].iloc[0])


def test_single_runs_give_nan_not_warnings(rows: pd.DataFrame) -> None:
    one_each = rows.groupby(["phase", "model"]).head(1)
    assert table2(one_each).frame["sd_time_ms"].isna().all()
    stats = statistics_table(one_each, n_resamples=50).frame
    assert stats["welch_p"].isna().all() and stats["ci_low"].isna().all()
    assert stats["notes"].str.contains("needs n >= 2 in each group").all()
    assert "--" in to_markdown(statistics_table(one_each, n_resamples=50))
