"""PostgreSQL connection strings: which strings are DSNs, redaction, validation."""

from __future__ import annotations

import threading
import time

import pytest

from durable_sim.dsn import (
    ACCEPTED,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    Interrupt,
    check_dsn,
    check_timeout,
    is_postgres_dsn,
    redact,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u@localhost/db", True),
        ("postgres://localhost", True),
        ("POSTGRESQL://h/d", True),
        ("host=/tmp dbname=x", True),
        ("  port = 5432", True),
        ("journal.sqlite", False),
        ("runs/host=a.sqlite", False),  # a path that merely contains '='
        ("memory", False),
        ("", False),
    ],
)
def test_what_counts_as_a_dsn(text: str, expected: bool) -> None:
    assert is_postgres_dsn(text) is expected


@pytest.mark.parametrize(
    "dsn", ["postgresql://alice:s3cret@db.example/runs", "host=db user=alice password=s3cret"]
)
def test_a_password_never_reaches_a_message(dsn: str) -> None:
    shown = redact(dsn)
    assert "s3cret" not in shown and "***" in shown and "alice" in shown


def test_an_unparsable_dsn_is_redacted_whole() -> None:
    assert redact("host=a password='s3cret") == "<unparsable DSN>"


def test_a_good_dsn_is_returned_as_given() -> None:
    assert check_dsn("postgresql://localhost:5433/db") == "postgresql://localhost:5433/db"


@pytest.mark.parametrize("dsn", [None, 5432, b"host=a"])
def test_a_dsn_that_is_not_a_string_is_named(dsn: object) -> None:
    with pytest.raises(ValueError, match=f"bad Postgres DSN {dsn!r}") as info:
        check_dsn(dsn)
    assert ACCEPTED in str(info.value)


def test_a_dsn_libpq_cannot_parse_is_named_without_its_password() -> None:
    with pytest.raises(ValueError, match="bad Postgres DSN '<unparsable DSN>'") as info:
        check_dsn("host=a password='s3cret")
    assert "s3cret" not in str(info.value) and ACCEPTED in str(info.value)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:s3cret@[::1/db",  # libpq quotes the whole URI in its message
        "postgresql://u:s3cret@[::1",
        "postgres://u:s3cret@h:5432/db?sslmode",
        "host=a password='s3cret",
        "host=a password=s3cret sslmode",
    ],
)
def test_libpqs_own_message_never_carries_the_password(dsn: str) -> None:
    try:
        check_dsn(dsn)
    except ValueError as exc:
        assert "s3cret" not in str(exc) and ACCEPTED in str(exc)
    else:  # libpq took it: nothing to show
        assert dsn.count("s3cret") == 1


@pytest.mark.parametrize("value", [1, 1.0, 10, 2.5, 2**31 - 1])
def test_a_timeout_in_range_is_returned_as_a_float(value: float) -> None:
    assert check_timeout("t", value) == float(value)
    assert isinstance(check_timeout("t", value), float)


@pytest.mark.parametrize(
    "value", [0.999, 0, -1, 1e-9, 2**31, float("nan"), float("inf"), True, "5", None]
)
def test_a_timeout_out_of_range_names_the_value_and_the_range(value: object) -> None:
    """Formerly any finite number > 0 passed (``1e-9`` included): a deadline under the 0.1 s
    at which it is checked, or above what libpq's connect_timeout holds, is refused."""
    with pytest.raises(ValueError) as info:
        check_timeout("query_timeout_s", value)
    assert str(info.value) == (
        f"bad query_timeout_s={value!r} (accepted: a number of seconds from 1 to 2147483647)"
    )
    assert (MIN_TIMEOUT_S, MAX_TIMEOUT_S) == (1.0, 2147483647.0)


def test_an_interrupt_is_set_by_its_stop_event_or_its_deadline() -> None:
    stop = threading.Event()
    interrupt = Interrupt(stop)
    assert not interrupt.is_set() and interrupt.seconds_left() == float("inf")
    interrupt.deadline = time.monotonic() + 60
    assert not interrupt.is_set() and 59 < interrupt.seconds_left() <= 60
    interrupt.deadline = time.monotonic() - 1
    assert interrupt.is_set() and interrupt.seconds_left() == 0.0
    assert interrupt.reason() == "its caller's deadline passed"
    interrupt.deadline = None
    stop.set()
    assert interrupt.is_set() and interrupt.seconds_left() == 0.0
    assert interrupt.reason() == "stopping"
    assert not Interrupt().is_set()  # a stop event of its own, not set
