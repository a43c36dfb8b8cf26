"""The reproduce driver: parameters checked before anything runs, one writer per file, output
directories checked first, and a tree that a kill at any moment leaves as it was or as finished.

Runs use ``params/quick`` on scratch copies of the repository, never the working tree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import numpy as np
import pytest
import reproduce

from durable_sim.errors import SidecarMismatchError
from durable_sim.files import read_pair
from durable_sim.kernel import KERNEL_DISPLAY_NAME, KERNEL_NAME
from durable_sim.notebook import NOTEBOOK_PARAMETERS
from tests.tools.fake_notebooks import fork_driver

REPO = Path(__file__).resolve().parents[2]
COPIED = ("notebooks", "params", "data", "figures", "paper", "tools")
#: Everything of a copy but the driver's own scratch space and run log.
IGNORED = (".reproduce", "logs")
KILL_TRIALS = 24
COMMIT_POINT_TRIALS = 2  # the move itself is covered point by point in test_publish


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The driver's `main` sets its process's environment for the kernels it starts (the
    project root among it); called in-process here, it must not leak into later tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _copy(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copytree(REPO / name, target / name)
    return target


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in IGNORED
    }


def _driver(root: Path, *args: str, cwd: Path) -> list[str]:
    """The command line of the driver *inside* `root` (its default root is that copy)."""
    return [sys.executable, str(root / "tools" / "reproduce.py"), *args]


def _write_params(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True)
    for stem, text in files.items():
        (directory / f"{stem}.yaml").write_text(text)
    return directory


def test_parameter_sets_are_checked_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tmp_path / "repo")
    before = _tree(root)
    good = {stem: "" for stem in NOTEBOOK_PARAMETERS}
    cases = {
        "typo": (
            dict(good, **{"02_video_pipeline": "runs_baselines: 5\n"}),
            "02_video_pipeline: unknown parameter 'runs_baselines'",
        ),
        "bool": (dict(good, **{"01_counter": "seed: true\n"}), "bad parameter seed=True"),
        "twice": (
            dict(good, **{"01_counter": "seed: 1\nruns_baseline: 2\nseed: 2\n"}),
            "key 'seed' given twice (lines 1 and 3",
        ),
        "range": (
            dict(good, **{"05_figure_and_statistics": "level: 1.5\n"}),
            "bad parameter level=1.5",
        ),
        "stray": (dict(good, **{"04_nope": ""}), "04_nope.yaml names no notebook"),
        "missing": (
            {k: v for k, v in good.items() if k != "01_counter"},
            "01_counter.yaml is missing",
        ),
    }
    for name, (files, expected) in cases.items():
        _write_params(root / "params" / name, **files)
        before = _tree(root)
        assert reproduce.main(["--root", str(root), "--params", f"params/{name}"]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and len(err.splitlines()) == 1, (name, err)
        assert _tree(root) == before, name
        assert not (root / ".reproduce").exists(), name
    assert reproduce.main(["--root", str(root), "--params", "params/none"]) == 2
    assert "params/none is not a directory" in capsys.readouterr().err


def test_root_from_another_directory_finds_its_parameter_set(tmp_path: Path) -> None:
    """The default root is the driver's own checkout and a relative --params is read from the
    root, whatever the working directory."""
    root = _copy(tmp_path / "repo")
    _write_params(root / "params" / "typo", **{"01_counter": "counter_run: 1\n"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        _driver(root, "--params", "params/typo", cwd=elsewhere),
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"{root}/params/typo/" in done.stderr  # found, then rejected for its content


def test_output_directories_are_checked_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tmp_path / "repo")
    shutil.rmtree(root / "paper" / "generated")
    (root / "paper" / "generated").write_text("not a directory")
    before = _tree(root)
    assert reproduce.main(["--root", str(root), "--params", "params/quick"]) == 2
    assert "output path" in capsys.readouterr().err
    assert _tree(root) == before
    assert not (root / ".reproduce").exists()


def _tiny_notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "name": KERNEL_NAME,
    }
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)


def test_a_file_with_two_writers_is_an_error_and_nothing_is_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "paper" / "generated").mkdir(parents=True)
    (root / "paper" / "generated" / "table1_counter.csv").write_text("committed\n")
    write = (
        "import os, pathlib\n"
        "p = pathlib.Path(os.environ['DURABLE_SIM_ROOT']) / 'paper/generated/table1_counter.csv'\n"
        "p.parent.mkdir(parents=True, exist_ok=True)\n"
        "p.write_text('{}\\n')"
    )
    _tiny_notebook(root / "notebooks" / "01_counter.ipynb", write.format("from 01"))
    _tiny_notebook(root / "notebooks" / "02_video_pipeline.ipynb", write.format("from 02"))
    _write_params(root / "params" / "p", **{"01_counter": "", "02_video_pipeline": ""})
    before = _tree(root)
    environment = os.environ.get("DURABLE_SIM_ROOT")
    assert reproduce.main(["--root", str(root), "--params", "params/p"]) == 2
    assert os.environ.get("DURABLE_SIM_ROOT") == environment  # the driver restores it
    err = capsys.readouterr().err
    assert (
        "paper/generated/table1_counter.csv is written by both 01_counter and 02_video_pipeline"
        in err
    )
    assert _tree(root) == before


def test_committed_manifest_has_one_writer_per_file() -> None:
    import json

    manifest = json.loads((REPO / "notebooks" / "manifest.json").read_text())
    files = [rel for written in manifest.values() for rel in written]
    assert len(files) == len(set(files)), "a file is listed under two writers"
    assert set(manifest) == {*NOTEBOOK_PARAMETERS, "paper"}
    for stem in NOTEBOOK_PARAMETERS:
        assert f"notebooks/{stem}.ipynb" in manifest[stem]
    generated = {
        p.relative_to(REPO).as_posix()
        for d in ("data/experiments", "paper/generated", "figures", "paper/build")
        for p in (REPO / d).rglob("*")
        if p.is_file()
    }
    assert generated <= set(files), f"generated files without a writer: {generated - set(files)}"


def _recover(root: Path) -> None:
    """What the next run does first (in-process: the killed driver's lock died with it)."""
    with reproduce.exclusive(root):
        reproduce.recover(root)


def _wait(pid: int, deadline: float, until: Path | None = None) -> int | None:
    """Wait for the child `pid` until `deadline` (or until the file `until` exists); returns its
    exit status, or None if it is still running."""
    while time.perf_counter() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if until is not None and until.exists():
            return None
        time.sleep(0.0005 if until is not None else 0.002)
    return None


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _pairs_verify(root: Path) -> list[str]:
    """The run-row CSVs whose sidecar does not match them (`read_pair` refuses them)."""
    bad = []
    for csv in sorted((root / "data" / "experiments").glob("*.csv")):
        try:
            read_pair(csv)
        except SidecarMismatchError:
            bad.append(csv.relative_to(root).as_posix())
    return bad


def test_kill_at_random_moments_leaves_the_tree_as_it_was_or_as_finished(tmp_path: Path) -> None:
    """SIGKILL the driver at random moments of a run: after recovery the tree is byte for byte
    as it was or as finished, and every run-row CSV matches its sidecar.

    The driver runs in a forked child and the notebooks' execution is a stand-in
    (`fake_notebooks`: it writes every committed output with new bytes, pairs through the real
    `publish_pair`), so a trial takes well under a second; the rest is the real driver, whose
    own phases (checks, lock, recovery, staging, snapshots, stripping, manifest, run log,
    publish) are where a kill can tear the tree. A kernel killed mid-notebook writes only into
    the stage, as the stand-in does. The publish protocol is also tested point by point in
    test_publish, and the real notebooks' run byte for byte in test_reproducible.
    """
    pristine = _copy(tmp_path / "pristine")
    before = _tree(pristine)
    finished_root = tmp_path / "finished"
    shutil.copytree(pristine, finished_root)
    start = time.perf_counter()
    assert _wait(fork_driver(finished_root), start + 300.0) == 0
    full = time.perf_counter() - start
    finished = _tree(finished_root)
    changed = [rel for rel in finished if finished[rel] != before.get(rel)]
    assert len(changed) > 50  # every output of every notebook is replaced
    assert _pairs_verify(finished_root) == []
    rng = np.random.default_rng(20_260_101)
    delays: list[float | None] = [float(d) for d in rng.uniform(0.0, full, KILL_TRIALS)]
    delays += [None] * COMMIT_POINT_TRIALS  # None: kill as soon as the commit record appears
    outcomes = []
    for trial, delay in enumerate(delays):
        root = tmp_path / f"trial{trial}"
        shutil.copytree(pristine, root)
        record = root / ".reproduce" / "publish.json"
        start = time.perf_counter()
        pid = fork_driver(root)
        if delay is None:  # kill as soon as the commit record appears
            _wait(pid, start + 300.0, until=record)
        else:
            _wait(pid, start + delay)
        _kill(pid)
        _recover(root)
        state = _tree(root)
        moved = sorted(r for r in {*state, *finished} if state.get(r) != before.get(r))
        assert state in (before, finished), f"trial {trial} (kill at {delay}): torn, {moved=}"
        assert _pairs_verify(root) == [], f"trial {trial}"
        outcomes.append("finished" if state == finished else "as it was")
        shutil.rmtree(root)
    assert "as it was" in outcomes and "finished" in outcomes  # kills on both sides of the commit
