"""`durable-sim report` / `rebuild_report`: every table and figure notebook 05 writes, and the PDF,
rebuilt from the committed rows alone, byte for byte; bad inputs leave the tree untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_sim.cli import main
from durable_sim.errors import OutputPathError, SidecarMismatchError, SpecError
from durable_sim.project import ProjectPaths
from durable_sim.report import ReportSpec, rebuild_report

REPO = Path(__file__).resolve().parents[1]
#: Outputs of notebooks 03 (actors) and 04 (sensitivity, cost), made from their own runs: the
#: report reads them as committed (the claims judge some of them).
NOT_REBUILT = ("actor_", "sensitivity", "costs.", "cost_sensitivity.", "prices.")


def _copy_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in ("data", "paper", "figures"):
        shutil.copytree(REPO / name, root / name)
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_report_rebuilds_the_committed_outputs_byte_for_byte(
    tmp_path: Path, capsys: object
) -> None:
    root = _copy_project(tmp_path)
    layout = ProjectPaths(root)
    committed = _snapshot(root)
    outputs = [layout.paper_pdf, *layout.figures.iterdir(), *layout.tables.iterdir()]
    for path in outputs:  # from nothing: no stale file can pass for a rebuilt one
        if not path.name.startswith(NOT_REBUILT):
            path.unlink()
    assert main(["report", "--root", str(root)]) == 0
    written = set(capsys.readouterr().out.split())  # type: ignore[attr-defined]
    assert {
        "paper/build/paper.pdf",
        "figures/figure1.png",
        "figures/figure1_aws-lambda.svg",
        "figures/figure1_measured.pdf",
        "figures/time_breakdown.svg",
        "paper/generated/statistics.csv",
        "paper/generated/model_validation.md",
        "paper/generated/sentences.csv",
        "paper/generated/claims.tex",
    } <= written
    assert not any(Path(name).name.startswith(NOT_REBUILT) for name in written)
    assert _snapshot(root) == committed


def test_a_torn_pair_or_a_missing_output_directory_leaves_the_tree_untouched(
    tmp_path: Path,
) -> None:
    root = _copy_project(tmp_path)
    layout = ProjectPaths(root)
    csv = layout.data / "phase2_failures.csv"
    csv.write_bytes(csv.read_bytes() + b"0,extra\n")
    before = _snapshot(root)
    with pytest.raises(
        SidecarMismatchError, match=r"phase2_failures\.csv does not match its sidecar"
    ):
        rebuild_report(root)
    assert _snapshot(root) == before

    root = _copy_project(tmp_path / "second")
    measured = ProjectPaths(root).measured / "phase2_video.csv"
    measured.write_bytes(measured.read_bytes().replace(b"\n", b"\n\n", 1))
    before = _snapshot(root)
    with pytest.raises(SidecarMismatchError, match=r"measured/phase2_video\.csv does not match"):
        rebuild_report(root)
    assert _snapshot(root) == before

    root = _copy_project(tmp_path / "third")
    shutil.rmtree(ProjectPaths(root).figures)
    before = _snapshot(root)
    with pytest.raises(OutputPathError, match=r"output directory .*figures does not exist"):
        rebuild_report(root)
    assert _snapshot(root) == before


def test_bad_report_parameters_are_one_line_naming_the_value() -> None:
    with pytest.raises(SpecError, match=r"^bad report parameters: level=1\.5: .*less than 1"):
        ReportSpec.parse({"level": 1.5})
    with pytest.raises(SpecError, match=r"^bad report parameters: bogus=1: Extra inputs"):
        ReportSpec.parse({"bogus": 1})
    assert ReportSpec.parse({"other_profiles": ["aws-lambda"]}) == ReportSpec()
