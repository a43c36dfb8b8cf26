"""Sentences chosen by the data: every comparative word comes from a number, never fixed text.

Each generator returns a `Sentence`: its text and the facts its words were chosen from. The
vocabulary is small and each word has one rule:

=========================================  ==================================================
words                                      chosen when
=========================================  ==================================================
slower / faster / as fast as               ``diff`` (subject minus other) > 0 / < 0 / rounds to 0
more / fewer / as many                     the same, for counts
more than / less than / as much as         the same, for dollars
wider / narrower / as wide as              the same, for spreads
grows / shrinks / stays                    the same, for a value followed along a sweep
significant / not significant              ``p`` < ``alpha`` / otherwise (or no test possible)
matches / does not match                   ``|rel| <= tolerance`` / otherwise
consistent / not consistent                the ``consistent`` fact
strong / not strong / undefined            ``|rho| >= strong and p < alpha`` / otherwise / NaN
simulated on a virtual clock / measured    the ``clock`` fact (``virtual`` / ``wall``)
on the wall clock
largest                                    the named ``largest`` is the maximum of ``shares``
falls / rises / shows no clear trend       the slope's bootstrap interval (``low``, ``high``)
                                           lies below zero / above zero / contains zero
in the durable model's favour / in the     the same interval below / above zero, for a
baseline's favour                          durable-minus-baseline difference of a cost
=========================================  ==================================================

`contradictions` checks a sentence against its facts by these rules, independently of the
generator that wrote it, so a test can render the report from any data and verify every word.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Facts = Mapping[str, Any]


@dataclass(frozen=True)
class Sentence:
    """One sentence of the report: where it goes (`key`), its text, and its facts."""

    key: str
    text: str
    facts: Facts = field(default_factory=dict)


def number(value: float, digits: int = 1) -> str:
    """`value` with `digits` decimals and thousands separators; NaN as "undefined"."""
    if not math.isfinite(value):
        return "undefined"
    text = f"{value:,.{digits}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def p_value(p: float) -> str:
    """A p-value as text: three significant digits, scientific below 0.001."""
    if not math.isfinite(p):
        return "undefined"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def percent(fraction: float, digits: int = 0) -> str:
    """A fraction as a percentage, e.g. 0.15 -> "15 %"."""
    return f"{fraction * 100:.{digits}f} %"


def _sign(diff: float, digits: int) -> int:
    rounded = round(diff, digits)
    return 0 if rounded == 0 else (1 if rounded > 0 else -1)


#: Direction words by kind: (positive, negative, zero).
DIRECTIONS: dict[str, tuple[str, str, str]] = {
    "time": ("slower than", "faster than", "as fast as"),
    "count": ("more", "fewer", "as many"),
    "spread": ("wider than", "narrower than", "as wide as"),
    "trend": ("grows", "shrinks", "stays"),
    "cost": ("more than", "less than", "as much as"),
}


def direction(diff: float, kind: str = "time", digits: int = 1) -> str:
    """The direction word of `diff` (subject minus other) for `kind` (see `DIRECTIONS`)."""
    positive, negative, zero = DIRECTIONS[kind]
    return {1: positive, -1: negative, 0: zero}[_sign(diff, digits)]


def significance(p: float, alpha: float) -> str:
    """``"significant"`` if ``p < alpha``, else ``"not significant"``."""
    return "significant" if math.isfinite(p) and p < alpha else "not significant"


def clock_phrase(clock: str) -> str:
    """How the runs were timed: on the virtual clock or on the wall clock."""
    if clock == "virtual":
        return "simulated on a virtual clock"
    if clock == "wall":
        return "measured on the wall clock"
    raise ValueError(f"unknown clock {clock!r} (accepted: 'virtual', 'wall')")


def compare_means(
    key: str,
    subject: str,
    other: str,
    mean_subject: float,
    mean_other: float,
    *,
    unit: str,
    p: float,
    alpha: float,
    test: str,
    kind: str = "time",
    context: str = "",
) -> Sentence:
    """ "{context}{subject} is {slower than} {other} by X unit (A vs B unit); the difference is
    {significant} at the α level ({test} p = ...)."""
    diff = mean_subject - mean_other
    word = direction(diff, kind)
    size = "" if _sign(diff, 1) == 0 else f" by {number(abs(diff))} {unit}"
    verdict = significance(p, alpha)
    p_text = f"{test} p = {p_value(p)}" if math.isfinite(p) else f"no {test} test possible"
    text = (
        f"{context}{subject} is {word} {other}{size} ({number(mean_subject)} vs "
        f"{number(mean_other)} {unit}); the difference is {verdict} at the "
        f"{percent(alpha)} level ({p_text})."
    )
    return Sentence(key, text, {"diff": diff, "p": p, "alpha": alpha, "kind": kind})


def compare_counts(
    key: str, subject: str, ours: float, other: str, reference: float, *, unit: str
) -> Sentence:
    """ "{subject}: X unit, {more|fewer|as many} than {other}'s Y (a Z % difference)."""
    diff = ours - reference
    word = direction(diff, "count")
    joiner = "as" if word == "as many" else "than"
    rel = (
        f", {percent(abs(diff) / abs(reference))} apart" if reference and word != "as many" else ""
    )
    text = f"{subject} {number(ours)} {unit}, {word} {joiner} {other} {number(reference)}{rel}."
    return Sentence(key, text, {"diff": diff, "kind": "count"})


def trend(key: str, what: str, start: float, end: float, *, unit: str, over: str) -> Sentence:
    """ "{what} {grows | shrinks | stays} from A to B unit {over}."."""
    diff = end - start
    word = direction(diff, "trend")
    unit = f" {unit}" if unit else ""
    text = f"{what} {word} from {number(start)} to {number(end)}{unit} {over}."
    return Sentence(key, text, {"diff": diff, "kind": "trend"})


def agreement(
    key: str, what: str, ours: float, reference: float, *, tolerance: float, reference_name: str
) -> Sentence:
    """ "{what}: X against {reference_name}'s Y, which {matches | does not match} within T"."""
    rel = (ours - reference) / abs(reference) if reference else (0.0 if ours == 0 else math.inf)
    word = "matches" if abs(rel) <= tolerance else "does not match"
    off = "" if rel == 0 else f", {percent(abs(rel), 1)} off"
    text = (
        f"{what} {number(ours, 2)} against {reference_name} {number(reference, 2)}{off}, "
        f"which {word} within {percent(tolerance)}."
    )
    return Sentence(key, text, {"rel": rel, "tolerance": tolerance})


def correlation(
    key: str, subject: str, rho: float, p: float, n: int, *, strong: float, alpha: float
) -> Sentence:
    """ "{subject}: Spearman's rho = r (p = .., n runs): a strong / not a strong correlation"."""
    if not math.isfinite(rho):
        text = f"{subject}: Spearman's rho is undefined over {n} runs (a constant variable)."
    else:
        is_strong = abs(rho) >= strong and math.isfinite(p) and p < alpha
        word = "a strong" if is_strong else "not a strong"
        text = (
            f"{subject}: Spearman's rho = {number(rho, 2)} (p = {p_value(p)}, {n} runs), "
            f"{word} correlation at |rho| >= {strong:g} and p < {alpha:g}."
        )
    return Sentence(key, text, {"rho": rho, "p": p, "strong": strong, "alpha": alpha})


def largest_share(key: str, subject: str, total: float, shares: Mapping[str, float]) -> Sentence:
    """ "Of the T ms of {subject}, the largest share is C (X ms), then D (Y ms)."""
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    (first, first_ms), (second, second_ms) = ranked[0], ranked[1]
    text = (
        f"Of the {number(total)} ms of {subject}, the largest share is {first} "
        f"({number(first_ms)} ms), then {second} ({number(second_ms)} ms)."
    )
    return Sentence(key, text, {"largest": first, "shares": dict(shares)})


def consistency(
    key: str,
    subject: str,
    consistent: bool,
    low: float,
    high: float,
    value: float,
    *,
    level: float,
    runs: int,
) -> Sentence:
    """ "{subject} gives L of its R-run means between a and b, {consistent | not consistent}
    with value."."""
    word = "consistent" if consistent else "not consistent"
    text = (
        f"{subject} gives {percent(level)} of its {runs}-run means between {number(low)} and "
        f"{number(high)} store calls, {word} with {value:g}."
    )
    return Sentence(key, text, {"consistent": consistent})


#: Trend words by the sign of the slope's interval: below zero, above zero, containing zero.
TREND_WORDS: tuple[str, str, str] = ("falls", "rises", "shows no clear trend")
FAVOUR_WORDS: tuple[str, str] = ("in the durable model's favour", "in the baseline's favour")


def _interval_side(low: float, high: float) -> int:
    """-1 if the interval lies below zero, 1 if above, 0 if it contains zero or is undefined."""
    if math.isfinite(high) and high < 0:
        return -1
    if math.isfinite(low) and low > 0:
        return 1
    return 0


def slope_trend(
    key: str,
    subject: str,
    slope: float,
    low: float,
    high: float,
    *,
    first: float,
    last: float,
    unit: str,
    per: str,
    level: float,
) -> Sentence:
    """ "{subject}: the durable-minus-baseline difference {falls | rises | shows no clear trend}
    (F to L unit; slope S unit {per}, P % CI a to b){, in the durable model's favour | in the
    baseline's favour}." The words follow the slope's interval (`low`, `high`); the difference
    is of something the lower the better (time, calls, dollars), so a falling one favours the
    durable model. `first` and `last` are the differences at the first and last grid values."""
    side = _interval_side(low, high)
    word = {-1: TREND_WORDS[0], 1: TREND_WORDS[1], 0: TREND_WORDS[2]}[side]
    favour = {-1: f", {FAVOUR_WORDS[0]}", 1: f", {FAVOUR_WORDS[1]}", 0: ""}[side]
    unit = f" {unit}" if unit else ""
    text = (
        f"{subject}: the durable-minus-baseline difference {word} ({number(first)} to "
        f"{number(last)}{unit}; slope {number(slope, 2)}{unit} {per}, {percent(level)} CI "
        f"{number(low, 2)} to {number(high, 2)}){favour}."
    )
    return Sentence(key, text, {"low": low, "high": high})


def clock_sentence(key: str, what: str, clock: str) -> Sentence:
    """ "{what} were {simulated on a virtual clock | measured on the wall clock}."."""
    return Sentence(key, f"{what} were {clock_phrase(clock)}.", {"clock": clock})


# -- checking ------------------------------------------------------------------------------------


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


def _direction_problems(s: Sentence) -> list[str]:
    problems = []
    for positive, negative, zero in DIRECTIONS.values():
        found = [w for w in (positive, negative, zero) if _has(s.text, w.split(" than")[0])]
        if not found:
            continue
        if "diff" not in s.facts:
            problems.append(f"{found[0]!r} without a difference to choose it")
            continue
        sign = _sign(float(s.facts["diff"]), 1)
        expected = {1: positive, -1: negative, 0: zero}[sign].split(" than")[0]
        wrong = [w for w in found if w.split(" than")[0] != expected]
        if wrong:
            problems.append(f"{wrong[0]!r} but the difference is {s.facts['diff']:g}")
    return problems


def _trend_problems(s: Sentence) -> list[str]:
    found = [w for w in (*TREND_WORDS, *FAVOUR_WORDS) if _has(s.text, w)]
    if not found:
        return []
    if "low" not in s.facts or "high" not in s.facts:
        return [f"{found[0]!r} without the slope's interval to choose it"]
    side = _interval_side(float(s.facts["low"]), float(s.facts["high"]))
    expected = {TREND_WORDS[{-1: 0, 1: 1, 0: 2}[side]]}
    if side:
        expected.add(FAVOUR_WORDS[0 if side < 0 else 1])
    wrong = [w for w in found if w not in expected]
    missing = [w for w in expected if w not in found]
    if wrong or missing:
        low, high = float(s.facts["low"]), float(s.facts["high"])
        return [f"trend words {found} but the interval is {low:g} to {high:g}"]
    return []


def contradictions(s: Sentence) -> list[str]:
    """Every word of `s` that its facts contradict (or that has no fact to check it)."""
    problems = _direction_problems(s) + _trend_problems(s)
    text, facts = s.text, s.facts
    if _has(text, "significant"):
        if "p" not in facts or "alpha" not in facts:
            problems.append("'significant' without a p-value and level")
        else:
            p, alpha = float(facts["p"]), float(facts["alpha"])
            significant = math.isfinite(p) and p < alpha
            if _has(text, "not significant") == significant:
                problems.append(f"significance word but p = {p:g}, alpha = {alpha:g}")
    if _has(text, "matches") or _has(text, "does not match"):
        if "rel" not in facts:
            problems.append("'matches' without a relative difference")
        else:
            within = abs(float(facts["rel"])) <= float(facts["tolerance"])
            if _has(text, "does not match") == within:
                problems.append(f"match word but rel = {facts['rel']:g}")
    if _has(text, "consistent"):
        if "consistent" not in facts:
            problems.append("'consistent' without the fact")
        elif _has(text, "not consistent") == bool(facts["consistent"]):
            problems.append(f"consistency word but consistent = {facts['consistent']}")
    if _has(text, "correlation") or _has(text, "Spearman's rho"):
        rho = float(facts.get("rho", math.nan))
        if not math.isfinite(rho):
            if not _has(text, "undefined"):
                problems.append("a correlation word but rho is undefined")
        else:
            p, strong = float(facts["p"]), float(facts["strong"])
            is_strong = abs(rho) >= strong and math.isfinite(p) and p < float(facts["alpha"])
            claims_strong = _has(text, "a strong") and not _has(text, "not a strong")
            if claims_strong != is_strong:
                problems.append(f"strength word but rho = {rho:g}, p = {p:g}")
    if _has(text, "virtual clock") or _has(text, "wall clock"):
        clock = facts.get("clock")
        if _has(text, "virtual clock") != (clock == "virtual") or _has(text, "wall clock") != (
            clock == "wall"
        ):
            problems.append(f"clock words but the runs' clock is {clock!r}")
    if _has(text, "differs most"):
        gaps, named = facts.get("gaps") or {}, facts.get("largest_gap")
        sign = 1.0 if float(facts.get("diff", 0.0)) >= 0 else -1.0
        if (
            not gaps
            or max(gaps, key=lambda k: sign * gaps[k]) != named
            or not _has(text, f"that way is {named}")
        ):
            problems.append(f"'differs most' names {named!r}, differences {gaps}")
    if _has(text, "largest"):
        shares = facts.get("shares") or {}
        if (
            not shares
            or max(shares, key=lambda k: shares[k]) != facts.get("largest")
            or not _has(text, f"largest share is {facts.get('largest')}")
        ):
            problems.append(f"'largest' names {facts.get('largest')!r}, shares {shares}")
    return problems
