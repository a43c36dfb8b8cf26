"""A workload's two models side by side (`durable_sim.analysis.comparison`): the paired table,
sentences whose words follow its numbers, and agreement counted pair by pair."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from durable_sim.analysis.comparison import (
    agreement_sentence,
    compare_models,
    paired_agreement,
    paired_table,
)
from durable_sim.analysis.prose import contradictions
from durable_sim.analysis.schema import AnalysisInputError


def _rows(durable_time: list[float], *, digests: tuple[str, ...] = ()) -> pd.DataFrame:
    n = len(durable_time)
    base = {
        "phase": "mine",
        "seed": list(range(n)),
        "output_digest": list(digests) or ["d"] * n,
    }
    baseline = pd.DataFrame(
        {
            **base,
            "model": "baseline",
            "time_ms": [100.0 + 10 * i for i in range(n)],
            "store_ops": [30.0 + i % 2 for i in range(n)],
            "checkpoint_ops": 0.0,
            "invocations": 3.0,
            "cost_usd": 2e-6,
        }
    )
    durable = pd.DataFrame(
        {
            **base,
            "model": "durable",
            "time_ms": durable_time,
            "store_ops": 0.0,
            "checkpoint_ops": [5.0 + i % 3 for i in range(n)],
            "invocations": 3.0,
            "cost_usd": 3e-6,
        }
    )
    return pd.concat([baseline, durable], ignore_index=True)


def test_the_table_and_sentences_say_what_the_pairs_show() -> None:
    rows = _rows([100.0 + 10 * i + 50 + i for i in range(12)])
    table, sentences = compare_models(
        rows,
        "mine",
        counts=("store_ops", "checkpoint_ops", "invocations", "cost_usd"),
        n_resamples=500,
        name="mine_models",
    )
    assert table.name == "mine_models"
    frame = table.frame.set_index("metric")
    assert frame.loc["time_ms", "n_pairs"] == 12
    assert frame.loc["time_ms", "diff_mean"] == pytest.approx(55.5)
    assert frame.loc["time_ms", "wilcoxon_p"] == pytest.approx(2 / 2**12)
    assert frame.loc["invocations", "notes"] == (
        "zero variance: interval has zero width; every paired difference is zero"
    )
    texts = [s.text for s in sentences]
    assert texts[0].startswith("End to end over 12 paired runs, the durable model is slower than")
    assert "is significant at the 5 % level (Wilcoxon signed-rank p = " in texts[0]
    assert texts[1].startswith("The durable model makes 0.0 store calls per run, fewer than")
    assert texts[2].startswith("The durable model writes 6.0 checkpoints per run, more than")
    assert texts[3].startswith("The durable model needs 3.0 invocations per run, as many as")
    assert texts[4].startswith("The durable model costs 3.0 millionths of a dollar per run, more")
    assert all(contradictions(s) == [] for s in sentences)


def test_a_faster_durable_model_is_called_faster() -> None:
    rows = _rows([100.0 + 10 * i - 20 - i for i in range(8)])
    _, sentences = compare_models(rows, "mine", n_resamples=200, name="t")
    assert "the durable model is faster than the baseline" in sentences[0].text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"counts": ("retries",)}, AnalysisInputError, r"unknown count\(s\) \['retries'\]"),
        ({"alpha": 1.0}, ValueError, r"bad alpha=1.0 \(accepted: a number in \(0, 1\)\)"),
    ],
)
def test_bad_arguments_are_one_line(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        compare_models(_rows([1.0, 2.0]), "mine", name="t", **kwargs)


def test_a_phase_or_model_the_rows_lack_is_refused() -> None:
    rows = _rows([1.0, 2.0, 3.0])
    with pytest.raises(AnalysisInputError, match="phase"):
        paired_table(rows, "other", ("time_ms",), name="t")
    with pytest.raises(
        AnalysisInputError, match=r"phase 'mine' has no rows of model\(s\) \['durable'\]"
    ):
        paired_table(rows[rows.model == "baseline"], "mine", ("time_ms",), name="t")


def test_agreement_is_counted_pair_by_pair() -> None:
    rows = _rows([1.0, 2.0, 3.0, 4.0], digests=("a", "b", "c", "d"))
    assert paired_agreement(rows, "output_digest") == (4, 4)
    rows.loc[(rows.model == "durable") & (rows.seed == 2), "output_digest"] = "x"
    rows.loc[rows.seed == 3, "output_digest"] = math.nan  # empty in both: the same
    assert paired_agreement(rows, "output_digest") == (3, 4)
    extra = pd.DataFrame([{"model": "durable", "seed": 99, "output_digest": "a"}])
    assert paired_agreement(pd.concat([rows, extra]), "output_digest") == (3, 4)
    sentence = agreement_sentence("k", rows, "output_digest", holds="the digests match")
    assert sentence.text == "In 3 of the 4 paired runs (same seed), the digests match."
    assert contradictions(sentence) == []


def test_agreement_needs_one_experiment_and_a_pair() -> None:
    rows = _rows([1.0, 2.0])
    with pytest.raises(AnalysisInputError, match="seed=0 has several rows of one model"):
        paired_agreement(pd.concat([rows, rows]), "output_digest")
    with pytest.raises(AnalysisInputError, match="no seed has rows of both models"):
        agreement_sentence("k", rows[rows.model == "durable"], "output_digest", holds="x")
