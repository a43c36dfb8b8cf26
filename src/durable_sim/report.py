"""Rebuild the report from committed run rows, without running any experiment.

`compute_report_outputs` is the one function that computes what the report reads: notebook
``05_figure_and_statistics`` calls it through `write_report_outputs` with its parameters, and
``durable-sim report`` (`rebuild_report`) with the project's directories, so the two cannot
drift. It reads the run rows the notebooks committed (each CSV checked against its
``.meta.json`` sidecar, see `durable_sim.analysis.evidence.load_rows`) and computes every
table, sentence, claim and figure (`durable_sim.analysis.outputs.report_outputs`) before
anything is written. `write_report_outputs` then writes them, each file atomically;
`rebuild_report` writes them, and the PDF compiled from them with Typst, into a scratch tree,
and publishes the whole set in one recoverable step (`durable_sim.staging`): a ``durable-sim
report`` killed at any moment leaves the report as it was or as finished. The
tables and figures of notebooks 03 (actors) and 04 (sensitivity and cost) come from their own
runs: the paper reads them as committed, and the claims read the ones they judge
(`durable_sim.analysis.evidence.CLAIM_EVIDENCE`) from the tables directory.

Layout, relative to the project root (the directory holding ``paper/paper.typ``)::

    data/experiments/phase{1_counter,2_video}[_<profile>|_predicted].csv  read
    data/experiments/phase2_{failures,polling,sensitivity}.csv            read
    data/measured/phase{1_counter,2_video}.csv                            read (if present)
    paper/generated/{actor,sensitivity}_*.csv                             read (claims)
    paper/generated/*.{csv,tex,md}                                        written
    figures/{figure1,figure1_<scenario>,time_breakdown}.{pdf,svg,png}     written
    paper/build/paper.pdf                                                 written
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from durable_sim.errors import OutputPathError, SpecError, validation_line
from durable_sim.files import refuses_files, write_all_atomic, write_bytes_atomic
from durable_sim.parameters import Int, Names, Seed
from durable_sim.project import ProjectPaths
from durable_sim.staging import exclusive, new_stage, publish, recover

if TYPE_CHECKING:
    import pandas as pd

    from durable_sim.analysis.outputs import ReportOutputs

# `durable_sim.analysis` (matplotlib, seaborn: over a second to import) is imported inside the
# functions that use it, so that the command line, which imports this module, starts fast.


class ReportSpec(BaseModel):
    """The report's parameters, with the canonical values as defaults (those of
    ``params/paper/05_figure_and_statistics.yaml``), so that ``durable-sim report`` rebuilds the
    committed outputs. Notebook 05's parameters are these fields
    (`durable_sim.notebook.StatisticsParameters` derives from this class), and the command's
    options are generated from them: one list of fields. Types are checked the way every
    hand-written parameter is (`durable_sim.parameters`: strict, integral floats as ints)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    profile: str = Field(
        default="paper-local",
        min_length=1,
        description="canonical scenario: its rows make Tables 1-2 and figure1",
    )
    other_profiles: Names = Field(
        default=("aws-lambda",),
        description="further latency scenarios whose rows (phase*_<profile>.csv) join the report",
    )
    stats_seed: Seed = Field(
        default=0,
        description="seed of the bootstrap resampling (intervals and Figure 1's error bars)",
    )
    n_resamples: Int = Field(
        default=10_000,
        ge=100,
        le=10_000_000,
        description="bootstrap resamples per confidence interval",
    )
    level: float = Field(
        default=0.95,
        gt=0.0,
        lt=1.0,
        description="confidence level of the intervals; 1 - level is the significance level",
    )
    strong_rho: float = Field(
        default=0.7,
        gt=0.0,
        le=1.0,
        description="|Spearman rho| from which a correlation counts as strong",
    )
    tolerance: float = Field(
        default=0.15,
        gt=0.0,
        le=1.0,
        description="relative difference within which two values match",
    )

    @classmethod
    def parse(cls, values: dict[str, Any]) -> ReportSpec:
        """Validate `values`; a bad one raises `SpecError` with a single clear line."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SpecError(f"bad report parameters: {validation_line(exc)}") from None


def _check_writable_dirs(directories: list[Path]) -> None:
    for directory in directories:
        if not directory.is_dir():
            raise OutputPathError(
                f"output directory {directory} does not exist (accepted: an existing directory)"
            )
        reason = refuses_files(directory)
        if reason is not None:
            raise OutputPathError(f"bad output directory: {reason}")


def build_paper(root: str | Path) -> Path:
    """Compile ``paper/paper.typ`` under `root` to ``paper/build/paper.pdf`` with Typst.

    Fonts are Typst's embedded ones only (system fonts ignored) and no date is set, so the
    same sources give the same bytes. The PDF is written atomically; returns its path.
    """
    import typst

    paths = ProjectPaths(Path(root))
    pdf = typst.compile(
        str(paths.paper_source), root=str(paths.root), font_paths=[], ignore_system_fonts=True
    )
    write_bytes_atomic(paths.paper_pdf, pdf)
    return paths.paper_pdf


def _phase_profiles(data_dir: Path) -> list[str]:
    """The profiles with rows beside the canonical ones: ``<phase>_<profile>.csv`` files of
    either phase, with their sidecars (the model's ``predicted`` twins excluded)."""
    from durable_sim.analysis.evidence import PHASE_FILES

    found = {
        path.stem.removeprefix(f"{phase}_")
        for phase in PHASE_FILES
        for path in data_dir.glob(f"{phase}_*.csv")
        if path.with_suffix(".meta.json").is_file()
    }
    return sorted(found - {"predicted"})


def _check_profiles(spec: ReportSpec, data_dir: Path, rows: pd.DataFrame) -> None:
    """`SpecError` naming a profile of `spec` that has no rows, and the accepted ones."""
    from durable_sim.analysis.evidence import ordered_scenarios, with_scenario

    others = _phase_profiles(data_dir)
    for name in spec.other_profiles:
        if name not in others:
            raise SpecError(
                f"bad report parameters: other_profiles={name!r} has no rows "
                f"(phase*_{name}.csv) in {data_dir} (accepted: {', '.join(others) or 'none'})"
            )
    scenarios = [str(s) for s in ordered_scenarios(with_scenario(rows)["scenario"])]
    if spec.profile not in scenarios:
        raise SpecError(
            f"bad report parameters: profile={spec.profile!r} has no rows in {data_dir} "
            f"(accepted: {', '.join(scenarios)})"
        )


def compute_report_outputs(
    data_dir: str | Path,
    tables_dir: str | Path,
    spec: ReportSpec | None = None,
    *,
    measured_dir: str | Path | None = None,
) -> ReportOutputs:
    """The report's tables, sentences and figures from the rows in `data_dir` (and the
    measured data set in `measured_dir`, skipped if absent) and the claims' evidence in
    `tables_dir`; reads only. Raises `SpecError` if the spec's ``profile`` or one of its
    ``other_profiles`` has no rows (naming it and the profiles that have), a
    `SidecarMismatchError` for a CSV that does not match its sidecar and `AnalysisInputError`
    for rows the analysis cannot use."""
    from durable_sim.analysis.evidence import load_claim_evidence, load_rows
    from durable_sim.analysis.outputs import report_outputs

    spec = spec or ReportSpec()
    measured = Path(measured_dir) if measured_dir is not None else None
    inputs = load_rows(
        data_dir, measured if measured and measured.is_dir() else None, spec.other_profiles
    )
    rows = inputs["rows"]
    assert rows is not None  # load_rows raises when the canonical rows are missing
    _check_profiles(spec, Path(data_dir), rows)
    return report_outputs(
        inputs,
        canonical=spec.profile,
        seed=spec.stats_seed,
        n_resamples=spec.n_resamples,
        level=spec.level,
        strong_rho=spec.strong_rho,
        tolerance=spec.tolerance,
        evidence=load_claim_evidence(tables_dir),
    )


def write_report_outputs(
    data_dir: str | Path,
    tables_dir: str | Path,
    figures_dir: str | Path,
    spec: ReportSpec | None = None,
    *,
    measured_dir: str | Path | None = None,
) -> tuple[ReportOutputs, list[Path]]:
    """Compute the report's tables, sentences and figures (`compute_report_outputs`), then
    write them into `tables_dir` and `figures_dir`, each file atomically; returns what was
    computed and the paths written.

    Everything is checked and computed before the first file is written: a missing or
    unwritable output directory (`OutputPathError`), a profile without rows (`SpecError`), a
    CSV that does not match its sidecar (`SidecarMismatchError`) or rows the analysis cannot
    use (`AnalysisInputError`) leave every file as it was.
    """
    _check_writable_dirs([Path(tables_dir), Path(figures_dir)])
    outputs = compute_report_outputs(data_dir, tables_dir, spec, measured_dir=measured_dir)
    return outputs, write_all_atomic(outputs.files(tables_dir, figures_dir))


def _stage_paper_inputs(paths: ProjectPaths, stage: Path) -> None:
    """Copy what ``paper/paper.typ`` reads (``paper/`` but its build, ``figures/``, ``data/``)
    into `stage`."""
    for tree in (paths.paper_source.parent, paths.figures, paths.data.parent):
        for source in sorted(tree.rglob("*")):
            rel = source.relative_to(paths.root)
            if source.is_file() and paths.paper_pdf.parent not in source.parents:
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, stage / rel)


def rebuild_report(
    root: str | Path, spec: ReportSpec | None = None, *, paper: bool = True
) -> list[Path]:
    """Rebuild the tables and figures under `root` from its committed rows
    (`compute_report_outputs` on its `ProjectPaths`), then, with `paper`, the PDF from them;
    returns the paths of the outputs (those whose bytes changed were replaced).

    Every output is written into a stage under ``<root>/.reproduce/`` and published as one set
    (`durable_sim.staging.publish`): killed at any moment, the next run (or
    ``tools/reproduce.py --recover``) finds the tree as it was or as finished. One run per
    tree at a time (`durable_sim.staging.BusyError`). The errors of `compute_report_outputs`
    leave the tree untouched; so does a missing or unwritable output directory
    (`OutputPathError`, checked first).
    """
    paths = ProjectPaths(Path(root))
    _check_writable_dirs(
        [paths.tables, paths.figures, *([paths.paper_pdf.parent] if paper else [])]
    )
    with exclusive(paths.root):
        recover(paths.root)
        outputs = compute_report_outputs(
            paths.data, paths.tables, spec, measured_dir=paths.measured
        )
        stage = new_stage(paths.root)
        staged = ProjectPaths(stage)
        if paper:
            _stage_paper_inputs(paths, stage)
        files = outputs.files(staged.tables, staged.figures)
        write_all_atomic(files)
        written = [path.relative_to(stage) for path in files]
        if paper:
            written.append(build_paper(stage).relative_to(stage))
        publish(paths.root, stage, [rel.as_posix() for rel in written])
    return [paths.root / rel for rel in written]
