"""PostgreSQL connection strings (recognise, validate and redact them with libpq's own parser),
the deadlines a connection keeps and the `Interrupt` that cuts its waits short
(`durable_sim.pgconn` applies them).

Shared by the baseline's Postgres store and the durable engine's Postgres journal, so a DSN
means the same thing, and is refused with the same message, wherever it is given.
"""

from __future__ import annotations

import math
import re
import threading
import time

_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)
_KEYWORD = re.compile(r"^\s*[a-z_]+\s*=", re.IGNORECASE)
ACCEPTED = "accepted: a libpq connection string or postgresql:// URL"

#: Default longest wait (s) for the server's answer to one query, commit or rollback. The queries
#: of the journal and the store wait at most for a row lock another transaction holds for one of
#: its own statements (milliseconds), so a healthy server answers far sooner; 10 s is also the
#: connect timeout these modules used before and psql's examples use (PostgreSQL documentation,
#: "Parameter Key Words": connect_timeout).
DEFAULT_QUERY_TIMEOUT_S = 10.0
#: Default longest wait (s) to connect.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: Shortest deadline (s) a wait for the server may have. A deadline is checked each time the
#: server has been silent for psycopg's poll interval (0.1 s), so it is kept to within 0.1 s:
#: 10% at 1 s, and the check's own step below that. 1 s is also libpq's unit for a connection
#: handshake's deadline (``connect_timeout`` counts whole seconds; `durable_sim.pgconn` passes
#: it the deadline rounded up, as a backstop), and a handshake takes several round trips (TCP,
#: TLS, SCRAM authentication), each up to ~0.1-0.3 s between regions.
MIN_TIMEOUT_S = 1.0
#: Longest deadline (s): what libpq's ``connect_timeout``, a C int of seconds, can hold.
MAX_TIMEOUT_S = float(2**31 - 1)
#: The accepted deadlines, as error messages and the command line's help state them.
TIMEOUT_RANGE = f"a number of seconds from {MIN_TIMEOUT_S:g} to {MAX_TIMEOUT_S:.0f}"

# psycopg (~0.1 s of CPU to import) is imported by the functions that parse a DSN, not with this
# module: a process that never meets a database (a sweep's worker) does not load it.


def is_postgres_dsn(text: str) -> bool:
    """Whether `text` is meant as a Postgres DSN: a ``postgresql://`` (or ``postgres://``) URL,
    or a libpq ``key=value`` connection string; anything else is taken for a file path."""
    return bool(_URL.match(text) or _KEYWORD.match(text))


def redact(dsn: str) -> str:
    """`dsn` with any password replaced by ``***``, for error messages."""
    import psycopg
    from psycopg import conninfo

    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    if "password" in params:
        params["password"] = "***"
    return conninfo.make_conninfo("", **params)


#: Where a password can stand in a DSN libpq could not parse: a URI's user info
#: (``scheme://user:PASSWORD@``) or a ``password=`` keyword.
_PASSWORD_IN_TEXT = re.compile(
    r"://[^/@]*?:(?P<uri>[^@]*)@|password\s*=\s*(?P<kw>'(?:[^'\\]|\\.)*'|\S+)"
)


def _without_secrets(text: str, dsn: str) -> str:
    """libpq's parse error `text` with `dsn` and any password in it replaced."""
    text = text.replace(dsn, "<the DSN>")
    for match in _PASSWORD_IN_TEXT.finditer(dsn):
        secret = match.group("uri") or match.group("kw")
        if secret:
            text = text.replace(secret, "***")
    return text


def check_dsn(dsn: object) -> str:
    """Validate a libpq connection string or URL (syntax only; nothing is contacted).

    Raises:
        ValueError: not a string, or libpq cannot parse it.
    """
    if not isinstance(dsn, str):
        raise ValueError(f"bad Postgres DSN {dsn!r} ({ACCEPTED})")
    import psycopg
    from psycopg import conninfo

    try:
        conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = _without_secrets(str(exc).strip(), dsn)
        message = f"bad Postgres DSN {redact(dsn)!r}: {reason} ({ACCEPTED})"
        raise ValueError(message) from None
    return dsn


def check_timeout(name: str, value: object) -> float:
    """`value` as a float if it is a number of seconds from `MIN_TIMEOUT_S` (1) to
    `MAX_TIMEOUT_S` (2**31 - 1; see there why); ValueError naming `name`, the value and the
    accepted range otherwise (NaN, infinities and booleans included)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_TIMEOUT_S <= value <= MAX_TIMEOUT_S
    ):
        raise ValueError(f"bad {name}={value!r} (accepted: {TIMEOUT_RANGE})")
    return float(value)


class Interrupt:
    """What cuts a caller's waits for the server short, whatever their own deadline: its
    `stop` event once set (the caller stopping: a worker's SIGTERM), or its `deadline` once
    passed (a `time.monotonic` value the caller sets and moves, or None: a worker's
    ``--idle-exit-s`` while it has no work). `durable_sim.pgconn` checks it each time the
    server has been silent for psycopg's poll interval (0.1 s), so a reply that is arriving is
    never cut off by it."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = threading.Event() if stop is None else stop
        self.deadline: float | None = None

    def is_set(self) -> bool:
        """Whether waits must end now."""
        return self.stop.is_set() or (
            self.deadline is not None and time.monotonic() >= self.deadline
        )

    def seconds_left(self) -> float:
        """Seconds until waits must end (0 once they must; infinity without a deadline)."""
        if self.stop.is_set():
            return 0.0
        if self.deadline is None:
            return math.inf
        return max(0.0, self.deadline - time.monotonic())

    def reason(self) -> str:
        """Why waits end now, in a few words."""
        return "stopping" if self.stop.is_set() else "its caller's deadline passed"
