"""The publish protocol: a kill before the commit record leaves the tree as it was, a kill after
it is finished by `recover`, at every point of the move."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from publish import publish, recover, work_dir

FILES = ["data/a.csv", "data/a.meta.json", "figures/f.svg", "notebooks/01.ipynb"]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and work_dir(root) not in p.parents
    }


def _setup(root: Path) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    for rel in FILES[:3]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"old {rel}")
    before = _tree(root)
    stage = work_dir(root) / "stage-test"
    for rel in FILES:
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_text(f"new {rel}" if rel != "data/a.meta.json" else f"old {rel}")
    finished = {**before, **{rel: (stage / rel).read_bytes() for rel in FILES}}
    return stage, before, finished


def test_publish_moves_only_changed_files(tmp_path: Path) -> None:
    stage, _, finished = _setup(tmp_path)
    moved = publish(tmp_path, stage, FILES)
    assert moved == ["data/a.csv", "figures/f.svg", "notebooks/01.ipynb"]  # meta is unchanged
    assert _tree(tmp_path) == finished
    assert not stage.exists()
    assert not (work_dir(tmp_path) / "publish.json").exists()
    assert recover(tmp_path) == ""


@pytest.mark.parametrize("crash_after", range(3))  # 3 files change
def test_a_crash_during_the_move_is_finished_by_recover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_after: int
) -> None:
    stage, _, finished = _setup(tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def crashing_replace(src: object, dst: object) -> None:
        if str(src).endswith("publish.tmp"):  # the commit record itself goes through
            real_replace(src, dst)  # type: ignore[arg-type]
            return
        if calls["n"] == crash_after:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, stage, FILES)
    monkeypatch.setattr(os, "replace", real_replace)
    assert "finished publishing" in recover(tmp_path)
    assert _tree(tmp_path) == finished
    assert not stage.exists()


def test_a_crash_before_the_commit_record_leaves_the_tree_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage, before, _ = _setup(tmp_path)

    def no_record(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed before the commit point")

    monkeypatch.setattr("publish._write_record", no_record)
    with pytest.raises(KeyboardInterrupt):
        publish(tmp_path, stage, FILES)
    assert "the tree is as it was" in recover(tmp_path)
    assert _tree(tmp_path) == before
    assert not stage.exists()
