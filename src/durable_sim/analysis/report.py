"""The report's sentences, each chosen by the evidence tables (see `prose` for the vocabulary).

`report_sentences` reads the frames of `evidence.evidence_tables` by name and returns every
comparative sentence the report prints, keyed by where it goes; `sentences_frame` turns them
into the ``key, text`` table that ``paper/paper.typ`` reads. Tables that are absent (e.g. no
measured data yet) simply produce no sentences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from durable_sim.analysis.breakdown import COMPONENT_LABELS
from durable_sim.analysis.polling import PAPER_RUNS, PAPER_STORE_OPS
from durable_sim.analysis.prose import (
    Sentence,
    agreement,
    clock_sentence,
    compare_counts,
    compare_means,
    consistency,
    correlation,
    direction,
    largest_share,
    number,
    percent,
    trend,
)
from durable_sim.analysis.scenarios import ordered_scenarios
from durable_sim.analysis.tables import Table
from durable_sim.rows import TIME_COMPONENTS

Frames = Mapping[str, pd.DataFrame]


def scenario_clock(scenario: str) -> str:
    """The clock a scenario's runs ran on (the measured scenario is the wall-clock one)."""
    return "wall" if scenario == "measured" else "virtual"


def _row(frame: pd.DataFrame, **where: object) -> pd.Series | None:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    hits = frame[mask]
    return None if hits.empty else hits.iloc[0]


def _time_sentences(frames: Frames, alpha: float) -> list[Sentence]:
    stats = frames["statistics"]
    out = []
    for scenario in ordered_scenarios(stats["scenario"]):
        out.append(
            clock_sentence(f"clock_{scenario}", f"The {scenario} runs", scenario_clock(scenario))
        )
        for phase in ("counter", "video"):
            r = _row(stats, scenario=scenario, phase=phase, metric="time_ms")
            if r is None:
                continue
            out.append(
                compare_means(
                    f"time_{scenario}_{phase}",
                    "durable execution",
                    "the baseline",
                    float(r["mean_b"]),
                    float(r["mean_a"]),
                    unit="ms",
                    p=float(r["welch_p"]),
                    alpha=alpha,
                    test="Welch",
                    context=f"{phase.capitalize()} ({scenario}): ",
                )
            )
    return out


def _gap_sentence(
    key: str, phase: str, scenario: str, durable: pd.Series, base: pd.Series
) -> Sentence:
    """Which component differs most between the models, in the direction of the gap."""
    gap = float(durable["time_ms"] - base["time_ms"])
    diffs = {
        COMPONENT_LABELS[c]: float(durable[f"time_{c}_ms"] - base[f"time_{c}_ms"])
        for c in TIME_COMPONENTS
    }
    sign = 1.0 if gap >= 0 else -1.0
    first = max(diffs, key=lambda c: sign * diffs[c])
    word = direction(gap, "time")
    text = (
        f"In {scenario}, durable execution is {word} the baseline in the {phase} by "
        f"{number(abs(gap))} ms; the component that differs most that way is {first} "
        f"({number(diffs[first], 1)} ms durable minus baseline)."
    )
    return Sentence(key, text, {"diff": gap, "largest_gap": first, "gaps": diffs})


def _breakdown_sentences(frames: Frames) -> list[Sentence]:
    table = frames.get("time_breakdown")
    if table is None:
        return []
    out = []
    for scenario in ordered_scenarios(table["scenario"]):
        for phase in ("counter", "video"):
            pair = {}
            for model in ("durable", "baseline"):
                r = _row(table, scenario=scenario, phase=phase, model=model)
                if r is None:
                    continue
                pair[model] = r
                shares = {COMPONENT_LABELS[c]: float(r[f"time_{c}_ms"]) for c in TIME_COMPONENTS}
                out.append(
                    largest_share(
                        f"breakdown_{scenario}_{phase}_{model}",
                        f"the {model} {phase} ({scenario})",
                        float(r["time_ms"]),
                        shares,
                    )
                )
            if len(pair) == 2:
                out.append(
                    _gap_sentence(
                        f"gap_{scenario}_{phase}",
                        phase,
                        scenario,
                        pair["durable"],
                        pair["baseline"],
                    )
                )
    return out


def _count_sentences(frames: Frames, tolerance: float) -> list[Sentence]:
    out = []
    t1, t2 = frames.get("table1_counter"), frames.get("table2_video")
    pv = frames["paper_vs_ours"]
    if t1 is not None:
        base = _row(t1, model="baseline")
        durable = _row(t1, model="durable")
        paper = _row(pv, phase="counter", model="baseline", metric="store_ops")
        if base is not None and paper is not None:
            out.append(
                agreement(
                    "counter_store_ops",
                    "The baseline counter's store calls per run are",
                    float(base["mean_store_ops"]),
                    float(paper["paper"]),
                    tolerance=tolerance,
                    reference_name="the paper's",
                )
            )
        if durable is not None:
            out.append(
                Sentence(
                    "counter_checkpoints",
                    f"The durable counter makes {number(float(durable['mean_store_ops']))} store "
                    f"calls per run and writes {number(float(durable['mean_checkpoint_ops']))} "
                    "checkpoints to its execution log instead.",
                )
            )
    if t2 is not None:
        base = _row(t2, model="baseline")
        durable = _row(t2, model="durable")
        paper = _row(pv, phase="video", model="baseline", metric="store_ops")
        if base is not None and paper is not None:
            out.append(
                compare_counts(
                    "video_store_ops",
                    "Our baseline makes",
                    float(base["mean_store_ops"]),
                    "the paper's",
                    float(paper["paper"]),
                    unit="store calls per video run",
                )
            )
        if base is not None and durable is not None:
            out.append(
                compare_counts(
                    "video_checkpoints",
                    "The durable pipeline writes",
                    float(durable["mean_checkpoint_ops"]),
                    "the store calls of the baseline,",
                    float(base["mean_store_ops"]),
                    unit="checkpoints per run",
                )
            )
    return out


def _correlation_sentences(frames: Frames, alpha: float, strong: float) -> list[Sentence]:
    out = []
    corr = frames["correlation"]
    for scenario in ordered_scenarios(corr["scenario"]):
        r = _row(corr, scenario=scenario, phase="video", group="baseline")
        if r is not None:
            out.append(
                correlation(
                    f"correlation_{scenario}",
                    f"Baseline video runs ({scenario})",
                    float(r["rho"]),
                    float(r["pvalue"]),
                    int(r["n"]),
                    strong=strong,
                    alpha=alpha,
                )
            )
    failures = frames.get("correlation_failures")
    if failures is not None:
        r = _row(failures, phase="video", group="baseline")
        if r is not None:
            out.append(
                correlation(
                    "correlation_failures",
                    "Baseline video runs with injected failures",
                    float(r["rho"]),
                    float(r["pvalue"]),
                    int(r["n"]),
                    strong=strong,
                    alpha=alpha,
                )
            )
    return out


def _spread_sentences(frames: Frames, alpha: float) -> list[Sentence]:
    spread = frames["spread"]
    out = []
    for scenario in ordered_scenarios(spread["scenario"]):
        r = _row(spread, scenario=scenario, phase="video")
        if r is None:
            continue
        out.append(
            compare_means(
                f"spread_{scenario}",
                "the spread (SD) of durable video times",
                "the baseline's",
                float(r["sd_durable_ms"]),
                float(r["sd_baseline_ms"]),
                unit="ms",
                p=float(r["bf_p"]),
                alpha=alpha,
                test="Brown-Forsythe",
                kind="spread",
                context=f"In {scenario}, ",
            )
        )
    return out


def _validation_sentences(frames: Frames, tolerance: float) -> list[Sentence]:
    table = frames.get("model_validation")
    if table is None:
        return []
    out = []
    for _, r in table.iterrows():
        key = f"validation_{r['workload']}_{r['model']}_{r['metric']}"
        s = agreement(
            key,
            f"Predicted {r['metric']} of the {r['model']} {r['workload']} is",
            float(r["predicted"]),
            float(r["measured"]),
            tolerance=tolerance,
            reference_name="the measured",
        )
        if not bool(r["within_target"]):
            s = Sentence(key, s.text[:-1] + f" ({_validation_miss_reason(r)}).", s.facts)
        out.append(s)
    return out


#: A load average above this share of the host's cores means other work competed with the
#: measurement for at least half of them.
LOADED_HOST_SHARE = 0.5
#: A time gap below this many ms is of the size of the interpreter's own work per run.
SUB_MS_GAP = 1.0


def _validation_miss_reason(r: pd.Series) -> str:
    """Why a validation row misses its target, chosen by the row's numbers: a loaded host, a
    gap too small for the model to resolve, or a cost the model leaves out."""
    load, cores = float(r["mean_load_1m"]), int(r["host_cores"])
    if load > LOADED_HOST_SHARE * cores:
        return (
            f"the host's load average was {number(load)} on {cores} cores during the "
            "measurement; the model assumes an otherwise idle host"
        )
    gap = abs(float(r["measured"]) - float(r["predicted"]))
    if r["metric"] == "time_ms" and gap < SUB_MS_GAP:
        return (
            f"the gap is {number(gap)} ms, under a millisecond: the Python work of a run "
            "outside the calibrated costs (the harness, the function runtime's dispatch), which "
            "the model does not charge, is of that size"
        )
    return (
        f"the host was otherwise idle (load average {number(load)} on {cores} cores), so the "
        "model leaves out a cost the measurement includes"
    )


def _polling_sentences(frames: Frames, level: float) -> list[Sentence]:
    table = frames.get("polling_design")
    if table is None:
        return []
    return [
        consistency(
            f"polling_{r['scenario']}_{r['poll_read']}_{r['poll_backoff']}",
            f"In {r['scenario']}, polling by {r['poll_read']} with "
            f"{'an' if r['poll_backoff'][0] in 'aeiou' else 'a'} {r['poll_backoff']} wait "
            f"(first {number(float(r['poll_interval_ms']), 0)} ms)",
            bool(r["consistent"]),
            float(r["mean_low"]),
            float(r["mean_high"]),
            PAPER_STORE_OPS,
            level=level,
            runs=PAPER_RUNS,
        )
        for _, r in table.iterrows()
    ]


def _sweep_sentences(frames: Frames) -> list[Sentence]:
    sweep = frames.get("poll_sweep")
    if sweep is None or len(sweep) < 2:
        return []
    first, last = sweep.iloc[0], sweep.iloc[-1]
    return [
        trend(
            "poll_sweep",
            "The baseline's number of store calls per video run",
            float(first["mean_store_ops"]),
            float(last["mean_store_ops"]),
            unit="",
            over=(
                f"as the poll interval goes from {number(float(first['poll_interval_ms']), 0)} "
                f"to {number(float(last['poll_interval_ms']), 0)} ms"
            ),
        )
    ]


def _failure_sentences(frames: Frames) -> list[Sentence]:
    table = frames.get("failures")
    if table is None:
        return []
    durable, base = _row(table, model="durable"), _row(table, model="baseline")
    if durable is None or base is None:
        return []
    return [
        compare_counts(
            "failure_retries",
            "With injected failures the durable runs retried",
            float(durable["mean_retries"]),
            "the baseline's",
            float(base["mean_retries"]),
            unit="times per run",
        )
    ]


def report_sentences(
    frames: Frames, *, canonical: str, level: float, strong_rho: float, tolerance: float
) -> list[Sentence]:
    """Every data-chosen sentence of the report, from the evidence frames by name.

    `canonical` names the scenario of Tables 1-2; ``alpha = 1 - level`` is the significance
    level; `strong_rho` the |rho| from which a correlation counts as strong; `tolerance` the
    relative difference within which two values match.
    """
    alpha = 1 - level
    if not 0 < alpha < 1 or not math.isfinite(strong_rho):
        raise ValueError(f"bad level {level!r} (accepted: (0, 1))")
    return [
        clock_sentence("clock_canonical", "The canonical runs", scenario_clock(canonical)),
        *_time_sentences(frames, alpha),
        *_breakdown_sentences(frames),
        *_count_sentences(frames, tolerance),
        *_correlation_sentences(frames, alpha, strong_rho),
        *_spread_sentences(frames, alpha),
        *_validation_sentences(frames, tolerance),
        *_polling_sentences(frames, level),
        *_sweep_sentences(frames),
        *_failure_sentences(frames),
    ]


def sentences_table(sentences: list[Sentence], *, level: float) -> Table:
    """The sentences as a table (``key, text``) for the report to read by key."""
    frame = pd.DataFrame({"key": [s.key for s in sentences], "text": [s.text for s in sentences]})
    return Table(
        "sentences",
        f"The report's data-chosen sentences (significance at {percent(1 - level)}).",
        frame,
        {"key": "Key", "text": "Sentence"},
        {"key": "s", "text": "s"},
    )
