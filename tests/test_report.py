"""`durable-sim report` / `rebuild_report`: the committed tables, Figure 1 and PDF rebuilt from the
committed rows alone, byte for byte; bad inputs leave the tree untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from durable_sim.cli import main
from durable_sim.errors import OutputPathError, SidecarMismatchError, SpecError
from durable_sim.report import REPORT_INPUTS, ProjectLayout, find_project_root, rebuild_report

REPO = Path(__file__).resolve().parents[1]


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
    layout = ProjectLayout(root)
    committed = _snapshot(root)
    rebuilt = ("table1", "table2", "statistics", "correlation", "paper_vs", "store_ops_video")
    outputs = [layout.paper_pdf, *layout.figures_dir.iterdir(), *layout.tables_dir.iterdir()]
    for path in outputs:  # from nothing: no stale file can pass for a rebuilt one
        if path.name.startswith((*rebuilt, "figure1", "paper.pdf")):
            path.unlink()
    assert main(["report", "--root", str(root)]) == 0
    written = capsys.readouterr().out.split()  # type: ignore[attr-defined]
    assert "paper/build/paper.pdf" in written and "figures/figure1.png" in written
    assert "paper/generated/statistics.csv" in written
    assert _snapshot(root) == committed


def test_a_torn_pair_or_a_missing_output_directory_leaves_the_tree_untouched(
    tmp_path: Path,
) -> None:
    root = _copy_project(tmp_path)
    layout = ProjectLayout(root)
    csv = layout.data_dir / REPORT_INPUTS["failures"]
    csv.write_bytes(csv.read_bytes() + b"0,extra\n")
    before = _snapshot(root)
    with pytest.raises(
        SidecarMismatchError, match=r"phase2_failures\.csv does not match its sidecar"
    ):
        rebuild_report(root)
    assert _snapshot(root) == before

    root = _copy_project(tmp_path / "second")
    shutil.rmtree(ProjectLayout(root).figures_dir)
    before = _snapshot(root)
    with pytest.raises(OutputPathError, match=r"output directory .*figures does not exist"):
        rebuild_report(root)
    assert _snapshot(root) == before


def test_the_project_root_is_found_from_below_or_refused(tmp_path: Path) -> None:
    assert find_project_root(REPO / "data" / "experiments") == REPO
    with pytest.raises(SpecError, match="no durable-sim project at or above"):
        find_project_root(tmp_path)
