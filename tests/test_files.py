"""Atomic files and data+sidecar pairs: checked paths, verified reads, every crash point."""

from __future__ import annotations

import contextlib
import errno
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
from durable_sim.errors import (
    OutputPathError,
    RecoverPathError,
    SidecarMismatchError,
    SpecError,
)
from durable_sim.files import (
    DATA_FILE_KEY,
    check_output_file,
    publish_pair,
    read_pair,
    recover_pair,
    recover_pairs,
    sidecar_path,
    why_not_created,
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
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    data: bytes,
    crash_at: int | None,
    fsync: bool = True,
) -> int:
    """Publish (with `fsync`), dying just before the `crash_at`-th rename or fsync (None:
    never); returns the number of such calls a complete publish makes."""
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
            publish_pair(path, data, {"version": data.decode()}, fsync=fsync)
    return calls


@pytest.mark.parametrize(
    ("fsync", "expected_steps", "commit"),
    [
        (True, 8, 5),  # 3 renames and 5 fsyncs (2 files, 3 directory syncs)
        (False, 3, 2),  # the 3 renames alone: a killed process loses no written bytes
    ],
)
def test_a_crash_at_every_rename_and_fsync_leaves_the_old_or_the_new_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool, expected_steps: int, commit: int
) -> None:
    steps = _publish_crashing_at(monkeypatch, tmp_path / "probe.csv", b"probe", None, fsync)
    assert steps == expected_steps
    outcomes = []
    for crash_at in range(steps + 1):
        directory = tmp_path / f"crash{crash_at}"
        directory.mkdir()
        path = directory / "rows.csv"
        publish_pair(path, b"old", {"version": "old"})
        old = _tree(directory)
        _publish_crashing_at(monkeypatch, path, b"new", crash_at, fsync)
        plain = path.read_bytes()  # what pandas or cat sees
        seen = read_pair(path)[0]  # a reader of ours, before any recovery
        assert seen in (b"old", b"new")
        assert path.read_bytes() == seen  # ours finished an interrupted rename
        status = recover_pair(path)
        after = _tree(directory)
        if seen == b"old":
            assert after == old
        else:
            assert read_pair(path)[0] == after["rows.csv"] == b"new"
        assert sorted(after) == ["rows.csv", "rows.meta.json"]
        outcomes.append((plain.decode(), seen.decode(), status))
    before = [("old", "old", "intact")] * commit
    assert outcomes[:commit] == before  # before the sidecar's rename commits
    # committed, the CSV's rename still to come: a plain reader saw the old CSV, ours the new
    # one, which it put in place
    assert outcomes[commit] == ("old", "new", "intact")
    assert outcomes[-1] == ("new", "new", "intact")


def _fsynced_paths(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths `durable_sim.files` fsyncs from now on, in order (read from /proc/self/fd)."""
    synced: list[Path] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    return synced


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_fsync_files_syncs_each_file_then_each_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    paths = [tmp_path / "a" / "x.csv", tmp_path / "y.csv", tmp_path / "a" / "z.csv"]
    for path in paths:
        publish_pair(path, path.name.encode(), {}, fsync=False)
    synced = _fsynced_paths(monkeypatch)
    files.fsync_files([p for path in paths for p in (path, sidecar_path(path))])
    resolved = [p.resolve() for path in paths for p in (path, sidecar_path(path))]
    assert sorted(synced[:-2]) == sorted(resolved)  # synced together, in any order
    assert synced[-2:] == [(tmp_path / "a").resolve(), tmp_path.resolve()]
    with pytest.raises(FileNotFoundError):
        files.fsync_files([tmp_path / "missing.csv"])


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


# -- a kill exactly between the sidecar's rename and the CSV's ---------------------------------


def _killed_between_the_renames(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Publish ``old`` at `path`, then ``new``, dying exactly at the CSV's rename (the one after
    the commit point): chosen by what is renamed, not by counting or timing."""
    publish_pair(path, b"old", {"version": "old"})
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if str(src).endswith(".pending") and Path(dst) == path:
            raise _Crash("between the renames")
        real(src, dst)

    with monkeypatch.context() as patch, contextlib.suppress(_Crash):
        patch.setattr(files.os, "replace", replace)
        publish_pair(path, b"new", {"version": "new"})
    assert path.read_bytes() == b"old"  # what a plain reader sees in the window
    assert json.loads(sidecar_path(path).read_text())["version"] == "new"


def _pending_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".*.pending"))


@pytest.mark.parametrize(
    ("finisher", "expected"),
    [
        (lambda path: read_pair(path), b"new"),
        (lambda path: recover_pair(path), b"new"),
        (lambda path: recover_pairs(path.parent.parent), b"new"),
        (lambda path: recover_pairs(path), b"new"),
        (lambda path: publish_pair(path, b"newer", {}), b"newer"),
    ],
    ids=["read_pair", "recover_pair", "recover_pairs-tree", "recover_pairs-file", "publish"],
)
def test_a_kill_between_the_renames_is_finished_by_the_next_reader_or_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finisher: Any, expected: bytes
) -> None:
    """A plain reader sees the old CSV beside the new sidecar until one of ours comes by."""
    path = tmp_path / "a" / "b" / "rows.csv"
    path.parent.mkdir(parents=True)
    _killed_between_the_renames(monkeypatch, path)
    assert _pending_files(tmp_path)
    finisher(path)
    assert path.read_bytes() == expected == read_pair(path)[0]
    assert _pending_files(tmp_path) == []


def test_a_reader_in_a_directory_that_refuses_the_rename_still_reads_the_new_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rows.csv"
    _killed_between_the_renames(monkeypatch, path)

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", refuse)
        assert read_pair(path)[0] == b"new"
    assert path.read_bytes() == b"old" and _pending_files(tmp_path)  # left as it was


def test_a_reader_between_the_writers_two_renames_reads_the_new_data_and_leaves_it_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader that comes in between a live writer's two renames reads the new data from the
    pending file; the writer, still at work in the directory, makes the last rename itself."""
    path = tmp_path / "rows.csv"
    publish_pair(path, b"old", {})
    real = os.replace
    readers: list[tuple[bytes, list[str]]] = []

    def replace(src: Any, dst: Any) -> None:
        if str(src).endswith(".pending") and Path(dst) == path and not readers:
            with monkeypatch.context() as inner:
                inner.setattr(files.os, "replace", real)
                readers.append((read_pair(path)[0], _pending_files(tmp_path)))
        real(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", replace)
        publish_pair(path, b"new", {})
    [(seen, pending)] = readers
    assert seen == b"new" and len(pending) == 1  # read from the pending file, left in place
    assert path.read_bytes() == b"new" and read_pair(path)[0] == b"new"
    assert _pending_files(tmp_path) == []


def test_recover_pairs_settles_every_pair_and_names_a_torn_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "x" / "good.csv"
    good.parent.mkdir()
    _killed_between_the_renames(monkeypatch, good)
    torn = tmp_path / "torn.csv"
    _killed_between_the_renames(monkeypatch, torn)
    for pending in tmp_path.glob(".torn.csv.*.pending"):
        pending.write_bytes(b"garbage")  # the new data is gone: nothing can settle this pair
    with pytest.raises(SidecarMismatchError, match=r"torn\.csv does not match its sidecar"):
        recover_pairs(tmp_path)
    assert good.read_bytes() == b"new"  # the other pair was settled first
    assert recover_pairs(good.parent) == []  # nothing left to do there
    with pytest.raises(FileNotFoundError, match=r"missing does not exist \(accepted: a data"):
        recover_pairs(tmp_path / "missing")


def test_the_recover_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from durable_sim.cli import main

    path = tmp_path / "rows.csv"
    _killed_between_the_renames(monkeypatch, path)
    done = subprocess.run(
        [sys.executable, "-m", "durable_sim.cli", "recover", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"completed: {path}\n", "")
    assert path.read_bytes() == b"new"
    assert main(["recover", str(tmp_path)]) == 0  # nothing to recover
    assert main(["recover", str(tmp_path / "missing")]) == 2


def test_the_recover_command_refuses_a_directory_a_sweep_is_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A running sweep's temporary and pending files are not leftovers: removing them broke
    the sweep (FileNotFoundError on its rename). Its held lock makes `recover` refuse, with one
    line naming the directory, and leave everything as it was."""
    from durable_sim import sweeps
    from durable_sim.cli import main

    out = tmp_path / "sweep"
    path = out / "point.csv"
    out.mkdir()
    _killed_between_the_renames(monkeypatch, path)
    before = _tree(out)
    with sweeps._locked(out):
        capsys.readouterr()
        assert main(["recover", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"{str(out)!r} is being written by a sweep" in err and err.count("\n") == 1
        assert main(["recover", str(path)]) == 2
        locks = {name: _tree(out)[name] for name in (sweeps.LOCK_FILE, sweeps.SAVE_LOCK_FILE)}
        assert _tree(out) == {**before, **locks}
    assert main(["recover", str(tmp_path)]) == 0  # the sweep has let go
    assert path.read_bytes() == b"new"


def _stray_temps(directory: Path) -> list[Path]:
    """Temporary files as writers killed before any rename leave them: a data file's, a
    sidecar's, an index's and a write probe's, with no pending file beside them."""
    names = [".p.csv.k1lled.tmp", ".p.meta.json.k1lled.tmp", ".index.csv.k1lled.tmp"]
    temps = [directory / name for name in [*names, ".write-probe.k1lled.tmp"]]
    for temp in temps:
        temp.write_bytes(b"half")
    return sorted(temps)


def test_temporary_files_without_a_pending_file_are_removed_only_where_no_writer_is_live(
    tmp_path: Path,
) -> None:
    """Formerly they were left everywhere. In a directory whose writers' lock the caller holds
    (`quiet`: a sweep directory) they are a dead writer's, and go; elsewhere a live writer may
    be writing one now (it writes before it renames anything), so they are only reported."""
    quiet, plain = tmp_path / "sweep", tmp_path / "plain"
    for directory in (quiet, plain):
        directory.mkdir()
        publish_pair(directory / "p.csv", b"rows", {"v": 1})
    in_quiet, in_plain = _stray_temps(quiet), _stray_temps(plain)
    settled = recover_pairs(tmp_path, quiet=[quiet])
    assert settled == sorted([(t, "left") for t in in_plain] + [(t, "removed") for t in in_quiet])
    assert not any(t.exists() for t in in_quiet) and all(t.exists() for t in in_plain)
    # the pair named alone: its own temporary files are left outside a quiet directory too
    assert recover_pairs(plain / "p.csv") == [
        (plain / ".p.csv.k1lled.tmp", "left"),
        (plain / ".p.meta.json.k1lled.tmp", "left"),
        (plain / "p.csv", "intact"),
    ]
    assert recover_pairs(quiet / "p.csv", quiet=[quiet]) == [(quiet / "p.csv", "intact")]


def test_a_pair_whose_first_publish_was_killed_is_absent(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    pending = tmp_path / f".p.csv.{'0' * 64}.pending"
    pending.write_bytes(b"rows")  # killed before the sidecar, the commit point
    assert recover_pairs(path) == [(path, "absent")]
    assert not pending.exists() and not path.exists()


def test_recover_names_what_it_was_given_when_that_is_no_data_file(tmp_path: Path) -> None:
    """Formerly a sidecar, or any other file, was said to be "absent"."""
    path = publish_pair(tmp_path / "rows.csv", b"rows", {"v": 1})
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    accepted = "(accepted: a data file published with its .meta.json sidecar, or a directory)"
    with pytest.raises(RecoverPathError) as info:
        recover_pairs(sidecar_path(path))
    assert str(info.value) == (
        f"cannot recover {sidecar_path(path)}: it is a provenance sidecar; name its data file "
        f"({str(path)!r}) or a directory {accepted}"
    )
    with pytest.raises(RecoverPathError) as info:
        recover_pairs(notes)
    assert str(info.value) == (
        f"cannot recover {notes}: it is not a published data file (no sidecar "
        f"notes.meta.json and no interrupted publish beside it) {accepted}"
    )
    assert isinstance(info.value, SpecError)  # bad usage: the command line exits 2
    assert recover_pairs(path) == [(path, "intact")]


def test_a_recovery_a_read_only_directory_refuses_names_it_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Formerly "unexpected OSError", exit 1."""
    path = tmp_path / "rows.csv"
    _killed_between_the_renames(monkeypatch, path)
    before = _tree(tmp_path)

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(src))

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", refuse)
        with pytest.raises(RecoverPathError) as info:
            recover_pairs(tmp_path)
    assert str(info.value) == (
        f"cannot recover {tmp_path}: cannot change files in {tmp_path}: Read-only file system "
        "(accepted: a directory this process can write)"
    )
    assert _tree(tmp_path) == before


def test_the_recover_command_on_an_unwritable_directory_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ro" / "rows.csv"
    path.parent.mkdir()
    _killed_between_the_renames(monkeypatch, path)
    path.parent.chmod(0o555)
    command = [sys.executable, "-m", "durable_sim.cli", "recover", str(tmp_path)]
    try:
        done = subprocess.run(
            [*_without_dac_override(), *command],
            capture_output=True,
            text=True,
        )
    finally:
        path.parent.chmod(0o755)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr == (
        f"durable-sim: cannot recover {tmp_path}: cannot change files in {path.parent}: "
        "Permission denied (accepted: a directory this process can write)\n"
    )


def test_the_recover_command_removes_a_dead_sweeps_temporary_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from durable_sim import sweeps
    from durable_sim.cli import main

    out = tmp_path / "sweep"
    out.mkdir()
    with sweeps._locked(out):
        pass  # a sweep ran here and ended (or was killed): its lock file stays, unheld
    temps = _stray_temps(out)
    elsewhere = _stray_temps(tmp_path)
    assert main(["recover", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == sorted(
        [f"removed: {t}" for t in temps] + [f"left: {t}" for t in elsewhere],
        key=lambda line: line.partition(": ")[2],
    )
    assert not any(t.exists() for t in temps) and all(t.exists() for t in elsewhere)


def test_why_a_directory_could_not_be_created_names_the_directory_at_fault(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    error = OSError(errno.ENOTDIR, "Not a directory")
    assert why_not_created(blocker / "a" / "b", error) == f"{blocker} is not a directory"
    refused = OSError(errno.EROFS, "Read-only file system")
    assert why_not_created(tmp_path / "new" / "deeper", refused) == (
        f"cannot create files in {tmp_path}: Read-only file system"
    )


def test_a_reader_racing_the_writers_last_rename_gets_the_new_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader saw the new sidecar and the old CSV; the writer then renamed the pending file
    into place before the reader looked for it (1 read in 200 raised SidecarMismatchError in
    a reviewer's race, one naming the very sha256 it expected). The pair is read again."""
    path = tmp_path / "rows.csv"
    _killed_between_the_renames(monkeypatch, path)
    real = files._read_or_none

    def writer_moves_first(candidate: Path) -> bytes | None:
        if candidate.name.endswith(".pending"):
            os.replace(candidate, path)  # the writer's last rename, just before this read
        return real(candidate)

    monkeypatch.setattr(files, "_read_or_none", writer_moves_first)
    assert read_pair(path) == (b"new", json.loads(sidecar_path(path).read_text()))


def test_a_pair_that_does_not_match_is_reported_after_one_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing moving under the reader, a mismatch is reported at once, not retried."""
    path = tmp_path / "rows.csv"
    publish_pair(path, b"old", {"version": "old"})
    path.write_bytes(b"tampered")
    reads: list[Path] = []
    real = files._read_or_none
    monkeypatch.setattr(files, "_read_or_none", lambda p: reads.append(p) or real(p))
    with pytest.raises(SidecarMismatchError, match="does not match its sidecar") as err:
        read_pair(path)
    assert len(reads) == 3  # the file, the pending file, the file again
    tampered = hashlib.sha256(b"tampered").hexdigest()
    assert str(err.value).endswith(f"found sha256 {tampered}, 8 bytes")  # what it read


# -- a writer republishing A, B, A... while readers read -----------------------------------------


def _publish_committed_only(monkeypatch: pytest.MonkeyPatch, path: Path, data: bytes) -> None:
    """Publish `data` up to its commit point (the sidecar's rename), the data file's rename
    not yet made: the state a reader sees in the middle of a live writer's publish."""
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if str(src).endswith(".pending") and Path(dst) == path:
            raise _Crash("before the last rename")
        real(src, dst)

    with monkeypatch.context() as patch, contextlib.suppress(_Crash):
        patch.setattr(files.os, "replace", replace)
        publish_pair(path, data, {"version": data.decode()})


def test_a_sidecar_that_comes_back_with_the_same_contents_has_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ABA: the reader read sidecar A while the data file still held B; the writer then finished
    that publish, published B and committed A again. Sidecar A is back, byte for byte, and the
    data file holds B until A's last rename: the pair moved, and comparing the sidecar's
    contents called it a mismatch ("expected sha256 X, found ...", 0.3-1.5% of a reviewer's
    reads). Its identity tells."""
    path = tmp_path / "rows.csv"
    publish_pair(path, b"B", {"version": "B"})
    _publish_committed_only(monkeypatch, path, b"A")  # sidecar A, data file B, A pending
    real = files._read_or_none
    reads: list[Path] = []

    def writer_between_reads(candidate: Path) -> bytes | None:
        reads.append(candidate)
        if len(reads) == 2:  # the reader found B where A is recorded; the writer finishes A
            os.replace(files._pending_path(path, hashlib.sha256(b"A").hexdigest()), path)
        if len(reads) == 3:  # no pending A was left: the writer publishes B, then A again
            with monkeypatch.context() as inner:
                inner.setattr(files, "_read_or_none", real)
                publish_pair(path, b"B", {"version": "B"})
                _publish_committed_only(monkeypatch, path, b"A")  # sidecar A again, data B
        return real(candidate)

    monkeypatch.setattr(files, "_read_or_none", writer_between_reads)
    data, meta = read_pair(path)
    assert (data, meta["version"]) == (b"A", "A")
    assert len(reads) == 5  # a second round: the file (still B), then the pending A
    assert path.read_bytes() == b"A"  # ...which the reader renamed, no writer being at work


def test_a_readers_rename_never_puts_old_data_beside_a_newer_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader found A complete in its pending file; before its rename, the writer finished
    A, published B, and started A again (a new pending file of the same name, not committed:
    the sidecar is B's). Renaming that file over the data file put A beside B's sidecar and
    lost B's data. The reader now renames only a publish its sidecar still names."""
    path = tmp_path / "rows.csv"
    publish_pair(path, b"B", {"version": "B"})
    _publish_committed_only(monkeypatch, path, b"A")
    pending_a = files._pending_path(path, hashlib.sha256(b"A").hexdigest())
    real = files._read_or_none

    def writer_moves_on(candidate: Path) -> bytes | None:
        data = real(candidate)
        if candidate == pending_a and not hasattr(writer_moves_on, "done"):
            writer_moves_on.done = True  # type: ignore[attr-defined]
            os.replace(pending_a, path)  # the writer's own last rename of A
            with monkeypatch.context() as inner:
                inner.setattr(files, "_read_or_none", real)
                publish_pair(path, b"B", {"version": "B"})
                real_replace = os.replace

                def stop_at_commit(src: Any, dst: Any) -> None:
                    if Path(dst) == sidecar_path(path):
                        raise _Crash("before the commit")
                    real_replace(src, dst)

                inner.setattr(files.os, "replace", stop_at_commit)
                with contextlib.suppress(_Crash):
                    publish_pair(path, b"A", {"version": "A"})
            assert (
                pending_a.exists() and json.loads(sidecar_path(path).read_text())["version"] == "B"
            )
        return data

    monkeypatch.setattr(files, "_read_or_none", writer_moves_on)
    data, meta = read_pair(path)
    assert (data, meta["version"]) == (b"A", "A")  # what was committed when it read
    monkeypatch.setattr(files, "_read_or_none", real)
    assert path.read_bytes() == b"B"  # B's data beside B's sidecar
    assert read_pair(path) == (b"B", json.loads(sidecar_path(path).read_text()))


_WRITER = """
import sys, time
from pathlib import Path
from durable_sim.files import publish_pair
path, stop = Path(sys.argv[1]), Path(sys.argv[2])
ready = [Path(name) for name in sys.argv[4:]]
deadline = time.monotonic() + 60
while not all(r.exists() for r in ready) and time.monotonic() < deadline:
    time.sleep(0.01)
end, count = time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < end:
    data = b"A\\n" if count % 2 == 0 else b"B\\n"
    publish_pair(path, data, {"version": data.decode()}, fsync=False)
    count += 1
    time.sleep(0.001 * (count % 3))  # back to back, 1 ms and 2 ms apart
stop.touch()
print(count)
"""

_READER = """
import json, sys, time
from pathlib import Path
from durable_sim.errors import SidecarMismatchError
from durable_sim.files import read_pair
path, stop, ready = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
reads, errors = 0, []
ready.touch()
deadline = time.monotonic() + 120
while not stop.exists() and time.monotonic() < deadline:
    try:
        data, meta = read_pair(path)
    except SidecarMismatchError as exc:
        errors.append(str(exc))
    else:
        if meta["version"].encode() != data:
            errors.append(f"data {data!r} beside sidecar {meta['version']!r}")
    reads += 1
print(json.dumps({"reads": reads, "errors": errors[:3], "failed": len(errors)}))
"""


def test_readers_racing_a_writer_that_alternates_contents_never_see_a_false_mismatch(
    tmp_path: Path,
) -> None:
    """A writer publishes A, B, A... (back to back and 1-2 ms apart) for 1.5 s while two
    reader processes read the pair without pause: no read may fail or return data beside
    another version's sidecar, and the pair left behind verifies."""
    path = tmp_path / "rows.csv"
    stop = tmp_path / "stop"
    publish_pair(path, b"A\n", {"version": "A\n"})
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", _READER, str(path), str(stop), str(r)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in ready
    ]
    writer = subprocess.run(
        [sys.executable, "-c", _WRITER, str(path), str(stop), "1.5", *map(str, ready)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = [json.loads(r.communicate(timeout=120)[0]) for r in readers]
    assert int(writer.stdout) > 20
    assert [r["errors"] for r in results] == [[], []]
    assert all(r["reads"] > 20 for r in results), results
    data, meta = read_pair(path)
    assert path.read_bytes() == data and meta["version"].encode() == data
    assert _pending_files(tmp_path) == []
