"""Sweeps: a grid of experiment specs, one CSV per grid point plus an index, on one machine or on
a Dask cluster, with byte-identical results and incremental reruns.

A sweep file (``params/sweeps/*.yaml``) has two keys::

    base:            # an experiment spec: the keys `ExperimentSpec` accepts
      workload: video
      runs: 3
    grid:            # spec key -> list of values; the sweep runs their Cartesian product
      model: [durable, baseline]
      chunks: [1, 10, 100]

Each grid point is ``base`` with the point's grid values, validated as an `ExperimentSpec`. Its
id names its files and is made from its validated grid values in grid order
(``model=durable__chunks=10``), so extending a list adds points without renaming the others.
Its digest is the sha256 of the canonical JSON of the full validated spec together with the
package's code digest (`durable_sim.experiments.code_digest`) and the sha256 of the price table
the spec names (`ExperimentSpec.prices_sha256`): the same digest means the same rows, byte for
byte, because rows depend only on the spec, the code and the prices. Ids, digests, the index and
the sidecars take a spec as it is written down, a ``database`` DSN with its secrets masked
(`durable_sim.dsn.redact`): two points that differ only in a password are one experiment.

A rerun skips a point whose CSV and ``.meta.json`` sidecar are present, whose sidecar's spec,
code and price-table digests give the point's digest, and whose CSV has the rows that spec
makes (run ids, workload, model, per-run seeds: the sidecar records no checksum of the CSV).
Every other point is run again, and its old files are deleted before any point runs.
`save_rows` writes the CSV before the sidecar, so a sidecar on disk always belongs to the CSV
beside it: an interrupted sweep leaves complete points and no half-written ones, and a rerun
resumes it. ``index.csv`` (point, digest, the grid values, file, rows, the CSV's sha256) is
written last, once every point is present; `read_sweep` reads the rows back, each CSV checked
against it.

Durability: a point is published without fsync (`durable_sim.files.publish_pair` with
``fsync=False``: 5 fsyncs a point saved), which keeps every guarantee above against a killed
process (renames are atomic, and written bytes live in the kernel's page cache, not in the
process). Before the index is written, the files of every point this run saved are fsynced
(`durable_sim.files.fsync_files`), so a sweep with an index is on disk as a whole. A power loss
or OS crash before that may leave points of an unfinished sweep empty, missing or older than
their sidecars say; a rerun finds them by their sha256 and runs them again, as any damaged point.

Executors: ``local`` runs points in this process (1 worker) or on a pool of spawned processes;
``dask`` runs them on a `distributed.LocalCluster` of N single-threaded worker processes
(`local_cluster`: forked from a fork server that has imported this module; the sweep sends its
tasks once the scheduler is up, and each worker takes them as it registers), or on the running
cluster whose scheduler address is given. Workers run and save points themselves, so the output
directory must be on a filesystem every worker shares (each task checks it before its points
run, and stops once the sweep has let go of it). A worker decides to save a point, and saves it,
under a shared lock (`SAVE_LOCK_FILE`) which a sweep takes exclusively to write its token when it
starts: a point is saved only while the sweep that sent it holds the directory, never over a
rerun's files by a worker of a sweep that was killed: the worker asks again, immediately
before the commit point of each point's publish (`durable_sim.files.publish_pair`'s
``commit_if``), so no point is published after its sweep died. A pool worker ends once the
sweep that started it has died, even while it is still importing (`_lifeline`). Points are sent
in batches (guided, `GUIDED_SHARE`), which keeps the scheduler's per-task cost off each point,
and the environment a sidecar records (`durable_sim.experiments.environment_record`: code
digest, package versions) is made once per process, not once per batch or point. One sweep at
a time may write an output directory (an advisory lock on ``.sweep.lock``, which a recover
holds shared); a lock file is never opened in a way that blocks, and one that is no regular
file, or a filesystem that keeps no locks, is refused with one line (`LockFileError`).
"""

from __future__ import annotations

import asyncio
import csv
import errno
import fcntl
import functools
import hashlib
import io
import itertools
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import stat
import string
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import ExitStack, closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from multiprocessing import forkserver, get_context
from pathlib import Path
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import pandas as pd
import yaml
from tqdm.auto import tqdm

from durable_sim import yamlfile
from durable_sim.dsn import redact
from durable_sim.errors import (
    DurableSimError,
    SidecarMismatchError,
    SpecError,
    StorageUnavailableError,
)
from durable_sim.experiments import (
    ExperimentSpec,
    Registrations,
    code_digest,
    environment_record,
    run_experiment,
    run_seeds,
    save_rows,
)
from durable_sim.files import (
    PublishWithdrawnError,
    fsync_files,
    read_pair,
    recover_pair,
    sidecar_path,
    why_not_created,
    write_bytes_atomic,
)

if TYPE_CHECKING:  # dask is imported only when a sweep runs on it
    from distributed import LocalCluster

#: The keys of a sweep file.
SWEEP_KEYS: tuple[str, ...] = ("base", "grid")
#: The executors `run_sweep` accepts.
EXECUTORS: tuple[str, ...] = ("local", "dask")
#: The index of a finished sweep, in its output directory.
INDEX_FILE = "index.csv"
#: The advisory lock of an output directory (it holds the running sweep's token, else nothing).
LOCK_FILE = ".sweep.lock"
#: The lock a worker holds, shared, from its decision to save a point to the point's last
#: rename; a starting sweep holds it exclusively while it writes its token.
SAVE_LOCK_FILE = ".sweep.save.lock"
#: Longest wait (s) of a starting sweep for a lock another process holds: a probe of it
#: (`_still_held`, by a worker of a sweep that just died) holds it for microseconds; a sweep or
#: a recover holds it for as long as it runs, and is refused once this has passed.
LOCK_WAIT_S = 0.2
#: Longest wait (s) of a starting sweep for the saves in flight in its output directory (a
#: save takes milliseconds; only a worker stopped in the middle of one holds it up longer).
SAVE_WAIT_S = 30.0
#: Longest wait (s) for the running Dask scheduler a sweep is given to answer, from the connection
#: to its identity (`_dask_client`): an address where something else listens may never answer.
SCHEDULER_TIMEOUT_S = 10.0
#: At most this many points in one sweep (a typo in a grid should not start a billion runs).
MAX_POINTS = 1_000_000
#: At most this many workers (processes) for an executor this package starts.
MAX_WORKERS = 256
#: Without a `batch_size`, each task takes 1/GUIDED_SHARE of the points left per worker (guided
#: self-scheduling, Polychronopoulos & Kuck, IEEE Trans. Computers 36(12), 1987): large first
#: tasks spread the scheduler's per-task cost over many points, and small last ones let the
#: workers finish together.
GUIDED_SHARE = 4
#: Dask settings of a cluster this package starts (`local_cluster`): its scheduler and nannies
#: (in the process that starts it) and its workers.
#: - The statistical profiler, which feeds the dashboard's profile page, samples the running
#:   task's stack every 10 ms (distributed's default ``distributed.worker.profile.interval``); a
#:   sweep's tasks are deep simulation stacks and no dashboard is served, so it only costs CPU.
#: - Each server (scheduler, nanny, worker) wakes its event loop every
#:   ``distributed.admin.tick.interval`` (default 20 ms) to time it, for a log message when the
#:   loop was blocked longer than ``distributed.admin.tick.limit`` (3 s), at a level the cluster
#:   silences. Once a second still finds such a block, and an idle 2-worker cluster uses 28
#:   instead of 68 ms of CPU per second (its scheduler and nannies 15 instead of 35, each worker
#:   6 instead of 16; ``python -m benchmarks dask-idle``, medians of 3 at load 7-11).
DASK_CONFIG: Mapping[str, Any] = MappingProxyType(
    {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}
)

#: distributed's setting of its scheduler's HTTP routes (see `_cluster_settings`).
_ROUTES = "distributed.scheduler.http.routes"

#: Seconds between a sweep's looks at whether the workers of the cluster it started have all
#: started or failed (`_while_starting`), while it takes the results of those that run its tasks
#: meanwhile (one that arrives between two looks waits for the next).
START_POLL_S = 0.1
#: How long a sweep waits for a LocalCluster's workers to start before it gives up (s).
#: A worker starts in ~0.15 s from a running fork server (`python -m benchmarks dask-start`)
#: and in seconds on a loaded host; one still starting after a minute is stuck (e.g. a preload
#: that blocks), and neither distributed nor this module would otherwise stop waiting for it.
WORKER_START_TIMEOUT_S = 60.0

#: What the fork server of a `local_cluster`'s workers imports before it forks them: the Dask
#: worker, and this module, whose `_run_batch` every task of a sweep calls.
FORKSERVER_PRELOAD: tuple[str, ...] = ("distributed", __name__)

_SAFE_CHARS = frozenset(string.ascii_letters + string.digits + ".+-")
_MAX_ID_CHARS = 150  # a point's file names stay well below common 255-byte limits


class SweepError(SpecError):
    """A bad sweep file or argument, or a sweep that cannot run as asked; one line naming the
    bad value and what is accepted. Raised before any point runs, except for a worker that
    cannot see the output directory or runs other code (raised by that worker's first batch)."""


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its id (file stem), validated grid values (grid order), spec, digest."""

    point_id: str
    values: Mapping[str, Any]
    spec: ExperimentSpec
    digest: str

    @property
    def file(self) -> str:
        """The point's CSV file name in the output directory (its sidecar: ``.meta.json``)."""
        return f"{self.point_id}.csv"


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: where it came from, its grid keys, its points in grid order, and the
    code digest its point digests were computed with."""

    source: str
    grid_keys: tuple[str, ...]
    points: tuple[SweepPoint, ...]
    code_sha256: str


@dataclass(frozen=True)
class SweepResult:
    """What `run_sweep` did: the output directory, the index it wrote (one row per point, in
    grid order), and how many points ran and how many were already present."""

    out: Path
    index: pd.DataFrame
    ran: int
    skipped: int


def spec_digest(spec: ExperimentSpec, code_sha256: str, prices_sha256: str) -> str:
    """sha256 (64 hex digits) of the canonical JSON (sorted keys, no spaces, ASCII) of the full
    validated `spec` (as written down: a DSN without its secrets), the code digest `code_sha256`
    and the digest of the price table's content `prices_sha256`: which rows a point has."""
    document = {
        "code_sha256": code_sha256,
        "prices_sha256": prices_sha256,
        "spec": spec.model_dump(mode="json"),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _format_value(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float | str):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _encode(text: str) -> str:
    """`text` with every character but letters, digits, '.', '+', '-' percent-encoded (UTF-8):
    safe in a file name, and different texts stay different."""
    return "".join(
        char if char in _SAFE_CHARS else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in text
    )


def _point_id(values: Mapping[str, Any]) -> str:
    if not values:
        return "base"
    # Keys are field names; an encoded value has no '=' and no "__": the id reads back one way.
    point_id = "__".join(f"{key}={_encode(_format_value(v))}" for key, v in values.items())
    if len(point_id) > _MAX_ID_CHARS:  # '~' never appears in an encoded id
        point_id = f"{point_id[:120]}~{hashlib.sha256(point_id.encode()).hexdigest()[:16]}"
    return point_id


def _describe(values: Mapping[str, Any]) -> str:
    """Grid values for a message, a text's secrets masked (a DSN's password: `redact`)."""
    shown = (f"{key}={_shown(value)}" for key, value in values.items())
    return ", ".join(shown)


def _point(values: Mapping[str, Any]) -> str:
    """A grid point in a message: ``grid point chunks=10``, or ``base`` (a grid without keys)."""
    return f"grid point {_describe(values)}" if values else "base"


def _shown(value: Any) -> str:
    """`value`'s repr, a text's secrets masked (`durable_sim.dsn.redact`)."""
    return repr(redact(value)) if isinstance(value, str) else repr(value)


def _unrepeated(values: Mapping[str, Any], reason: str) -> str:
    """`reason` (a message about a grid point whose values `_describe` names) with the grid
    value it begins with named by its key alone: ``chunks=0 is out of range`` and ``database
    'x' cannot be reached`` become ``chunks is out of range`` and ``database cannot be
    reached``, since the point's description has just said ``chunks=0``, ``database='x'``."""
    for key, value in values.items():
        for shown in (repr(value), _shown(value)):
            for given in (f"{key}={shown}", f"{key} {shown}"):
                end = len(given)
                if reason.startswith(given) and reason[end : end + 1] in (" ", ":"):
                    return key + reason[end:]
    return reason


def _check_keys(where: str, keys: Sequence[Any], source: str) -> None:
    fields = sorted(ExperimentSpec.model_fields)
    for key in keys:
        if key not in fields:
            raise SweepError(
                f"bad sweep {source}: {where} key {key!r} is not an experiment spec field "
                f"(accepted: {fields})"
            )


def parse_sweep(document: Any, *, source: str = "<sweep>") -> Sweep:
    """Validate a sweep document (``{"base": {...}, "grid": {key: [values]}}``) and expand its
    grid into points, in grid order (the last key varies fastest).

    Raises `SweepError` naming the bad key or value and what is accepted: a key other than
    `SWEEP_KEYS`, a base or grid key that is not an `ExperimentSpec` field, a key in both, a
    grid value that is not a non-empty list, more than `MAX_POINTS` points, a point that
    `ExperimentSpec.parse` rejects (its message, with the point's grid values), a grid key
    with several values that applies to none of the points (`ExperimentSpec.applies`: its
    points would repeat one run under different digests), or a grid list
    with two values that validate to the same value. `source` names the sweep in messages.
    """
    if not isinstance(document, Mapping):
        raise SweepError(
            f"bad sweep {source}: {document!r:.60} is no mapping (accepted: a mapping with "
            f"keys {list(SWEEP_KEYS)})"
        )
    unknown = [key for key in document if key not in SWEEP_KEYS]
    missing = [key for key in SWEEP_KEYS if key not in document]
    if unknown or missing:
        bad = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
        raise SweepError(f"bad sweep {source}: {bad} (accepted: exactly {list(SWEEP_KEYS)})")
    base, grid = document["base"], document["grid"]
    for name, part in (("base", base), ("grid", grid)):
        if not isinstance(part, Mapping):
            raise SweepError(
                f"bad sweep {source}: {name} must be a mapping, got {part!r} "
                f"(accepted: {name}: {{key: {'value' if name == 'base' else '[values]'}}})"
            )
    _check_keys("base", list(base), source)
    _check_keys("grid", list(grid), source)
    for key, values in grid.items():
        if key in base:
            raise SweepError(
                f"bad sweep {source}: key {key!r} is in both base and grid (accepted: one of them)"
            )
        if not isinstance(values, list) or not values:
            raise SweepError(
                f"bad sweep {source}: grid key {key!r} has {values!r} "
                "(accepted: a non-empty list of values)"
            )
    count = math.prod(len(values) for values in grid.values())
    if count > MAX_POINTS:
        raise SweepError(
            f"bad sweep {source}: the grid has {count:,} points (accepted: at most {MAX_POINTS:,})"
        )
    code = code_digest()
    keys = tuple(grid)
    points = []
    tables: dict[str, str] = {}  # price table path -> sha256 of its content
    validated: dict[tuple[str, int], Any] = {}  # (key, list position) -> the validated value
    for positions in itertools.product(*(range(len(grid[key])) for key in keys)):
        raw = {key: grid[key][i] for key, i in zip(keys, positions, strict=True)}
        try:
            spec = ExperimentSpec.parse({**base, **raw})
        except SpecError as exc:
            reason = _unrepeated(raw, str(exc).removeprefix("bad experiment spec: "))
            raise SweepError(f"bad sweep {source}: {_point(raw)}: {reason}") from None
        # As the spec is written down: a DSN without its secrets (`ExperimentSpec`'s dump).
        dumped = spec.model_dump(include=set(keys))
        values = {key: dumped[key] for key in keys}
        for key, i in zip(keys, positions, strict=True):
            validated.setdefault((key, i), values[key])
        if spec.prices not in tables:
            tables[spec.prices] = spec.prices_sha256()
        digest = spec_digest(spec, code, tables[spec.prices])
        points.append(SweepPoint(_point_id(values), values, spec, digest))
    for key in keys:
        if len(grid[key]) > 1 and not any(point.spec.applies(key) for point in points):
            condition = "; ".join(
                f"{k} {' or '.join(v)}" for k, v in ExperimentSpec.applies_to(key).items()
            )
            raise SweepError(
                f"bad sweep {source}: grid key {key!r} applies to none of the grid's points "
                f"(accepted: only with {condition})"
            )
        seen: dict[str, int] = {}
        for i in range(len(grid[key])):
            text = _format_value(validated[(key, i)])
            if text in seen:
                first = grid[key][seen[text]]
                raise SweepError(
                    f"bad sweep {source}: grid key {key!r} lists {_shown(first)} and "
                    f"{_shown(grid[key][i])}, which are the same value "
                    f"{_shown(validated[(key, i)])} (accepted: distinct values)"
                )
            seen[text] = i
    return Sweep(source, keys, tuple(points), code)


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (YAML; see `parse_sweep`). Raises `SweepError` if the
    file cannot be read, is not valid YAML, or fails `parse_sweep`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SweepError(
            f"bad sweep file {str(path)!r}: {reason} (accepted: a readable UTF-8 YAML file)"
        ) from None
    try:
        document = yamlfile.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        accepted = f"a YAML mapping with keys {list(SWEEP_KEYS)}"
        if "accepted: " not in problem:  # else the problem says what is accepted (a key once)
            where += f" (accepted: {accepted})"
        raise SweepError(f"bad sweep file {str(path)!r}: {problem}{where}") from None
    return parse_sweep(document, source=str(path))


class _Saved(NamedTuple):
    """A point's CSV as saved: the point's position in the grid, its rows, the CSV's sha256."""

    position: int
    rows: int
    sha256: str


def _saved(position: int, rows: int, data: bytes) -> _Saved:
    return _Saved(position, rows, hashlib.sha256(data).hexdigest())


def _present(out: Path, position: int, point: SweepPoint) -> _Saved | None:
    """`point`'s CSV in `out` if it is there, matches its sidecar (sha256 and size,
    `durable_sim.files.read_pair`), the sidecar's spec, code and price-table digests give the
    point's digest, and it holds the rows that spec makes (run ids, workload, model, per-run
    seeds); else None."""
    csv_path = out / point.file
    try:
        data, meta = read_pair(csv_path)
        if csv_path.read_bytes() != data:  # an interrupted publish: run the point again
            return None
        (recorded,) = meta["specs"]
        spec = ExperimentSpec.parse(recorded)
        prices = meta["prices_sha256"][spec.prices]
        if spec_digest(spec, meta["code_sha256"], prices) != point.digest:
            return None
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    except (OSError, ValueError, KeyError, TypeError, SidecarMismatchError):
        return None
    spec = point.spec
    expected = [
        (str(i), spec.workload, spec.model, str(seed))
        for i, seed in enumerate(run_seeds(spec.seed, spec.runs))
    ]
    found = [(r.get("run_id"), r.get("phase"), r.get("model"), r.get("seed")) for r in rows]
    return _saved(position, len(rows), data) if found == expected else None


class LockFileError(SweepError):
    """A sweep's lock file (`LOCK_FILE`, `SAVE_LOCK_FILE`) that cannot serve as one: something
    other than a regular file stands at its path (a directory, a FIFO, a socket, a device), or
    its filesystem refuses advisory locks (``ENOLCK``: NFS without a lock manager). One line
    naming the path, what it is and what it should be."""


#: How a file type reads in a message (`stat.S_IFMT` -> words).
_FILE_TYPES: Mapping[int, str] = MappingProxyType(
    {
        stat.S_IFDIR: "a directory",
        stat.S_IFIFO: "a FIFO (named pipe)",
        stat.S_IFSOCK: "a socket",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
    }
)


def _open_lock(path: Path, *, create: bool) -> IO[str] | None:
    """Open the lock file `path`: created if missing and opened for reading and writing when
    `create`, else opened for reading only, or None if missing (a lock works on either). Never
    blocks: it is opened non-blocking (a FIFO would hold an ordinary open until a writer came)
    and refused with `LockFileError` unless it is a regular file. Other `OSError`s propagate."""
    access = os.O_RDWR | os.O_CREAT if create else os.O_RDONLY
    flags = access | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except FileNotFoundError:
        if create:
            raise
        return None
    except IsADirectoryError:
        raise _not_a_lock_file(path, "a directory") from None
    except OSError as exc:
        if exc.errno not in (errno.ENXIO, errno.EOPNOTSUPP, errno.ENODEV):
            raise
        # A socket (ENXIO), or a device this process may not open as a file.
        kind = stat.S_IFMT(os.stat(path).st_mode)
        raise _not_a_lock_file(path, _FILE_TYPES.get(kind, "no regular file")) from None
    kind = stat.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat.S_IFREG:
        os.close(fd)
        raise _not_a_lock_file(path, _FILE_TYPES.get(kind, "no regular file"))
    os.set_blocking(fd, True)
    return open(fd, "r+" if create else "r", encoding="utf-8")  # the caller closes it


def _not_a_lock_file(path: Path, what: str) -> LockFileError:
    return LockFileError(
        f"lock file {str(path)!r} is {what} (accepted: a regular file, which a sweep creates "
        "if missing; remove what stands there)"
    )


def _flock_within(handle: IO[str], path: Path, seconds: float) -> bool:
    """Lock `handle` (the lock file `path`) exclusively, trying every 10 ms (a save or a
    probe holds it for milliseconds) for up to `seconds`; False if it is still held then."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _flock(handle, path, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _flock(handle: IO[str], path: Path, operation: int) -> None:
    """`fcntl.flock` on `handle` (the lock file `path`); `BlockingIOError` as it is (held by
    another), and a filesystem that keeps no locks (``ENOLCK``, ``EOPNOTSUPP``) as
    `LockFileError` naming the directory. Other `OSError`s propagate."""
    try:
        fcntl.flock(handle, operation)
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
            raise
        raise LockFileError(
            f"cannot lock {str(path)!r}: {exc.strerror} (accepted: a directory on a filesystem "
            "that keeps advisory locks, flock(2): a local disk, or NFS with its lock manager)"
        ) from None


def _in_use(out: Path) -> SweepError:
    return SweepError(
        f"output directory {str(out)!r} is in use: its {LOCK_FILE} is held by another sweep "
        "or by a durable-sim recover (accepted: one sweep or recover per directory at a time; "
        "run again once it has ended)"
    )


@contextmanager
def _locked(out: Path) -> Iterator[str]:
    """Hold `out`'s sweep lock; yields the token written into the lock file while it is held.
    A lock held by someone else is waited for up to `LOCK_WAIT_S` (a probe holds it for
    microseconds: `_still_held`), then refused (`SweepError`)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = _open_lock(out / LOCK_FILE, create=True)
    except LockFileError:
        raise
    except OSError as exc:
        raise SweepError(
            f"bad output directory {str(out)!r}: {why_not_created(out, exc)} "
            "(accepted: a directory this process can create and write)"
        ) from None
    assert handle is not None
    with handle:
        if not _flock_within(handle, out / LOCK_FILE, LOCK_WAIT_S):
            raise _in_use(out)
        token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
        with _saves_paused(out):  # no worker of a killed sweep saves under the new token
            handle.truncate(0)
            handle.write(token)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            yield token
        finally:
            handle.truncate(0)
            handle.flush()


@contextmanager
def _saves_paused(out: Path, *, create: bool = True) -> Iterator[None]:
    """Hold `out`'s save lock exclusively: once the saves in flight have ended, and no new one
    begins meanwhile (unless not `create` and no worker ever saved there: no lock file).
    `SweepError` after `SAVE_WAIT_S` seconds of a save in flight."""
    handle = _open_lock(out / SAVE_LOCK_FILE, create=create)
    if handle is None:
        yield
        return
    with handle:
        if not _flock_within(handle, out / SAVE_LOCK_FILE, SAVE_WAIT_S):
            raise SweepError(
                f"output directory {str(out)!r}: a point being saved there has not been "
                f"saved within {SAVE_WAIT_S:g} s (a worker of an earlier sweep, stopped "
                "mid-save?) (accepted: a directory no stopped process is saving into)"
            )
        yield


@contextmanager
def _saving(out: Path, token: str) -> Iterator[bool]:
    """Hold `out`'s save lock, shared, and yield whether the sweep of lock `token` still holds
    `out` (`_still_held`): a point saved inside, when True, is saved before any later sweep
    writes its token (it waits for this lock, `_saves_paused`)."""
    handle = _open_lock(out / SAVE_LOCK_FILE, create=True)
    assert handle is not None
    with handle:
        _flock(handle, out / SAVE_LOCK_FILE, fcntl.LOCK_SH)
        yield _still_held(out, token)


@contextmanager
def quiet_sweeps(root: Path) -> Iterator[list[Path]]:
    """Hold the sweep lock of every sweep directory at or under `root` (or of the directory of
    `root`, a file), so that no sweep writes there meanwhile: for a recovery, which removes
    leftover temporary files that a running sweep is still writing. Yields the sweep
    directories whose lock it holds: their temporary files are a dead writer's.

    The lock files are found once, before any is locked: a sweep that first starts in a
    directory under `root` after that (one with no `LOCK_FILE` yet, or whose lock file is made
    after the search) is not held, nor yielded, so the recovery treats its temporary files as a
    live writer's (reported, never removed) and settles its pairs as any writer's
    (`durable_sim.files.recover_pair`, which renames only when no writer holds the directory):
    such a sweep is never disturbed, it only goes unrecovered this time.

    Its saves in flight (a worker of a killed sweep, `_saving`) end first, and none begins
    meanwhile. Raises `SweepError` naming the directory if a sweep holds its lock now, or a
    save there does not end within `SAVE_WAIT_S` s, and `LockFileError` for a lock file that is
    no regular file or a filesystem that keeps no locks; no lock file is ever opened in a way
    that blocks."""
    base = root if root.is_dir() else root.parent
    locks = sorted(base.rglob(LOCK_FILE)) if root.is_dir() else [base / LOCK_FILE]
    held: list[Path] = []
    with ExitStack() as stack:
        for lock in locks:
            handle = _open_lock(lock, create=False)
            if handle is None:
                continue  # no sweep ever wrote there
            stack.enter_context(handle)
            try:
                _flock(handle, lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SweepError(
                    f"{str(lock.parent)!r} is being written by a sweep (its {LOCK_FILE} is "
                    "held): recover it once the sweep has ended (a rerun of the sweep "
                    "recovers it too)"
                ) from None
            # A worker of a killed sweep may still be saving a point there: wait for it.
            stack.enter_context(_saves_paused(lock.parent, create=False))
            held.append(lock.parent)
        yield held


# A point to run: (its position in the grid, its spec, its CSV file name).
_Item = tuple[int, ExperimentSpec, str]


class _Failure(NamedTuple):
    """The error that stopped a batch, as a worker sends it (plain values, which always cross
    a process boundary): the grid position of the point whose run or save raised it (None for
    an error before any point, e.g. a worker that cannot see the output directory), its type's
    name, its message, whether it is ours (`DurableSimError`) and bad usage (`SpecError`,
    `StorageUnavailableError`: a value or a database the sweep cannot use), and its traceback."""

    position: int | None
    kind: str
    message: str
    ours: bool
    usage: bool
    traceback: str


class _Done(NamedTuple):
    """What a batch did: each point it saved, then the error that stopped it, if any. A worker
    returns its error as a value rather than raising it, so that the executor has no failed
    task to report (distributed's workers log each one with its traceback, at ERROR) and the
    sweep reports it once, naming the point (`_raise`)."""

    saved: list[_Saved]
    failure: _Failure | None = None


def _failure(position: int | None, exc: Exception) -> _Failure:
    return _Failure(
        position,
        type(exc).__name__,
        str(exc),
        isinstance(exc, DurableSimError),
        isinstance(exc, SpecError | StorageUnavailableError),
        "".join(traceback.format_exception(exc)),
    )


class PointFailedError(DurableSimError, RuntimeError):
    """A grid point's run (or save) raised an error that is not bad usage: a workload or engine
    that fails, a bug. One line naming the sweep, the point's grid values and the error (its
    type and message); `details` is the traceback of an unexpected error (not a
    `DurableSimError`: a bug) where it was raised, a worker's perhaps, else empty."""

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def _raise(failure: _Failure, sweep: Sweep) -> None:
    """Raise the error of a batch's `failure`, naming the grid point of `sweep` it stopped at:
    bad usage (a value the run refused, a database out of reach) as `SweepError`, an error of
    ours as `PointFailedError` with its type, any other as `PointFailedError` "unexpected", and
    an error before any point (the worker's own checks) as `SweepError` as it was raised."""
    if failure.position is None:
        if failure.usage:
            raise SweepError(failure.message)
        raise SweepError(
            f"a worker failed before its first point: {failure.kind}: {failure.message}"
        )
    point = sweep.points[failure.position]
    where = f"sweep {sweep.source}: {_point(point.values)}"
    if failure.usage:
        message = failure.message.removeprefix("bad experiment spec: ")
        raise SweepError(f"{where}: {_unrepeated(point.values, message)}")
    kind = failure.kind if failure.ours else f"unexpected {failure.kind}"
    details = "" if failure.ours else failure.traceback
    raise PointFailedError(f"{where}: {kind}: {failure.message}", details=details)


# One task: (output directory, lock token, code digest, the registrations its points name, the
# points to run).
_Task = tuple[str, str, str, tuple[Registrations, ...], list[_Item]]
# The work of a sweep: (output directory, lock token, code digest, the points to run).
_Work = tuple[str, str, str, list[_Item]]


def _run_points(
    out: Path, items: Sequence[_Item], environment: Mapping[str, Any], token: str | None = None
) -> _Done:
    """Run and save each point; `environment` is this process's `environment_record`, made once
    for all of them. An error of a point's run or save ends the batch, returned with the points
    saved before it (`_Done`). With the sweep's lock `token` (a worker), stop, saving nothing
    more, once the lock no longer holds it (the sweep that sent the batch has stopped, and a
    rerun may own the directory): checked before each point runs, under the save lock right
    before it is saved (`_saving`), and at the commit point of its publish (``commit_if``): a
    sweep that dies while a point is written never has it published after its death."""
    done: list[_Saved] = []
    # Asked again at each point's commit: the sweep may die while the point is written.
    commit_if = None if token is None else functools.partial(_still_held, out, token)
    for position, spec, file in items:
        if token is not None and not _still_held(out, token):
            break
        try:
            rows = run_experiment(spec)
            with nullcontext(True) if token is None else _saving(out, token) as held:
                if not held:
                    break
                # Durable as a whole before the index is written (`run_sweep`), not point by
                # point.
                path = save_rows(
                    rows,
                    [spec],
                    out / file,
                    environment=environment,
                    fsync=False,
                    commit_if=commit_if,
                )
        except PublishWithdrawnError:
            break
        except Exception as exc:
            return _Done(done, _failure(position, exc))
        done.append(_saved(position, len(rows), path.read_bytes()))
    return _Done(done)


def _still_held(out: Path, token: str) -> bool:
    """Whether the sweep whose lock `token` this is still holds `out`'s lock: its token is in
    the lock file and the lock is held. A sweep killed with SIGKILL leaves its token behind but
    not its lock (the kernel drops it with the process), and its workers must stop then too.
    The lock is consulted on the sweep's own host only (the token names it): another host's
    view of a lock on a shared filesystem depends on that filesystem."""
    if _lock_token(out) != token:
        return False
    if token.split(":", 1)[0] != socket.gethostname():
        return True
    try:
        handle = _open_lock(Path(out, LOCK_FILE), create=False)
        if handle is None:
            return False
        with handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)  # free: nobody holds it
    except BlockingIOError:
        return True  # held, by the sweep that wrote the token
    except (OSError, LockFileError):
        return False
    return False


def _lock_token(out: Path) -> str:
    """The token in `out`'s lock file: the running sweep's, else empty (no lock file, or one
    that is no regular file: never a blocking read of a FIFO)."""
    try:
        handle = _open_lock(Path(out, LOCK_FILE), create=False)
        if handle is None:
            return ""
        with handle:
            return handle.read()
    except (OSError, LockFileError):
        return ""


def _run_batch(task: _Task) -> _Done:
    """A worker's task: check it writes where the client reads and runs the client's code, make
    the registrations its points name (workloads, profiles), then run and save its points with
    this process's `environment_record` (`_process_environment`: the worker's packages go into
    its points' sidecars), until the sweep lets go of the directory (`_run_points`). An error is
    returned, not raised (`_Done`)."""
    out, token, code, registrations, items = task
    try:
        environment = _prepare(out, token, code, registrations)
    except Exception as exc:
        return _Done([], _failure(None, exc))
    return _run_points(Path(out), items, environment, token)


def _prepare(
    out: str, token: str, code: str, registrations: tuple[Registrations, ...]
) -> Mapping[str, Any]:
    """A worker's checks and set-up before a batch's first point (`_run_batch`); returns the
    process's `environment_record`. Raises `SweepError` for a worker that cannot see `out` or
    runs other code than `code`, and what restoring a registration raises."""
    if _lock_token(Path(out)) != token:
        raise SweepError(
            f"a worker on host {socket.gethostname()!r} cannot see the output directory {out!r} "
            "(accepted: a directory on a filesystem every worker shares)"
        )
    environment = _process_environment()
    if environment["code_sha256"] != code:
        raise SweepError(
            f"a worker on host {socket.gethostname()!r} runs durable-sim code "
            f"{environment['code_sha256'][:12]}, the client {code[:12]} "
            "(accepted: the same code on the client and every worker)"
        )
    for registration in registrations:
        registration.restore()
    return environment


@functools.cache
def _process_environment() -> Mapping[str, Any]:
    """This process's `environment_record`, made on its first batch: a worker runs many batches,
    and the code and packages a process runs do not change while it runs (as the project's
    checkout, `durable_sim.project.installed_checkout`). Read only."""
    return MappingProxyType(environment_record())


def _registrations(specs: Iterable[ExperimentSpec]) -> tuple[Registrations, ...]:
    """The distinct registrations `specs` name (`Registrations.of`: a `RegistryError` for one
    that workers cannot make again)."""
    return tuple(dict.fromkeys(Registrations.of(spec) for spec in specs))


def _serial(out: Path, todo: list[_Item]) -> Generator[_Done]:
    environment = environment_record() if todo else {}
    for item in todo:
        yield _run_points(out, [item], environment)


#: The reaper of a sweep's pool workers (`_lifeline`), run as ``python -I -S -c _REAPER FD PID``
#: (the standard library only: it starts in milliseconds). It waits until the sweep (PID, its
#: parent) has died (a pidfd, where Linux has them) or has ended (a byte on the pipe FD, whose
#: write end the sweep holds, or its end of file), then SIGKILLs every process that holds the
#: pipe's read end and not its write end, itself aside: the workers, each of which has held it
#: since the sweep started it, before it imported anything. Nothing else: no pid that may have
#: been reused, no process a worker started (`_exit_with_parent`), no process forked from the
#: sweep's (it holds both ends, and its write end no longer hides the sweep's death or end).
_REAPER = """
import os, select, signal, sys
fd, parent = int(sys.argv[1]), int(sys.argv[2])
try:
    pidfd = os.pidfd_open(parent)
except (AttributeError, OSError):  # no pidfds here, or the sweep has died
    pidfd = None
if os.getppid() == parent:  # the sweep lives: wait for its death or its end
    select.select([fd] if pidfd is None else [fd, pidfd], [], [])
pipe = os.readlink(f"/proc/self/fd/{fd}")
me = str(os.getpid())
def ends(pid):
    found = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") != pipe:
                continue
            with open(f"/proc/{pid}/fdinfo/{name}") as info:
                flags = next(l for l in info if l.startswith("flags:"))
            found.add(int(flags.split()[1], 8) & 3)
        except (OSError, StopIteration, ValueError):
            pass
    return found
for pid in os.listdir("/proc"):
    if pid.isdigit() and pid != me and ends(pid) == {os.O_RDONLY}:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
"""


@contextmanager
def _lifeline() -> Iterator[Any]:
    """The lifeline of a pool's workers: yields the read end of a pipe whose write end this
    process holds, for each worker to be given (`_exit_with_parent`), and starts the pipe's
    reaper (`_REAPER`) where ``/proc`` lists processes' files (Linux). When this process dies
    (SIGKILL included) the reaper kills every worker at once, even one still importing the
    package before its first line of ours runs (a spawned worker imports for a second, longer
    on a loaded host), and each worker that runs ends itself too once the write end has closed
    (the portable fallback). On exit, once the pool has shut down, a byte on the pipe, then its
    close, wake the reaper: it finds no worker left, and ends."""
    reader, writer = multiprocessing.Pipe(duplex=False)  # neither end is inherited unasked
    reaper = None
    try:
        if os.path.isdir("/proc/self/fd"):
            reaper = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _REAPER, str(reader.fileno()), str(os.getpid())],
                pass_fds=(reader.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives a signal to this process's group
            )
        yield reader
    finally:
        reader.close()
        if reaper is not None:
            # The end: a process forked from this one holds the write end too, and would hide
            # its close from the reaper until it ends (a reaper killed meanwhile: EPIPE).
            with suppress(OSError):
                os.write(writer.fileno(), b".")
        writer.close()
        if reaper is not None:
            reaper.wait()


def _exit_with_parent(lifeline: Any) -> None:
    """A pool worker's initializer: a daemon thread ends this process as soon as the sweep that
    started it has died, which closes the write end of the `lifeline` pipe (`_lifeline`). Else
    a worker of a SIGKILLed sweep finished its batch, then waited forever on the pool's queue,
    and kept the pool's resource tracker alive; a point it was saving is left as a kill leaves
    one, unpublished (`_run_points`; the next sweep settles it). The read end stays this
    worker's alone: a process its workload starts (a fork, a subprocess keeping descriptors)
    never holds it, so the reaper never kills one (it kills whoever holds the read end)."""

    def watch() -> None:
        multiprocessing.connection.wait([lifeline])  # nothing is ever sent: the end of file
        os._exit(1)

    os.set_inheritable(lifeline.fileno(), False)  # the spawn passed it inheritable
    os.register_at_fork(after_in_child=lifeline.close)
    threading.Thread(target=watch, name="durable-sim-sweep-parent", daemon=True).start()


def _process_pool(tasks: list[_Task], workers: int) -> Generator[_Done]:
    with _pool_on_lifeline(workers) as pool:
        futures = [pool.submit(_run_batch, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


@contextmanager
def _pool_on_lifeline(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` spawned processes on a `_lifeline` (they die with this process);
    shut down on exit, its queued tasks cancelled."""
    with _lifeline() as lifeline:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(lifeline,),
        )
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def local_cluster(workers: int) -> LocalCluster:
    """A new `distributed.LocalCluster` of `workers` (1..`MAX_WORKERS`) single-threaded worker
    processes, each under a nanny, returned once every worker has started; logs below ERROR
    silenced; the scheduler's HTTP server on a free port of 127.0.0.1 (with no address it takes
    :8787 and warns if that is taken); the workers' statistical profiler off and the servers'
    event loops timed once a second (`DASK_CONFIG`).

    Where the platform has it, the worker processes are forked from a `multiprocessing` fork
    server that has imported `FORKSERVER_PRELOAD`, instead of each starting an interpreter and
    importing them (spawn): the imports are paid once, by one process, while this one imports
    distributed, and a worker exits without tearing down an interpreter. The fork server is
    the process's own (``multiprocessing.forkserver``): it starts with the first such cluster
    and serves the next ones until this process and the workers it forked have ended, and a
    fork server already running keeps the modules it was started with. A worker its nanny
    restarts later is spawned (distributed's default).

    The caller closes it (a context manager). Raises `SweepError` for a bad `workers`."""
    _check_arguments("dask", workers, None, None)
    with _cluster_settings():
        return _new_cluster(workers)


@contextmanager
def _cluster_settings() -> Iterator[None]:
    """This process's Dask configuration while a `local_cluster`'s scheduler and nannies start
    (they read it then; each nanny hands `DASK_CONFIG` to its worker process), with the fork
    server of its workers started (`local_cluster`)."""
    method = _start_fork_server()
    # Imported here: dask is needed only by this executor and costs a second to import; and
    # distributed before the settings are set, or their end would take its defaults with them.
    import dask
    import distributed  # noqa: F401

    settings = {
        **DASK_CONFIG,
        "distributed.worker.multiprocessing-method": method,
        # A copy of the scheduler's HTTP routes: where bokeh is not installed, a scheduler with
        # a dashboard address appends a route to the configured list itself, which would grow
        # by one per cluster; the copy goes with the settings.
        _ROUTES: list(dask.config.get(_ROUTES)),
    }
    with dask.config.set(settings):
        yield


def _start_fork_server() -> str:
    """Start this process's fork server with `FORKSERVER_PRELOAD` unless it runs (it imports
    them while this process goes on), and return the start method of a `local_cluster`'s
    workers: ``"forkserver"``, or ``"spawn"`` where the platform has no fork server."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(FORKSERVER_PRELOAD))
    forkserver.ensure_running()
    return "forkserver"


def _new_cluster(workers: int) -> LocalCluster:
    """A `local_cluster`'s `LocalCluster`, with `workers` started (0: its scheduler only); called
    within `_cluster_settings`."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
        config=dict(DASK_CONFIG),  # each nanny hands it to its worker process
    )


@contextmanager
def _starting_cluster(workers: int) -> Iterator[tuple[Any, LocalCluster]]:
    """A new `local_cluster` of `workers` and a `distributed.Client` of its scheduler, yielded as
    soon as the scheduler is up, the workers still starting: a sweep prepares and sends its
    tasks while the fork server imports (`FORKSERVER_PRELOAD`), and each worker takes tasks as
    it registers, not once every nanny has seen its worker start (nannies poll for that every
    50 ms). The client connects to the scheduler's address (a client given the cluster itself
    waits for its workers). `_while_starting` raises a worker's failure to start. The cluster's
    settings (`_cluster_settings`) stay this process's Dask configuration until it is closed, on
    exit (`_close_dask`), since its nannies read them as they start their workers."""
    from distributed import Client

    with _cluster_settings():
        cluster = _new_cluster(0)
        try:
            cluster.scale(workers)  # its nannies start on the cluster's event loop
            client = Client(cluster.scheduler_address, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        try:
            yield client, cluster
        finally:
            _close_dask(client, cluster)


def _while_starting(finished: Any, cluster: Any) -> Generator[_Done]:
    """The results in `finished` (a `distributed.as_completed` with results) as they arrive
    while the workers of `cluster` (a `_starting_cluster`'s) start, looked at every
    `START_POLL_S` s; returns once every worker has started (`_all_started`: its errors
    propagate), the results still to come left in `finished`. The workers that have registered
    run the sweep's tasks meanwhile, and their results and the sweep's progress flow at once."""
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while not _all_started(cluster, deadline):
        if not finished.has_ready():
            time.sleep(START_POLL_S)
        while finished.has_ready():
            _, done = next(finished)  # does not block; raises a failed task's error
            yield done


def _all_started(cluster: Any, deadline: float) -> bool:
    """Whether every worker of `cluster` has started. Raises `SweepError` naming those that
    failed to start (their error is logged, at ERROR), or, past `deadline` (`time.monotonic`),
    those still starting (`WORKER_START_TIMEOUT_S`), whose processes it kills so that the
    cluster can close. SpecCluster adds a nanny to ``cluster.workers`` once it has started or
    failed."""
    from distributed.core import Status

    failed = sorted(
        str(name) for name, nanny in cluster.workers.items() if nanny.status != Status.running
    )
    if failed:
        raise SweepError(
            f"the Dask LocalCluster's workers {failed} did not start (the cause is logged "
            "above) (accepted: a host where this package's worker processes can start)"
        )
    if len(cluster.workers) == len(cluster.worker_spec):
        return True
    if time.monotonic() > deadline:
        # SpecCluster adds the nannies it started together to ``workers`` once all have.
        started = {str(nanny.name) for nanny in _nannies(cluster) if nanny.status == Status.running}
        stuck = sorted(str(name) for name in cluster.worker_spec if str(name) not in started)
        _kill_starting_workers(cluster)
        raise SweepError(
            f"the Dask LocalCluster's workers {stuck} did not start within "
            f"{WORKER_START_TIMEOUT_S:g} s (accepted: a host where this package's worker "
            "processes start, and worker preloads that return)"
        )
    return False


def _kill_starting_workers(cluster: Any) -> None:
    """SIGKILL the worker process of each nanny of `cluster` still starting, so that its start
    ends (as a failure) and the cluster can close: a cluster's close waits for every start."""
    started = {id(nanny) for nanny in cluster.workers.values()}
    for nanny in _nannies(cluster):
        if id(nanny) in started:
            continue
        process = getattr(getattr(nanny, "process", None), "process", None)
        pid = getattr(process, "pid", None)
        if pid is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _nannies(cluster: Any) -> list[Any]:
    """Every nanny `cluster` has created, started or starting: distributed keeps no public list
    of those still starting (``SpecCluster._created``; the pinned version's)."""
    return list(cluster._created)


def _dask_client(scheduler: str) -> Any:
    """A `distributed.Client` connected to the running cluster at `scheduler`, once the server
    there has said it is a Dask scheduler within `SCHEDULER_TIMEOUT_S` (`_server_type`).
    Raises `SweepError` naming the address for an unknown scheme, a server out of reach, one
    that does not answer in time or not in Dask's protocol, and a Dask server of another type."""
    from distributed import Client
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    def unreachable(why: object) -> SweepError:
        return SweepError(
            f"cannot reach the Dask scheduler at {scheduler!r}: {why} "
            "(accepted: the address of a running scheduler, e.g. tcp://host:8786)"
        )

    try:
        get_backend(parse_address(scheduler)[0])  # an unknown scheme fails here, not in Client
        kind = _server_type(scheduler, SCHEDULER_TIMEOUT_S)
    except TimeoutError:
        raise unreachable(f"no answer within {SCHEDULER_TIMEOUT_S} s") from None
    except (OSError, ValueError) as exc:
        raise unreachable(exc) from None
    except Exception as exc:  # whatever distributed makes of bytes not in its protocol
        raise unreachable(
            f"the server there does not speak Dask's protocol ({type(exc).__name__}: {exc})"
        ) from None
    if kind != "Scheduler":
        raise unreachable(f"the server there is a Dask {kind}, not a scheduler")
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise unreachable(exc) from None
    return client


def _server_type(address: str, timeout: float) -> str | None:
    """The type the Dask server at `address` says it is (``"Scheduler"``, ``"Worker"``; ``None``
    if its identity names none), asked in Dask's protocol from a thread and event loop of its
    own (this thread may run one, a notebook kernel's). Raises `TimeoutError` if the answer
    takes over `timeout` s (a `distributed.Client` waits for it without bound), `OSError` if the
    connection fails, or what distributed raises reading an answer in another protocol."""
    from distributed.core import rpc

    async def identity() -> Any:
        async with rpc(address, timeout=timeout) as server:
            return await server.identity()

    def ask() -> Any:
        return asyncio.run(asyncio.wait_for(identity(), timeout))

    with ThreadPoolExecutor(1, thread_name_prefix="durable-sim-scheduler-probe") as pool:
        answer = pool.submit(ask).result()
    kind = answer.get("type") if isinstance(answer, Mapping) else None
    return kind if isinstance(kind, str) else None


def _dask(tasks: list[_Task], client: Any, cluster: LocalCluster | None) -> Generator[_Done]:
    """The tasks' results as they finish: sent to the scheduler in one graph, gathered by the
    client's event loop as they finish (a failed task's error, such as a worker lost, is raised
    here). On a `cluster` this process started, its workers' start is watched meanwhile
    (`_while_starting`): one that fails to start ends the sweep, even after every result."""
    from distributed import as_completed as dask_as_completed

    futures = client.map(_run_batch, tasks, pure=False)
    try:
        finished = dask_as_completed(futures, with_results=True, loop=client.loop)
        if cluster is not None:
            yield from _while_starting(finished, cluster)
        for _, done in finished:
            yield done
    finally:
        client.cancel(futures)


def _survey(out: Path, sweep: Sweep) -> tuple[dict[int, _Saved], list[_Item]]:
    """The points present in `out` (by position) and the points to run."""
    saved: dict[int, _Saved] = {}
    todo: list[_Item] = []
    for position, point in enumerate(sweep.points):
        present = _present(out, position, point)
        if present is None:
            todo.append((position, point.spec, point.file))
        else:
            saved[position] = present
    return saved, todo


def _batches(
    work: _Work,
    client: Any,
    cluster: LocalCluster | None,
    workers: int | None,
    batch_size: int | None,
) -> Generator[_Done]:
    """The results of `work`'s points, batch by batch as they finish: in this process, on a pool
    of `workers` processes, or on the Dask `client`'s workers: the `workers` of the `cluster`
    this process started (they may still be starting), else those its scheduler has now."""
    out, token, code, todo = work
    if not todo or (client is None and (workers or 1) == 1):
        return _serial(Path(out), todo)
    if client is None or cluster is not None:
        count = workers or 1
    else:
        count = len(client.scheduler_info()["workers"]) or 1
    batches = _split(todo, count, batch_size)
    tasks = [
        (out, token, code, _registrations(spec for _, spec, _ in batch), batch) for batch in batches
    ]
    return _process_pool(tasks, count) if client is None else _dask(tasks, client, cluster)


def _split(todo: list[_Item], workers: int, batch_size: int | None) -> list[list[_Item]]:
    """`todo` in order, cut into batches of `batch_size` points, or guided (`GUIDED_SHARE`)."""
    batches = []
    start = 0
    while start < len(todo):
        size = batch_size or math.ceil((len(todo) - start) / (GUIDED_SHARE * workers))
        batches.append(todo[start : start + size])
        start += size
    return batches


def _check_arguments(
    executor: str, workers: int | None, scheduler: str | None, batch_size: int | None
) -> None:
    if executor not in EXECUTORS:
        raise SweepError(f"bad executor {executor!r} (accepted: one of {list(EXECUTORS)})")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS
    ):
        raise SweepError(f"bad workers={workers!r} (accepted: an int in 1..{MAX_WORKERS})")
    if scheduler is not None:
        if executor != "dask":
            raise SweepError(
                f"scheduler={scheduler!r} needs executor 'dask' (accepted: no scheduler with "
                f"executor {executor!r})"
            )
        if workers is not None:
            raise SweepError(
                f"workers={workers!r} with scheduler={scheduler!r}: a running cluster has its own "
                "workers (accepted: workers or scheduler, not both)"
            )
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise SweepError(
                f"bad scheduler={scheduler!r} (accepted: a scheduler address, e.g. tcp://host:8786)"
            )
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_POINTS
    ):
        raise SweepError(f"bad batch_size={batch_size!r} (accepted: an int in 1..{MAX_POINTS:,})")


def _index(sweep: Sweep, saved: Mapping[int, _Saved]) -> pd.DataFrame:
    records = []
    for position, point in enumerate(sweep.points):
        record: dict[str, Any] = {"point": point.point_id, "digest": point.digest}
        for key, value in point.values.items():
            plain = value is None or isinstance(value, int | float | str)
            record[key] = value if plain else _format_value(value)
        record.update(file=point.file, rows=saved[position].rows, sha256=saved[position].sha256)
        records.append(record)
    return pd.DataFrame(
        records, columns=["point", "digest", *sweep.grid_keys, "file", "rows", "sha256"]
    ).astype({"rows": "int64"})


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run every point of `sweep` (a `Sweep`, or a sweep file's path) not already present in
    `out`, writing ``<point>.csv`` and ``<point>.meta.json`` (`save_rows`) per point and then
    ``index.csv`` (`INDEX_FILE`: point, digest, the grid values, file, rows, and the CSV's
    sha256; one row per point in grid order).

    `executor` is ``"local"`` (`workers` processes; 1, the default, runs in this process) or
    ``"dask"`` (a new `local_cluster` of `workers` processes, default one per core, or the
    running cluster at `scheduler`, a Dask scheduler address). `batch_size` is the number of
    points per task sent to a worker (default: guided, see `GUIDED_SHARE`). `progress` shows a
    tqdm.auto bar (on stderr in a terminal) counting points. Files do not depend on the
    executor, the workers or the batch size.

    Raises `SweepError` for a bad sweep or argument, an output directory that cannot be written
    or is in use by another sweep or a recover (`LOCK_WAIT_S`), a lock file that cannot serve
    (`LockFileError`), an unreachable scheduler, or a worker that cannot see `out`
    or runs other code; every point saved before an error stays valid for the next run. With
    worker processes (dask, or `workers` > 1), before anything is written,
    `durable_sim.registry.RegistryError` for a workload or profile registered where workers
    cannot make it again (e.g. in a notebook cell; see `Registrations.of`). Any error of a run
    itself (e.g. `SpecError`) propagates likewise.
    """
    _check_arguments(executor, workers, scheduler, batch_size)
    if executor == "dask" and scheduler is None:
        _start_fork_server()  # its imports run while the sweep is read and checked
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    if executor == "dask" or (workers or 1) > 1:
        _registrations(point.spec for point in sweep.points)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"bad output directory {str(out)!r}: it is a file (accepted: a directory)")
    with ExitStack() as stack:
        client = cluster = None
        if executor == "dask" and (not out.is_dir() or _survey(out, sweep)[1]):
            if scheduler is None:
                workers = workers or os.cpu_count() or 1
                client, cluster = stack.enter_context(_starting_cluster(workers))
            else:
                # Before `out` is touched: an unreachable scheduler leaves nothing behind.
                client = _dask_client(scheduler)
                stack.callback(_close_dask, client, None)
        token = stack.enter_context(_locked(out))
        _settle_leftovers(out, sweep)
        saved, todo = _survey(out, sweep)
        if todo:
            (out / INDEX_FILE).unlink(missing_ok=True)
            for _, _, file in todo:  # stale files go first: a sidecar on disk is never stale
                (out / file).with_suffix(".meta.json").unlink(missing_ok=True)
                (out / file).unlink(missing_ok=True)
        bar = stack.enter_context(
            tqdm(
                total=len(sweep.points),
                initial=len(saved),
                unit="point",
                desc="sweep",
                disable=not progress,
            )
        )
        work = (str(out), token, sweep.code_sha256, todo)
        for done in stack.enter_context(
            closing(_batches(work, client, cluster, workers, batch_size))
        ):
            saved.update((s.position, s) for s in done.saved)
            bar.update(len(done.saved))
            if done.failure is not None:
                _raise(done.failure, sweep)
        bar.close()
        fsync_files(path for _, _, file in todo for path in (out / file, sidecar_path(out / file)))
        index = _index(sweep, saved)
        data = index.to_csv(index=False, lineterminator="\n").encode()
        index_path = out / INDEX_FILE
        if not index_path.is_file() or index_path.read_bytes() != data:
            write_bytes_atomic(index_path, data)
    return SweepResult(out, index, ran=len(todo), skipped=len(sweep.points) - len(todo))


def _settle_leftovers(out: Path, sweep: Sweep) -> None:
    """Settle the points an interrupted sweep (SIGTERM, SIGKILL) was publishing: each point
    file with hidden temporary or pending files beside it goes through `recover_pair`, which
    finishes a publish past its commit point and removes the leftovers. A point whose pair does
    not verify is left to be run again (its publish removes them). One pass over `out`."""
    files = {point.file for point in sweep.points}
    owners = set()
    for entry in out.iterdir():
        name = entry.name
        if not (name.startswith(".") and name.endswith((".tmp", ".pending"))):
            continue
        for marker in (".csv.", ".meta.json."):
            at = name.rfind(marker)
            if at > 1 and f"{name[1:at]}.csv" in files:
                owners.add(f"{name[1:at]}.csv")
    for file in sorted(owners):
        # A pair that does not verify is run again: `publish_pair` removes its leftovers first.
        with suppress(SidecarMismatchError):
            recover_pair(out / file)


def _close_dask(client: Any, cluster: LocalCluster | None) -> None:
    """Close the client, then the `cluster` this process started for it, if any; a close that
    times out (workers starved of CPU answer late) warns instead of raising, since every point
    and the index are written by then (or the sweep's own error is already on its way)."""
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    except TimeoutError as err:
        warnings.warn(
            f"the Dask cluster did not close in time ({err}); the sweep's files are unaffected",
            RuntimeWarning,
            stacklevel=2,
        )


def read_sweep(out: str | Path, *, grid_values: bool = False) -> pd.DataFrame:
    """Every row of a finished sweep in `out`, point by point in grid order, with the point's id
    as the first column ``point`` (join with ``index.csv`` for its grid values).

    With `grid_values`, each row also carries its point's grid values (``index.csv``'s) in the
    columns named by the grid keys, over the row's own label of that name: the rows of a point
    then say where in the grid they were run, even where a workload labels a setting that does
    not apply to a model with a placeholder (a durable video row's ``poll_interval_ms`` is 0).

    Raises `SweepError` if `out` has no ``index.csv`` (the sweep has not finished: rerun it to
    resume) or a point's CSV is missing or differs from the sha256 the index records for it.
    """
    out = Path(out)
    try:
        index = pd.read_csv(out / INDEX_FILE)
    except OSError:
        raise SweepError(
            f"no {INDEX_FILE} in {str(out)!r}: the sweep has not finished "
            "(accepted: the output directory of a finished sweep; rerun the sweep to resume)"
        ) from None
    frames = []
    for point, file, sha256 in zip(index["point"], index["file"], index["sha256"], strict=True):
        try:
            data = (out / file).read_bytes()
        except OSError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != sha256:
            raise SweepError(
                f"sweep {str(out)!r}: point {point!r} has {'no' if data is None else 'another'} "
                f"CSV than the index records (accepted: a finished sweep; rerun it to repair)"
            )
        frame = pd.read_csv(io.BytesIO(data))
        frame.insert(0, "point", point)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    if grid_values:
        keys = [c for c in index.columns if c not in ("point", "digest", "file", "rows", "sha256")]
        values = index.set_index("point")[keys]
        for key in keys:
            rows[key] = rows["point"].map(values[key])
    return rows


@dataclass(frozen=True)
class SweepRows:
    """A sweep's rows in memory: every point's rows in grid order with the point's id and grid
    values (`read_sweep` with ``grid_values``), the points' specs in the same order (what
    `durable_sim.experiments.save_rows` records), and the sweep's index."""

    rows: pd.DataFrame
    specs: list[ExperimentSpec]
    index: pd.DataFrame


def collect_sweep(
    sweep: Sweep | str | Path,
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
) -> SweepRows:
    """Run every point of `sweep` (`run_sweep`, no progress bar) in a temporary directory and
    return its rows, nothing left on disk: for a caller that saves the rows where it keeps its
    own outputs (a notebook). The rows are those `run_sweep` writes, whatever the executor.
    Raises what `run_sweep` raises."""
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    with tempfile.TemporaryDirectory(prefix="durable-sim-sweep-") as tmp:
        result = run_sweep(
            sweep,
            tmp,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            progress=False,
        )
        rows = read_sweep(tmp, grid_values=True)
    return SweepRows(rows, [point.spec for point in sweep.points], result.index)
