"""Move a finished scratch tree into the project all at once, or not at all, even across a kill.

A run builds every output under a stage directory inside ``<root>/.reproduce/`` (same file
system, so a rename is atomic). `publish` then:

1. writes ``<root>/.reproduce/publish.json`` (the stage's name and the files to move) to a
   temporary file, fsyncs it and renames it into place: the commit point;
2. renames each staged file over its target, creating parent directories;
3. deletes the record and the stage.

`recover` runs before anything else touches the tree: with a record present (a kill after the
commit point) it finishes step 2 and 3, so the tree is as finished; without one, any stage left
behind (a kill before the commit point) is deleted, so the tree is as it was. Files that a run
leaves byte-identical are never moved, so a re-run with nothing to change changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

WORK_DIR = ".reproduce"
RECORD = "publish.json"


def work_dir(root: Path) -> Path:
    """``<root>/.reproduce``: stages, the publish record and the lock (git-ignored)."""
    return root / WORK_DIR


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_record(root: Path, stage: Path, files: list[str]) -> Path:
    record = work_dir(root) / RECORD
    tmp = record.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"stage": stage.name, "files": files}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, record)
    _fsync_dir(record.parent)
    return record


def changed_files(root: Path, stage: Path, files: Iterable[str]) -> list[str]:
    """The staged `files` (paths relative to both trees) whose bytes differ from the tree's."""
    out = []
    for rel in sorted(files):
        target = root / rel
        if not target.is_file() or target.read_bytes() != (stage / rel).read_bytes():
            out.append(rel)
    return out


def _move_all(root: Path, stage: Path, files: list[str]) -> None:
    parents = set()
    for rel in files:
        source, target = stage / rel, root / rel
        if source.exists():  # else moved before an interruption
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            parents.add(target.parent)
    for parent in sorted(parents):
        _fsync_dir(parent)


def publish(root: Path, stage: Path, files: Iterable[str]) -> list[str]:
    """Move the staged `files` that differ from the tree into `root`; returns those moved."""
    moved = changed_files(root, stage, files)
    for rel in moved:  # the staged bytes are durable before the commit point
        with open(stage / rel, "rb") as handle:
            os.fsync(handle.fileno())
    record = _write_record(root, stage, moved)
    _move_all(root, stage, moved)
    record.unlink()
    shutil.rmtree(stage, ignore_errors=True)
    return moved


def recover(root: Path) -> str:
    """Finish or discard an interrupted run; returns what it did ('' when nothing was left)."""
    work = work_dir(root)
    record = work / RECORD
    done = ""
    if record.is_file():
        data = json.loads(record.read_text(encoding="utf-8"))
        _move_all(root, work / data["stage"], list(data["files"]))
        record.unlink()
        done = f"finished publishing an interrupted run ({len(data['files'])} files)"
    stale = sorted(p for p in work.glob("stage-*") if p.is_dir()) if work.is_dir() else []
    for stage in stale:
        shutil.rmtree(stage, ignore_errors=True)
    if stale and not done:
        done = f"discarded {len(stale)} unfinished run(s); the tree is as it was"
    return done
