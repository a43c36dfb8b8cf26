"""PostgreSQL connection strings (recognise, validate and redact them with libpq's own parser),
the deadlines a connection keeps and the `Interrupt` that cuts its waits short
(`durable_sim.pgconn` applies them).

Shared by the baseline's Postgres store and the durable engine's Postgres journal, so a DSN
means the same thing, and is refused with the same message, wherever it is given.

A DSN's secrets (`SECRET_KEYWORDS`: a password, a key's passphrase...) are written down nowhere:
whatever names a connection string (an error message, a provenance sidecar, a sweep's file names
and index, a notebook's output) shows it through `redact`, and a message quoting an error met on
one (libpq's words, the server's) goes through `scrub`.
"""

from __future__ import annotations

import math
import re
import threading
import time

from durable_sim.durations import Seconds

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
#: The accepted deadlines (`durable_sim.durations.Seconds`).
TIMEOUT = Seconds(MIN_TIMEOUT_S, MAX_TIMEOUT_S)
#: The accepted deadlines, as error messages and the command line's help state them.
TIMEOUT_RANGE = TIMEOUT.describe()

# psycopg (~0.1 s of CPU to import) is imported by the functions that parse a DSN, not with this
# module: a process that never meets a database (a sweep's worker) does not load it.


def is_postgres_dsn(text: str) -> bool:
    """Whether `text` is meant as a Postgres DSN: a ``postgresql://`` (or ``postgres://``) URL,
    or a libpq ``key=value`` connection string; anything else is taken for a file path."""
    return bool(_URL.match(text) or _KEYWORD.match(text))


#: libpq's connection parameters whose values are secrets: those libpq itself marks as password
#: fields (``PQconndefaults``' ``dispchar`` "*": ``password``, ``sslpassword``, the key file's
#: passphrase, and ``oauth_client_secret``, libpq 18), and the SCRAM keys a middleware may pass
#: on in place of a password (``scram_client_key``, ``scram_server_key``; libpq 18 marks them as
#: debug options). The other parameters name things (hosts, users, files such as ``passfile``
#: or ``sslkey``) but hold no secret themselves (PostgreSQL documentation, "Parameter Key Words").
SECRET_KEYWORDS = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)
#: What a secret is replaced with wherever a connection string is written down.
MASK = "***"

#: A URL's password: after the user's ':' up to the last '@' before the path ('/'), as libpq
#: reads a URL's user info (a password holding '@' or '/' must be percent-encoded); in text
#: libpq refuses, up to the last '@' of the URL's first word.
_URL_PASSWORD = {
    True: re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:(?P<secret>[^/\s]*)@"),
    False: re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:(?P<secret>\S*)@"),
}
#: A parameter's keyword (percent-encoded in a URL's query), then '=' (or only spaces, as in a
#: connection string libpq refuses), up to where its value starts.
_KEY = re.compile(r"(?<![\w%])(?P<key>[\w%]+)(?:\s*=\s*|\s+)(?=\S)")
#: A value: quoted, to its closing quote (a backslash escapes) or the end; else to a space.
_VALUE = re.compile(r"'(?:[^'\\]|\\.)*(?:'|\\?$)|\S+")


def _secret_spans(text: str, *, parses: bool) -> list[tuple[int, int]]:
    """Where secrets may stand in `text`: a URL's password, and the value of each
    `SECRET_KEYWORDS` keyword (case and percent-encoding ignored, '=' optional). In text libpq
    `parses`, a value that is not quoted ends at a space, as libpq reads it; in text it refuses,
    where a password may hold spaces, at the end of the text."""
    from urllib.parse import unquote

    urls = _URL_PASSWORD[parses].finditer(text)
    spans = [m.span("secret") for m in urls if m.group("secret")]
    for key in _KEY.finditer(text):
        value = _VALUE.match(text, key.end())
        if value is not None and unquote(key.group("key")).lower() in SECRET_KEYWORDS:
            quoted = value.group(0).startswith("'")
            spans.append((value.start(), value.end() if parses or quoted else len(text)))
    return sorted(spans)


def _masked(text: str, *, parses: bool) -> str:
    """`text` with every span of `_secret_spans` replaced by `MASK` (overlaps merged)."""
    out, at = [], 0
    for start, end in _secret_spans(text, parses=parses):
        if end <= at:
            continue
        out.append(text[at : max(start, at)] + MASK)
        at = end
    return "".join(out) + text[at:]


def _parsed(text: str) -> dict[str, str] | None:
    """libpq's parameters of the connection string `text`; None if it is none libpq parses."""
    if not is_postgres_dsn(text):
        return None
    import psycopg
    from psycopg import conninfo

    try:
        return {key: str(value) for key, value in conninfo.conninfo_to_dict(text).items()}
    except psycopg.ProgrammingError:
        return None


def redact(text: str) -> str:
    """`text`, given where a connection string may stand (a spec's ``database``, a journal's
    DSN), with the value of every secret libpq takes (`SECRET_KEYWORDS`) replaced by `MASK`:
    what messages, provenance sidecars, file names and indexes write down.

    A connection string libpq parses comes back in libpq's keyword form, keywords in libpq's
    order (``user=u password=*** dbname=d host=h``), whether it was given as a URL or as
    keywords, so that one server with one set of parameters redacts to one text whatever its
    secrets; redacting that text again returns it unchanged. Other text (``memory``, a mistyped
    DSN) keeps its form, with what stands where a secret could masked (`_secret_spans`).
    """
    params = _parsed(text)
    if params is None:
        return _masked(text, parses=False)
    from psycopg import conninfo

    shown = {key: MASK if key in SECRET_KEYWORDS else value for key, value in params.items()}
    return conninfo.make_conninfo("", **shown)


def secrets(dsn: str) -> list[str]:
    """The secret values in `dsn`, as libpq reads them and as they are written in it (a URL's
    percent-encoded password, say), longest first, none empty: what `scrub` removes."""
    params = _parsed(dsn)
    found = {dsn[start:end] for start, end in _secret_spans(dsn, parses=params is not None)}
    found |= {value for key, value in (params or {}).items() if key in SECRET_KEYWORDS}
    found -= {"", MASK}
    return sorted(found, key=lambda value: (-len(value), value))


def scrub(text: str, dsn: str) -> str:
    """A message `text` about `dsn` (libpq's or the server's words, an error of ours) with `dsn`
    itself replaced by its `redact` form and each of its `secrets` by `MASK`: every message
    that quotes an error met on a connection string goes through this."""
    if dsn:
        text = text.replace(dsn, redact(dsn))
    for secret in secrets(dsn):
        text = text.replace(secret, MASK)
    return text


def _libpq_reason(message: str, dsn: str) -> str:
    """libpq's reason for refusing `dsn`, safe to show: it quotes pieces of its input (``missing
    "=" after "..."``, ``invalid percent-encoded token: "..."``, the whole URL), so a quoted
    piece is kept only if it is one of libpq's keywords, a keyword `dsn` gives a value to
    (``invalid connection option "passwrd"``) or punctuation, and masked otherwise."""
    from psycopg import pq

    keywords = {m.group("key") for m in _KEY.finditer(_masked(dsn, parses=False)) if "=" in m[0]}
    keywords |= {option.keyword.decode() for option in pq.Conninfo.get_defaults()}

    def shown(match: re.Match[str]) -> str:
        piece = match.group(1)
        return match.group(0) if piece in keywords or piece in ("=", "]") else f'"{MASK}"'

    return scrub(re.sub(r'"([^"]*)"', shown, " ".join(message.split())), dsn)


def check_dsn(dsn: object) -> str:
    """Validate a libpq connection string or URL (syntax only; nothing is contacted).

    Raises:
        ValueError: not a string, or libpq cannot parse it; the message shows the value with
            its secrets masked (`redact`).
    """
    if not isinstance(dsn, str):
        raise ValueError(f"bad Postgres DSN {redact(repr(dsn))} ({ACCEPTED})")
    import psycopg
    from psycopg import conninfo

    try:
        conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        reason = _libpq_reason(str(exc), dsn)
        raise ValueError(f"bad Postgres DSN {redact(dsn)!r}: {reason} ({ACCEPTED})") from None
    return dsn


def check_timeout(name: str, value: object) -> float:
    """`value` as a float if it is a real number of seconds (numpy's included) from
    `MIN_TIMEOUT_S` (1) to `MAX_TIMEOUT_S` (2**31 - 1; see there why); ValueError naming
    `name`, the value (abbreviated if huge) and the accepted range otherwise (NaN, infinities
    and booleans included): `durable_sim.durations.Seconds.check` with `TIMEOUT`."""
    return TIMEOUT.check(name, value)


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
