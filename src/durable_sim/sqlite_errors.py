"""Which SQLite errors mean that a resource is lacking (a lock, memory, disk space, I/O) rather
than that a file is bad or a statement wrong: the durable journal and the baseline's store
report the first kind as storage that is unavailable for now, never as corruption.
"""

from __future__ import annotations

import sqlite3

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
