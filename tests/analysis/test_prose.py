"""Sentences chosen by the data, and the checker that catches a word its numbers contradict."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim.analysis.prose import (
    Sentence,
    agreement,
    clock_sentence,
    compare_counts,
    compare_means,
    consistency,
    contradictions,
    correlation,
    largest_share,
    slope_trend,
    trend,
)


def test_the_reviewers_examples_get_the_words_their_numbers_call_for() -> None:
    # "simulated on a virtual clock" for a wall-clock run
    assert "wall clock" in clock_sentence("k", "The runs", "wall").text
    assert "virtual" not in clock_sentence("k", "The runs", "wall").text
    # "grows" for a value that shrank
    assert (
        " shrinks " in trend("k", "The time", 900.0, 800.0, unit="ms", over="with more cores").text
    )
    # "fewer store ops than published" whatever the numbers
    assert (
        "fewer than" in compare_counts("k", "Ours:", 59.6, "the paper's", 62.6, unit="calls").text
    )
    assert "more than" in compare_counts("k", "Ours:", 65.0, "the paper's", 62.6, unit="calls").text
    assert (
        "as many as" in compare_counts("k", "Ours:", 62.6, "the paper's", 62.6, unit="calls").text
    )


def test_direction_and_significance_follow_the_difference_and_the_test() -> None:
    slower = compare_means("k", "A", "B", 110.0, 100.0, unit="ms", p=0.01, alpha=0.05, test="t")
    assert "A is slower than B by 10.0 ms" in slower.text and "is significant" in slower.text
    faster = compare_means("k", "A", "B", 90.0, 100.0, unit="ms", p=0.69, alpha=0.05, test="t")
    assert "faster than" in faster.text and "not significant" in faster.text
    same = compare_means("k", "A", "B", 100.0, 100.01, unit="ms", p=0.9, alpha=0.05, test="t")
    assert "as fast as" in same.text
    untestable = compare_means(
        "k", "A", "B", 5.0, 3.0, unit="ms", p=math.nan, alpha=0.05, test="Welch"
    )
    assert "not significant" in untestable.text and "no Welch test possible" in untestable.text


def test_agreement_consistency_correlation_and_shares() -> None:
    assert (
        "which matches within 15 %"
        in agreement("k", "X is", 1.1, 1.0, tolerance=0.15, reference_name="the measured").text
    )
    assert (
        "does not match"
        in agreement("k", "X is", 1.2, 1.0, tolerance=0.15, reference_name="the measured").text
    )
    assert "not consistent" in consistency("k", "S", False, 1, 2, 62.6, level=0.95, runs=20).text
    assert (
        "a strong correlation" in correlation("k", "B", 0.9, 1e-6, 20, strong=0.7, alpha=0.05).text
    )
    assert "not a strong" in correlation("k", "B", 0.9, 0.2, 20, strong=0.7, alpha=0.05).text
    assert "undefined" in correlation("k", "B", math.nan, math.nan, 20, strong=0.7, alpha=0.05).text
    s = largest_share("k", "the durable counter", 108.0, {"invocation floor": 106.0, "replay": 2.0})
    assert "the largest share is invocation floor (106.0 ms)" in s.text


@pytest.mark.parametrize(
    ("sentence", "complaint"),
    [
        (Sentence("k", "A is slower than B.", {"diff": -3.0}), "'slower than' but"),
        (Sentence("k", "A is slower than B."), "without a difference"),
        (Sentence("k", "We make fewer calls.", {"diff": 2.0}), "'fewer' but"),
        (Sentence("k", "It grows from 1 to 2.", {"diff": -1.0}), "'grows' but"),
        (
            Sentence("k", "The difference is significant.", {"p": 0.2, "alpha": 0.05}),
            "significance word",
        ),
        (
            Sentence("k", "The difference is not significant.", {"p": 0.001, "alpha": 0.05}),
            "significance word",
        ),
        (Sentence("k", "X matches within 15 %.", {"rel": 0.3, "tolerance": 0.15}), "match word"),
        (
            Sentence("k", "Runs were simulated on a virtual clock.", {"clock": "wall"}),
            "clock words",
        ),
        (Sentence("k", "This is consistent with 62.6.", {"consistent": False}), "consistency"),
        (
            Sentence(
                "k",
                "Spearman's rho = 0.40, a strong correlation.",
                {"rho": 0.4, "p": 0.01, "strong": 0.7, "alpha": 0.05},
            ),
            "strength word",
        ),
        (
            Sentence(
                "k",
                "Of it, the largest share is replay (2.0 ms).",
                {"largest": "replay", "shares": {"replay": 2.0, "invocation floor": 106.0}},
            ),
            "'largest' names",
        ),
    ],
)
def test_the_checker_finds_words_their_numbers_contradict(
    sentence: Sentence, complaint: str
) -> None:
    problems = contradictions(sentence)
    assert any(complaint in p for p in problems), problems


numbers = st.floats(-1e4, 1e4, allow_nan=False)
p_values = st.one_of(st.floats(0.0, 1.0), st.just(math.nan))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    a=numbers,
    b=numbers,
    p=p_values,
    rel_ref=st.floats(0.01, 1e4),
    rho=st.one_of(st.floats(-1.0, 1.0), st.just(math.nan)),
    consistent=st.booleans(),
    clock=st.sampled_from(["virtual", "wall"]),
)
def test_generated_sentences_never_contradict_their_numbers(
    a: float, b: float, p: float, rel_ref: float, rho: float, consistent: bool, clock: str
) -> None:
    sentences = [
        compare_means("k", "A", "B", a, b, unit="ms", p=p, alpha=0.05, test="Welch"),
        compare_means("k", "A", "B", a, b, unit="ms", p=p, alpha=0.05, test="BF", kind="spread"),
        compare_counts("k", "Ours:", a, "theirs", b, unit="calls"),
        trend("k", "The count", a, b, unit="", over="along the sweep"),
        agreement("k", "X is", a, rel_ref, tolerance=0.15, reference_name="the measured"),
        consistency("k", "S", consistent, a, b, 62.6, level=0.95, runs=20),
        correlation("k", "B", rho, p, 20, strong=0.7, alpha=0.05),
        clock_sentence("k", "The runs", clock),
        largest_share("k", "it", abs(a) + abs(b), {"one": abs(a), "two": abs(b) + 0.5}),
    ]
    for s in sentences:
        assert contradictions(s) == [], s.text


@pytest.mark.parametrize(
    ("low", "high", "word", "favour"),
    [
        (-3.0, -1.0, "falls", "in the durable model's favour"),
        (1.0, 3.0, "rises", "in the baseline's favour"),
        (-1.0, 3.0, "shows no clear trend", None),
        (0.0, 0.0, "shows no clear trend", None),
        (math.nan, math.nan, "shows no clear trend", None),
    ],
)
def test_slope_trend_words_follow_the_interval(low, high, word, favour) -> None:
    s = slope_trend(
        "k", "Store calls", (low + high) / 2, low, high, first=1.0, last=2.0, unit="calls",
        per="per step", level=0.95,
    )  # fmt: skip
    assert f"difference {word} (1.0 to 2.0 calls; slope" in s.text
    assert (favour in s.text) if favour else "favour" not in s.text
    assert not contradictions(s)
    for other in ("falls", "rises", "shows no clear trend"):
        if other != word:
            wrong = Sentence("k", s.text.replace(word, other), s.facts)
            assert contradictions(wrong), other
    assert contradictions(Sentence("k", "It falls.", {}))  # a trend word with no interval
