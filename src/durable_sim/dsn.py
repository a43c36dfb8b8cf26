"""PostgreSQL connection strings (recognise, validate and redact them with libpq's own parser)
and the deadlines a connection keeps (`durable_sim.pgconn` applies them).

Shared by the baseline's Postgres store and the durable engine's Postgres journal, so a DSN
means the same thing, and is refused with the same message, wherever it is given.
"""

from __future__ import annotations

import math
import re

_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)
_KEYWORD = re.compile(r"^\s*[a-z_]+\s*=", re.IGNORECASE)
ACCEPTED = "accepted: a libpq connection string or postgresql:// URL"

#: Default longest wait (s) for the server's answer to one query, commit or rollback. The queries
#: of the journal and the store wait at most for a row lock another transaction holds for one of
#: its own statements (milliseconds), so a healthy server answers far sooner; 10 s is also the
#: connect timeout these modules used before and psql's examples use (PostgreSQL documentation,
#: "Parameter Key Words": connect_timeout).
DEFAULT_QUERY_TIMEOUT_S = 10.0
#: Default longest wait (s) to connect (libpq's ``connect_timeout``).
DEFAULT_CONNECT_TIMEOUT_S = 10.0

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
    """`value` as a float if it is a finite number of seconds > 0; ValueError naming `name`, the
    value and the accepted range otherwise (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"bad {name}={value!r} (accepted: a finite number of seconds > 0)")
    return float(value)
