"""Atomic files and data+sidecar pairs: checked paths, verified reads, every crash point."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_sim import files
from durable_sim.errors import OutputPathError, SidecarMismatchError, SpecError
from durable_sim.files import (
    DATA_FILE_KEY,
    check_output_file,
    publish_pair,
    read_pair,
    recover_pair,
    sidecar_path,
    write_bytes_atomic,
)


def _tree(directory: Path) -> dict[str, bytes]:
    """Every entry of `directory` with its bytes (a subdirectory as ``b"<dir>"``)."""
    return {p.name: b"<dir>" if p.is_dir() else p.read_bytes() for p in sorted(directory.iterdir())}


def test_write_bytes_atomic_replaces_and_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deep" / "t.txt"
    write_bytes_atomic(target, b"old")
    assert target.read_bytes() == b"old"

    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(target, b"new")
    assert _tree(target.parent) == {"t.txt": b"old"}


@pytest.mark.parametrize(
    ("make", "name", "message"),
    [
        (None, "rows.txt", r"'.*rows\.txt' \(accepted: a file name ending in \.csv\)"),
        (None, "missing/rows.csv", r"missing does not exist \(accepted: a \.csv file in an"),
        ("file:parent", "parent/rows.csv", r"parent is not a directory \(accepted: a \.csv file"),
        ("dir:rows.csv", "rows.csv", r"rows\.csv': it is a directory \(accepted: a \.csv file"),
        ("dir:rows.meta.json", "rows.csv", r"its sidecar .*rows\.meta\.json is a directory"),
    ],
)
def test_check_output_file_names_the_path_and_what_is_accepted(
    tmp_path: Path, make: str | None, name: str, message: str
) -> None:
    if make:
        kind, target = make.split(":")
        (tmp_path / target).mkdir() if kind == "dir" else (tmp_path / target).write_text("x")
    before = _tree(tmp_path) if tmp_path.exists() else {}
    with pytest.raises(OutputPathError, match=message) as info:
        check_output_file(tmp_path / name, ".csv")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, SpecError)  # bad usage, like any bad option
    assert _tree(tmp_path) == before


def _without_dac_override() -> list[str]:
    """A command prefix under which root, too, is bound by file permissions."""
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def test_an_unwritable_directory_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    script = (
        "import sys\n"
        "from durable_sim.files import check_output_file\n"
        "check_output_file(sys.argv[1], '.csv')\n"
    )
    try:
        done = subprocess.run(
            [*_without_dac_override(), sys.executable, "-c", script, str(locked / "rows.csv")],
            capture_output=True,
            text=True,
        )
    finally:
        locked.chmod(0o755)
    expected = (
        f"bad output path '{locked / 'rows.csv'}': cannot create files in {locked}: "
        "Permission denied"
    )
    assert done.returncode == 1
    assert f"OutputPathError: {expected}" in done.stderr
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_directory_that_refuses_files_whatever_its_bits_say_is_refused() -> None:
    """Formerly ``os.access`` passed /proc (and any directory, for root), so ``run --out
    /proc/x.csv`` failed only when the rows were written, after every run. A probe file is now
    created and removed, as the output's own temporary file will be."""
    assert files.refuses_files("/proc") is not None
    with pytest.raises(
        OutputPathError, match=r"bad output path '/proc/x.csv': cannot create files in /proc: "
    ):
        check_output_file("/proc/x.csv", ".csv")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_the_reason_is_the_directorys_not_the_probe_files() -> None:
    """Formerly "/proc is not writable: No such file or directory": the OS's answer for the
    probe file, which reads as if /proc were missing."""
    reason = files.refuses_files("/proc")
    assert reason is not None and reason.startswith("cannot create files in /proc: ")
    assert "creates no files" in reason and "although the directory exists" in reason


def test_the_write_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "old.csv").write_text("kept")
    before = _tree(tmp_path)
    assert files.refuses_files(tmp_path) is None
    assert check_output_file(tmp_path / "rows.csv", ".csv") == tmp_path / "rows.csv"
    assert _tree(tmp_path) == before


def test_a_published_pair_records_the_data_and_reads_back_verified(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    publish_pair(path, b"a,b\n1,2\n", {"specs": [1]})
    meta = json.loads(sidecar_path(path).read_text())
    assert meta[DATA_FILE_KEY] == {
        "name": "rows.csv",
        "sha256": hashlib.sha256(b"a,b\n1,2\n").hexdigest(),
        "size_bytes": 8,
    }
    assert meta["specs"] == [1]
    assert read_pair(path) == (b"a,b\n1,2\n", meta)
    assert sorted(_tree(tmp_path)) == ["rows.csv", "rows.meta.json"]  # no temporary files left


def test_read_pair_reports_an_edited_or_orphaned_csv(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    publish_pair(path, b"x\n1\n", {})
    path.write_bytes(b"x\n2\n")
    with pytest.raises(SidecarMismatchError, match=r"rows\.csv does not match its sidecar"):
        read_pair(path)
    sidecar_path(path).write_text('{"specs": []}\n')  # a sidecar that records no data file
    with pytest.raises(SidecarMismatchError, match="records no 'data_file'"):
        read_pair(path)
    sidecar_path(path).unlink()
    with pytest.raises(SidecarMismatchError, match=r"its sidecar rows\.meta\.json is missing"):
        read_pair(path)
    publish_pair(path, b"x\n3\n", {})  # a pair that cannot be verified is replaced all the same
    assert read_pair(path)[0] == b"x\n3\n"


class _Crash(BaseException):
    """Stands for the process dying at one file-system call."""


def _publish_crashing_at(
    monkeypatch: pytest.MonkeyPatch, path: Path, data: bytes, crash_at: int | None
) -> int:
    """Publish, dying just before the `crash_at`-th rename or fsync (None: never); returns the
    number of such calls a complete publish makes."""
    calls = 0
    real = {"replace": os.replace, "fsync": os.fsync}

    def counted(name: str) -> Any:
        def call(*args: Any) -> Any:
            nonlocal calls
            if calls == crash_at:
                raise _Crash(name)
            calls += 1
            return real[name](*args)

        return call

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", counted("replace"))
        patch.setattr(files.os, "fsync", counted("fsync"))
        with contextlib.suppress(_Crash):
            publish_pair(path, data, {"version": data.decode()})
    return calls


def test_a_crash_at_every_rename_and_fsync_leaves_the_old_or_the_new_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _publish_crashing_at(monkeypatch, tmp_path / "probe.csv", b"probe", None)
    assert steps == 8  # 3 renames and 5 fsyncs (2 files, 3 directory syncs)
    outcomes = []
    for crash_at in range(steps + 1):
        directory = tmp_path / f"crash{crash_at}"
        directory.mkdir()
        path = directory / "rows.csv"
        publish_pair(path, b"old", {"version": "old"})
        old = _tree(directory)
        _publish_crashing_at(monkeypatch, path, b"new", crash_at)
        seen = read_pair(path)[0]  # a reader, before any recovery
        assert seen in (b"old", b"new")
        status = recover_pair(path)
        after = _tree(directory)
        if seen == b"old":
            assert after == old
        else:
            assert read_pair(path)[0] == after["rows.csv"] == b"new"
        assert sorted(after) == ["rows.csv", "rows.meta.json"]
        outcomes.append((seen.decode(), status))
    assert outcomes[:5] == [("old", "intact")] * 5  # before the sidecar's rename commits
    assert outcomes[5] == ("new", "completed")  # committed; the CSV's rename was still to come
    assert outcomes[-1] == ("new", "intact")


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.binary(min_size=0, max_size=64), st.one_of(st.none(), st.integers(0, 7))),
        min_size=1,
        max_size=5,
    )
)
def test_any_sequence_of_interrupted_publishes_keeps_one_verified_pair(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    publishes: list[tuple[bytes, int | None]],
) -> None:
    directory = tmp_path_factory.mktemp("seq")
    path = directory / "rows.csv"
    committed: bytes | None = None
    for data, crash_at in publishes:
        text = data.hex().encode()  # any bytes; hex keeps the sidecar's "version" JSON text
        _publish_crashing_at(monkeypatch, path, text, crash_at)
        if committed is None and not sidecar_path(path).exists():
            assert recover_pair(path) == "absent"
            assert list(directory.iterdir()) == []
            continue
        seen = read_pair(path)[0]
        assert seen in (committed, text)
        recover_pair(path)
        assert read_pair(path)[0] == seen
        assert sorted(p.name for p in directory.iterdir()) == ["rows.csv", "rows.meta.json"]
        committed = seen
