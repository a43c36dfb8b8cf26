"""A throwaway PostgreSQL cluster: a data directory in a temporary directory, one postmaster on a
free loopback port, a DSN, and teardown that removes everything.

For tests, benchmarks and chaos tests of the Postgres store (and, later, journal)::

    with PostgresCluster() as pg:          # initdb + start; stop and delete on exit
        store = open_store(pg.dsn, ...)
        pg.restart(mode="fast")            # clients are disconnected; data survives
        pg.kill()                          # SIGKILL the postmaster (a crash) ...
        pg.start()                         # ... and start again: crash recovery, same port

The server binaries (``initdb`` and ``postgres``) are looked up, in order, in
``$DURABLE_SIM_PG_BINDIR``, ``pg_config --bindir``, ``/usr/lib/postgresql/<version>/bin`` (highest
version first) and ``PATH``; missing everywhere, `PostgresNotFound` says what to install
(Debian: ``apt install postgresql-15``).

PostgreSQL refuses to run as root. When this process is root, the cluster's files belong to, and
its programs run as, an unprivileged user: ``$DURABLE_SIM_PG_USER``, else ``postgres`` (created by
Debian's server package), else ``nobody``. The temporary directory must then be reachable by that
user (``/tmp`` is); otherwise `ClusterError` says so. As any other user the cluster runs as that
user.

The postmaster is this process's child (not daemonised by ``pg_ctl``), so a stop, a kill and the
reaping of the process are all direct. The cluster is removed when its object is closed, or at
the latest when the interpreter exits. A process that dies without either (SIGKILL, e.g. a test
runner's timeout) leaves no cluster behind either: each cluster has a reaper, a small process
of its own session that waits for the end of a pipe only its owner holds open; when the owner
is gone (or has closed the cluster) it stops a postmaster still serving the cluster's data
directory (immediate shutdown, then SIGKILL after `REAPER_GRACE_S`) and removes the directory.

Authentication is ``trust`` for connections over loopback and the cluster's own socket directory:
the cluster holds test data only and lives as long as the object. Shutdown modes and their signals
are PostgreSQL's own (documentation, "Shutting Down the Server": smart = SIGTERM, fast = SIGINT,
immediate = SIGQUIT); readiness is the ``ready`` status the postmaster writes on line 8 of
``postmaster.pid``, which is what ``pg_ctl start -w`` waits for.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from durable_sim.durations import Seconds
from durable_sim.errors import DurableSimError

BINDIR_ENV = "DURABLE_SIM_PG_BINDIR"
USER_ENV = "DURABLE_SIM_PG_USER"
INSTALL_HINT = "apt install postgresql-15"
SUPERUSER = "postgres"
HOST = "127.0.0.1"

ShutdownMode = Literal["smart", "fast", "immediate"]
_SHUTDOWN_SIGNALS: dict[str, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}
_SERVER_PROGRAMS = ("initdb", "postgres")
_PORT_ATTEMPTS = 5
#: How long the reaper lets an orphaned postmaster take over an immediate shutdown before it
#: kills it, seconds.
REAPER_GRACE_S = 10.0
#: The reaper (module docstring), run as ``python -I -S -c _REAPER ROOT GRACE_S``: only the
#: standard library, so it starts in milliseconds. It acts only on a pid whose command line is a
#: ``postgres -D ROOT/data``: after a kill, ``postmaster.pid`` may name a pid reused since.
_REAPER = """
import os, shutil, signal, sys, time
root, grace = sys.argv[1], float(sys.argv[2])
data = os.path.join(root, "data")
sys.stdin.buffer.read()
def serves(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\\0")
    except OSError:
        return False
    return b"-D" in args and os.fsencode(data) in args
try:
    with open(os.path.join(data, "postmaster.pid")) as f:
        pid = int(f.readline())
except (OSError, ValueError):
    pid = 0
if pid > 0 and serves(pid):
    try:
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + grace
        while serves(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if serves(pid):
            os.kill(pid, signal.SIGKILL)
        while serves(pid):
            time.sleep(0.05)
    except ProcessLookupError:
        pass
shutil.rmtree(root, ignore_errors=True)
"""


class PostgresNotFound(DurableSimError, RuntimeError):
    """The PostgreSQL server programs (``initdb``, ``postgres``) are not installed or not found."""


class ClusterError(DurableSimError, RuntimeError):
    """The cluster could not be created, started or stopped; the message quotes its log."""


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _SERVER_PROGRAMS)


def _version_key(path: Path) -> tuple[int, ...]:
    digits = re.findall(r"\d+", path.parent.name)
    return tuple(int(d) for d in digits)


def find_bindir(
    environ: Mapping[str, str] | None = None, *, lib_dir: Path = Path("/usr/lib/postgresql")
) -> Path:
    """The directory holding PostgreSQL's ``initdb`` and ``postgres``.

    Looked up in `BINDIR_ENV` (if set, it must hold both programs), ``pg_config --bindir``,
    ``<lib_dir>/*/bin`` (where Debian installs each server version; highest version first), then
    ``PATH``. `environ` defaults to this process's environment.

    Raises:
        PostgresNotFound: nowhere; the message names the places tried and what to install.
    """
    env = os.environ if environ is None else environ
    override = env.get(BINDIR_ENV)
    if override:
        if _has_server(Path(override)):
            return Path(override)
        raise PostgresNotFound(
            f"{BINDIR_ENV}={override!r} holds no executable initdb and postgres (accepted: a "
            f"PostgreSQL server bin directory, e.g. /usr/lib/postgresql/15/bin; to install one: "
            f"`{INSTALL_HINT}`)"
        )
    candidates: list[Path] = []
    search_path = env.get("PATH", os.defpath)
    pg_config = shutil.which("pg_config", path=search_path)
    if pg_config is not None:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            candidates.append(Path(done.stdout.strip()))
    candidates += sorted(lib_dir.glob("*/bin"), key=_version_key, reverse=True)
    postgres = shutil.which("postgres", path=search_path)
    if postgres is not None:
        candidates.append(Path(postgres).parent)
    for bindir in candidates:
        if _has_server(bindir):
            return bindir
    tried = ", ".join(str(c) for c in candidates) or "none found"
    raise PostgresNotFound(
        f"PostgreSQL server programs (initdb, postgres) not found (searched ${BINDIR_ENV}, "
        f"pg_config --bindir, {lib_dir}/*/bin, PATH; candidates: {tried}): "
        f"install them with `{INSTALL_HINT}` or set {BINDIR_ENV} to their directory"
    )


def server_account(environ: Mapping[str, str] | None = None) -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as, or None to run as this process's user.

    None unless this process is root. As root: `USER_ENV` if set, else ``postgres``, else
    ``nobody``.

    Raises:
        ClusterError: the named account does not exist or is root itself.
    """
    if os.geteuid() != 0:
        return None
    env = os.environ if environ is None else environ
    chosen = env.get(USER_ENV)
    for name in [chosen] if chosen else ["postgres", "nobody"]:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            if chosen:
                raise ClusterError(
                    f"{USER_ENV}={chosen!r}: no such user (accepted: an existing unprivileged "
                    "user to run PostgreSQL as, since PostgreSQL refuses to run as root)"
                ) from None
            continue
        if account.pw_uid == 0:
            raise ClusterError(
                f"{USER_ENV}={name!r} is root (accepted: an unprivileged user; PostgreSQL "
                "refuses to run as root)"
            )
        return account
    raise ClusterError(
        "running as root and neither user 'postgres' nor 'nobody' exists: set "
        f"{USER_ENV} to an unprivileged user to run PostgreSQL as"
    )


def _unreachable_ancestor(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first directory on the way to `path` that `account` may not enter, if any."""
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if st.st_uid == account.pw_uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _is_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie has exited: it holds no memory or shared segment)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (the postmaster's backends and auxiliary processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class _Identity:
    """User, group and supplementary groups for `subprocess` (None: leave as they are)."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


@dataclass
class _State:
    """What teardown needs; kept apart from the cluster object so a finalizer can hold it."""

    root: Path
    owner: int  #: the pid of the process that made the cluster (a forked child is not it)
    server: subprocess.Popen[bytes] | None = None
    reaper: subprocess.Popen[bytes] | None = None


def _start_reaper(root: Path) -> subprocess.Popen[bytes]:
    """The cluster's reaper (module docstring); its stdin is the pipe this process holds. A
    child forked later closes its copy at once, so only this process keeps the reaper waiting."""
    reaper = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _REAPER, str(root), str(REAPER_GRACE_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives a signal to this process's group
    )
    pipe = weakref.ref(reaper)
    os.register_at_fork(after_in_child=lambda: _close_in_child(pipe()))
    return reaper


def _close_in_child(reaper: subprocess.Popen[bytes] | None) -> None:
    """Let go of the pipe's write end in a forked child: its descriptor is pointed at the null
    device instead (closing it would free the number for another file that the child's copy of
    the pipe object might close later)."""
    if reaper is not None and reaper.stdin is not None and not reaper.stdin.closed:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, reaper.stdin.fileno())
        finally:
            os.close(null)


def _teardown(state: _State, timeout_s: float) -> None:
    if os.getpid() != state.owner:  # a forked child's exit: the cluster is its parent's
        return
    server = state.server
    if server is not None and server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout_s)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    state.server = None
    shutil.rmtree(state.root, ignore_errors=True)
    reaper, state.reaper = state.reaper, None
    if reaper is not None:  # nothing is left for it to do: let it end
        assert reaper.stdin is not None
        reaper.stdin.close()
        reaper.wait()


class PostgresCluster:
    """A PostgreSQL cluster of its own in a temporary directory, on a free loopback port.

    Construction runs ``initdb`` (superuser `SUPERUSER`, UTF-8, locale C, trust authentication)
    and starts the server; `close` (or leaving the ``with`` block, or interpreter exit) stops it
    and deletes the directory. The port stays the same across `restart`, `stop`/`start` and
    `kill`/`start`, so a DSN taken once stays valid.

    Args:
        fsync: PostgreSQL's ``fsync`` setting. True (the server default) for measurements;
            False only where no test simulates an operating-system crash (a killed postmaster
            loses nothing the kernel already has), which spares every commit a disk flush.
        base_dir: where the temporary directory goes (default: the system temporary directory).
        bindir: the server programs' directory (default: `find_bindir`).
        timeout_s: how long a start or a stop may take, seconds (> 0).

    Raises:
        PostgresNotFound: no server programs (the message says what to install).
        ClusterError: initdb or the first start failed (the message quotes the log), or the
            account the server runs as cannot reach `base_dir`.
        ValueError: `timeout_s` is not a finite number of seconds > 0.
    """

    def __init__(
        self,
        *,
        fsync: bool = True,
        base_dir: str | Path | None = None,
        bindir: str | Path | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        timeout_s = Seconds(0.0, low_open=True).check("timeout_s", timeout_s)
        self.bindir = Path(bindir) if bindir is not None else find_bindir()
        if not _has_server(self.bindir):
            raise PostgresNotFound(
                f"no executable initdb and postgres in {str(self.bindir)!r}: "
                f"install them with `{INSTALL_HINT}`"
            )
        self.account = server_account()
        self.fsync = fsync
        self.timeout_s = float(timeout_s)
        root = Path(tempfile.mkdtemp(prefix="durable-sim-pg-", dir=base_dir))
        self._state = _State(root=root, owner=os.getpid())
        self._finalizer = weakref.finalize(self, _teardown, self._state, self.timeout_s)
        try:
            self._state.reaper = _start_reaper(root)
        except BaseException:
            self.close()
            raise
        try:
            self._init_directory()
            self.port = _free_port()
            self._start_on_free_port()
        except BaseException:
            self.close()
            raise

    # -- layout --------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The temporary directory holding everything (removed by `close`)."""
        return self._state.root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory of the server's Unix-domain socket."""
        return self.root / "socket"

    @property
    def log_path(self) -> Path:
        """The server's log (its standard error, appended across starts)."""
        return self.root / "postgres.log"

    @property
    def dsn(self) -> str:
        """A libpq URL for the ``postgres`` database as the superuser, over TCP loopback."""
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str) -> str:
        """A libpq URL for database `dbname` on this cluster (the database must exist)."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", dbname):
            raise ValueError(
                f"bad database name {dbname!r} (accepted: an SQL identifier, letters, digits "
                "and _, at most 63 characters)"
            )
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs, else None."""
        server = self._state.server
        return server.pid if server is not None and server.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def log_tail(self, lines: int = 20) -> str:
        """The last `lines` lines of the server log (empty if there is none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -----------------------------------------------------------------------------

    def _run_as(self) -> _Identity:
        """Who runs the server's programs: the server account as root, else this user."""
        if self.account is None:
            return _Identity()
        return _Identity(self.account.pw_uid, self.account.pw_gid, [])

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C", "TZ": "UTC"}

    def _init_directory(self) -> None:
        self.socket_dir.mkdir()
        if self.account is not None:
            blocked = _unreachable_ancestor(self.root.parent, self.account)
            if blocked is not None:
                raise ClusterError(
                    f"user {self.account.pw_name!r}, which PostgreSQL runs as because this "
                    f"process is root, cannot enter {str(blocked)!r}: pass base_dir (or set "
                    "TMPDIR) to a directory every user can reach, such as /tmp"
                )
            for path in (self.root, self.socket_dir):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        identity = self._run_as()
        done = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",  # a throwaway cluster: its initial files need no flush
            ],
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=self.root,
            timeout=self.timeout_s * 4,
            check=False,
            user=identity.user,
            group=identity.group,
            extra_groups=identity.extra_groups,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise ClusterError(f"initdb failed (exit {done.returncode}):\n{tail}")

    def _start_on_free_port(self) -> None:
        """Start on `self.port`; if another process took that port meanwhile, pick another."""
        for attempt in range(_PORT_ATTEMPTS):
            try:
                self.start()
                return
            except ClusterError as exc:
                if "Address already in use" not in str(exc) or attempt == _PORT_ATTEMPTS - 1:
                    raise
                self.port = _free_port()

    def start(self) -> None:
        """Start the postmaster (after `stop` or `kill`) and wait until it accepts connections.

        After a kill this includes crash recovery. The port is the one the cluster was created
        with.

        Raises:
            ClusterError: it is already running, or it exited or was not ready within
                ``timeout_s`` (the message quotes the log).
        """
        if self.running:
            raise ClusterError(f"the cluster on port {self.port} is already running")
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "on" if self.fsync else "off",
        }
        command = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        identity = self._run_as()
        with self.log_path.open("ab") as log:
            server = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.root,
                start_new_session=True,  # a terminal's Ctrl-C is not a shutdown request
                user=identity.user,
                group=identity.group,
                extra_groups=identity.extra_groups,
            )
        self._state.server = server
        self._wait_ready(server)

    def _wait_ready(self, server: subprocess.Popen[bytes]) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + self.timeout_s
        while True:
            if server.poll() is not None:
                self._state.server = None
                raise ClusterError(
                    f"postgres exited with code {server.returncode} while starting on port "
                    f"{self.port}; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            # Line 1 is the postmaster's pid (an old file may survive a kill); line 8 its status.
            if len(lines) >= 8 and lines[0] == str(server.pid) and lines[7].strip() == "ready":
                return
            if time.monotonic() > deadline:
                server.kill()
                server.wait()
                self._state.server = None
                raise ClusterError(
                    f"postgres was not ready within {self.timeout_s:g} s on port {self.port}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self, mode: ShutdownMode = "fast") -> None:
        """Shut the server down and wait for the postmaster to exit.

        ``smart`` waits for clients to disconnect; ``fast`` (the usual test choice) rolls back
        open transactions and disconnects clients; ``immediate`` exits without a checkpoint, so
        the next `start` runs crash recovery.

        Raises:
            ValueError: `mode` is not one of those three.
            ClusterError: the server is not running, or did not exit within ``timeout_s``.
        """
        if mode not in _SHUTDOWN_SIGNALS:
            raise ValueError(
                f"bad shutdown mode {mode!r} (accepted: {', '.join(map(repr, _SHUTDOWN_SIGNALS))})"
            )
        server = self._running_server()
        server.send_signal(_SHUTDOWN_SIGNALS[mode])
        try:
            server.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"postgres did not finish a {mode} shutdown within {self.timeout_s:g} s; "
                f"log {self.log_path}:\n{self.log_tail()}"
            ) from None
        self._state.server = None

    def restart(self, mode: ShutdownMode = "fast") -> None:
        """`stop` with `mode`, then `start`."""
        self.stop(mode)
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would, and wait until none of its processes is left.

        The backends it leaves behind notice their parent's death and exit by themselves; this
        waits for that, because PostgreSQL will not start while an old process still holds the
        cluster's shared memory. Call `start` afterwards to recover.

        Raises:
            ClusterError: the server is not running, or its processes outlived ``timeout_s``.
        """
        server = self._running_server()
        children = _children(server.pid)
        server.kill()
        server.wait()
        self._state.server = None
        deadline = time.monotonic() + self.timeout_s
        while not all(_is_gone(pid) for pid in children):
            if time.monotonic() > deadline:
                left = [pid for pid in children if not _is_gone(pid)]
                raise ClusterError(
                    f"server processes {left} outlived their killed postmaster by "
                    f"{self.timeout_s:g} s"
                )
            time.sleep(0.02)

    def _running_server(self) -> subprocess.Popen[bytes]:
        server = self._state.server
        if server is None or server.poll() is not None:
            raise ClusterError(f"the cluster on port {self.port} is not running")
        return server

    def close(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster's directory. Idempotent."""
        self._finalizer()

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
