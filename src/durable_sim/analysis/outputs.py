"""Every table and figure the report reads, computed from the run rows in one call.

`report_outputs` is the one place that turns the rows of `evidence.load_rows` into the report's
outputs; notebook 05 and ``durable-sim report`` both reach it through
`durable_sim.report.write_report_outputs`, so what they write cannot differ. In order:

1. the evidence tables (`evidence.evidence_tables`);
2. the report's sentences (`report.report_sentences`), each checked against its own numbers
   (`prose.contradictions`), and their table ``sentences``;
3. the paper's claims judged at significance ``1 - level`` (`claims.claims_table`), table
   ``claims``, from the evidence tables and those other notebooks wrote
   (`evidence.CLAIM_EVIDENCE`);
4. Figure 1 per scenario (stem ``figure1`` for the canonical scenario, ``figure1_<scenario>``
   for the others) and, when the rows carry the time split, ``time_breakdown``.

`ReportOutputs.files` renders all of them to bytes (tables as CSV, LaTeX and Markdown; figures as
PDF, SVG and PNG), so a caller can write everything at once after everything has been computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from durable_sim.analysis.claims import Settings, claims_table
from durable_sim.analysis.evidence import evidence_tables
from durable_sim.analysis.figures import breakdown_figure, figure1, render_figure
from durable_sim.analysis.prose import Sentence, contradictions
from durable_sim.analysis.render import render_tables
from durable_sim.analysis.report import report_sentences, sentences_table
from durable_sim.analysis.scenarios import ordered_scenarios, with_scenario
from durable_sim.analysis.schema import AnalysisInputError, validate_rows
from durable_sim.analysis.tables import Table
from durable_sim.analysis.validation import TOLERANCE


@dataclass(frozen=True)
class ReportOutputs:
    """What the report reads, computed and not yet written.

    `rows`: every scenario's counter and video rows with a ``scenario`` column; `tables`: the
    tables by name (the evidence tables, then ``sentences`` and ``claims``); `sentences`: the
    data-chosen sentences in report order; `figures`: figures by file stem.
    """

    rows: pd.DataFrame
    tables: dict[str, Table]
    sentences: list[Sentence]
    figures: dict[str, Figure]

    def files(self, tables_dir: str | Path, figures_dir: str | Path) -> dict[Path, bytes]:
        """Every output as its file's bytes: ``<tables_dir>/<table>.{csv,tex,md}`` and
        ``<figures_dir>/<stem>.{pdf,svg,png}``; the same rows give the same bytes.

        Call it once per computed `ReportOutputs`: matplotlib's constrained layout settles on a
        figure's first draw, so a figure rendered a second time may differ in its last digits
        (positions, SVG clip ids) from its first rendering.
        """
        files = render_tables(list(self.tables.values()), tables_dir)
        for stem, figure in self.figures.items():
            files.update(render_figure(figure, Path(figures_dir) / stem))
        return files


def report_outputs(
    inputs: Mapping[str, pd.DataFrame | None],
    *,
    canonical: str,
    seed: int = 0,
    n_resamples: int = 10_000,
    level: float = 0.95,
    strong_rho: float = 0.7,
    tolerance: float = TOLERANCE,
    evidence: Mapping[str, pd.DataFrame] | None = None,
) -> ReportOutputs:
    """The report's tables, sentences and figures from `inputs` (the roles of
    `evidence.load_rows`: ``rows`` required; ``failures``, ``polling``, ``sensitivity``,
    ``predicted`` optional, ``None`` or absent to leave their tables out) and, for the claims,
    the frames of tables other notebooks wrote (`evidence`, by table name: see
    `evidence.load_claim_evidence`; the report's own tables win a name they share).

    `canonical`: the scenario of the paper's Tables 1-2 and of ``figure1``; `seed` and
    `n_resamples` (>= 100): the bootstrap's (intervals, Figure 1's error bars); `level` in
    (0, 1): the confidence level, whose complement is the significance level; `strong_rho` in
    (0, 1]: the |Spearman rho| from which a correlation counts as strong; `tolerance` in (0, 1]:
    the relative difference within which two values match.

    Raises `AnalysisInputError` for rows the analysis cannot use (or no rows of `canonical`),
    and `AssertionError` if a sentence contradicts its own numbers (a defect of the sentence
    rules, not of the input).
    """
    given = inputs.get("rows")
    if given is None:
        raise AnalysisInputError("no 'rows' among the inputs (accepted: evidence.load_rows's)")
    rows = with_scenario(given)
    validate_rows(rows)
    tables = evidence_tables(
        rows,
        canonical=canonical,
        failures=inputs.get("failures"),
        polling=inputs.get("polling"),
        sensitivity=inputs.get("sensitivity"),
        predicted=inputs.get("predicted"),
        seed=seed,
        n_resamples=n_resamples,
        level=level,
        tolerance=tolerance,
    )
    frames = {name: table.frame for name, table in tables.items()}
    sentences = report_sentences(
        frames, canonical=canonical, level=level, strong_rho=strong_rho, tolerance=tolerance
    )
    wrong = {s.key: contradictions(s) for s in sentences if contradictions(s)}
    if wrong:
        raise AssertionError(f"sentences contradict their numbers: {wrong}")
    tables["sentences"] = sentences_table(sentences, level=level)
    judged = {**(evidence or {}), **frames}
    tables["claims"] = claims_table(judged, Settings(1 - level, strong_rho, tolerance))
    figures = {
        ("figure1" if scenario == canonical else f"figure1_{scenario}"): figure1(
            rows[rows["scenario"] == scenario], seed=seed, title=scenario
        )
        for scenario in ordered_scenarios(rows["scenario"])
    }
    if "time_breakdown" in frames:
        figures["time_breakdown"] = breakdown_figure(frames["time_breakdown"])
    return ReportOutputs(rows, tables, sentences, figures)
