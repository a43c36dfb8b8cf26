"""What the durable journal and the baseline's store, both on SQLite, share: which SQLite errors
mean that a resource is lacking (a lock, memory, disk space, I/O) rather than that a file is bad
or a statement wrong (they report the first kind as storage that is unavailable for now, never as
corruption), and the busy timeouts SQLite can keep.
"""

from __future__ import annotations

import sqlite3

from durable_sim.durations import Seconds

#: Longest busy timeout (s): SQLite keeps it in milliseconds in a C int (``sqlite3_busy_timeout``),
#: and Python's `sqlite3.connect` silently waits not at all for a longer one.
MAX_BUSY_TIMEOUT_S = 2_147_483
#: The busy timeouts (how long a write waits for another connection's lock) a caller may give.
BUSY_TIMEOUT = Seconds(0.0, MAX_BUSY_TIMEOUT_S)

#: SQLite's primary result codes for a resource it lacks, not for a bad file (SQLite's "Result
#: and Error Codes"): BUSY, LOCKED, NOMEM, INTERRUPT, IOERR, FULL, PROTOCOL.
RESOURCE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
    }
)


def lacks_resource(exc: sqlite3.Error) -> bool:
    """Whether `exc` says SQLite lacks a resource (`RESOURCE_CODES`, by its primary result code;
    an error raised without a code, by SQLite's words for one: "locked", "busy", "disk I/O")."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
    text = str(exc)
    return code in RESOURCE_CODES or (
        isinstance(exc, sqlite3.OperationalError)
        and ("locked" in text or "busy" in text or "disk I/O" in text)
    )
