"""PostgreSQL connection strings: which strings are DSNs, redaction, validation."""

from __future__ import annotations

import pytest

from durable_sim.dsn import ACCEPTED, check_dsn, is_postgres_dsn, redact


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
