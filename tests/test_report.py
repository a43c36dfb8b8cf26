"""`durable-sim report` / `rebuild_report`: every table and figure notebook 05 writes, and the PDF,
rebuilt from the committed rows alone, byte for byte; bad inputs leave the tree untouched."""

from __future__ import annotations

import multiprocessing
import shutil
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np
import pytest

from durable_sim.cli import main
from durable_sim.errors import OutputPathError, SidecarMismatchError, SpecError
from durable_sim.project import ProjectPaths
from durable_sim.report import ReportSpec, rebuild_report
from durable_sim.staging import exclusive, recover

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
        if p.is_file() and root / ".reproduce" not in p.parents  # the lock, stages
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


def test_a_profile_without_rows_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's inputs: ``--other-profiles nope`` used to rewrite 24 files without the
    aws-lambda rows (rc 0), ``--profile nope`` to fail with rc 1 after the analysis."""
    root = _copy_project(tmp_path)
    before = _snapshot(root)
    for option in ("--other-profiles", "--profile"):
        assert main(["report", "--root", str(root), "--no-paper", option, "nope"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        name = option.removeprefix("--").replace("-", "_")
        assert len(err) == 1 and f"{name}='nope' has no rows" in err[0], err
        assert "accepted: " in err[0] and "aws-lambda" in err[0], err
        assert _snapshot(root) == before
    with pytest.raises(SpecError, match=r"profile='aws' has no rows .*accepted: paper-local"):
        rebuild_report(root, ReportSpec(profile="aws"), paper=False)


KILL_REPORT = ["report", "--no-paper", "--stats-seed", "7", "--n-resamples", "200"]


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_the_report_as_it_was_or_as_finished(
    tmp_path: Path,
) -> None:
    """10 trials of the reviewer's command (``report --stats-seed 7 --no-paper``), killed at a
    uniform moment of its life (even trials) or of its publishing (odd: after its stage
    appears). After the next run's recovery (`durable_sim.staging.recover`) the tree is the old
    report or the finished one, with no temporary file left."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["durable_sim.cli", "durable_sim.analysis.outputs"])

    def start(root: Path) -> BaseProcess:
        proc = ctx.Process(target=main, args=([*KILL_REPORT, "--root", str(root)],))
        proc.start()
        return proc

    old_root = _copy_project(tmp_path / "old")
    old = _snapshot(old_root)
    reference = _copy_project(tmp_path / "reference")
    started = time.perf_counter()
    proc = start(reference)
    proc.join(timeout=300)
    lifetime = time.perf_counter() - started
    assert proc.exitcode == 0
    finished = _snapshot(reference)
    assert finished != old

    rng = np.random.default_rng(20_261_129)
    outcomes = []
    for trial in range(10):
        root = tmp_path / f"trial{trial}" / "project"
        shutil.copytree(old_root, root)
        proc = start(root)
        if trial % 2 == 0:
            time.sleep(rng.uniform(0, lifetime))
        else:
            deadline = time.perf_counter() + 300
            while proc.exitcode is None and time.perf_counter() < deadline:
                if any((root / ".reproduce").glob("stage-*")):
                    break
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 1.0))
        proc.kill()
        proc.join(timeout=60)
        with exclusive(root):
            recover(root)
        after = _snapshot(root)
        assert after in (old, finished), f"trial {trial}: torn report"
        assert not [p for p in root.rglob("*.tmp") if root / ".reproduce" not in p.parents]
        outcomes.append("finished" if after == finished else "as it was")
    print({o: outcomes.count(o) for o in sorted(set(outcomes))})
