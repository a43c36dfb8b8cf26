"""PostgreSQL connection strings: which strings are DSNs, redaction, validation."""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim.dsn import (
    ACCEPTED,
    MASK,
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    SECRET_KEYWORDS,
    Interrupt,
    check_dsn,
    check_timeout,
    is_postgres_dsn,
    redact,
    scrub,
    secrets,
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


def test_an_unparsable_dsn_keeps_its_form_without_its_password() -> None:
    assert redact("host=a password='s3cret") == "host=a password=***"


def test_a_good_dsn_is_returned_as_given() -> None:
    assert check_dsn("postgresql://localhost:5433/db") == "postgresql://localhost:5433/db"


@pytest.mark.parametrize("dsn", [None, 5432, b"host=a"])
def test_a_dsn_that_is_not_a_string_is_named(dsn: object) -> None:
    with pytest.raises(ValueError, match=f"bad Postgres DSN {dsn!r}") as info:
        check_dsn(dsn)
    assert ACCEPTED in str(info.value)


def test_a_dsn_libpq_cannot_parse_is_named_without_its_password() -> None:
    with pytest.raises(ValueError, match="bad Postgres DSN 'host=a password=\\*\\*\\*'") as info:
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


def test_every_parameter_libpq_marks_as_a_password_is_a_secret() -> None:
    """libpq marks its password fields (``PQconndefaults``' dispchar "*"); a libpq that adds
    one (as 18 added oauth_client_secret) fails here until `SECRET_KEYWORDS` names it."""
    from psycopg import pq

    marked = {o.keyword.decode() for o in pq.Conninfo.get_defaults() if o.dispchar == b"*"}
    assert marked >= {"password", "sslpassword"}
    assert marked <= SECRET_KEYWORDS
    known = {o.keyword.decode() for o in pq.Conninfo.get_defaults()}
    newer = {"oauth_client_secret", "scram_client_key", "scram_server_key"}  # libpq 18's
    assert SECRET_KEYWORDS - known <= newer


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        # the reviewer's: a URL's password and its query's key passphrase
        (
            "postgresql://su:S3cretPassw0rdXYZ@127.0.0.1:5432/postgres?sslpassword=KeyPassZZZ",
            "user=su password=*** dbname=postgres host=127.0.0.1 port=5432 sslpassword=***",
        ),
        (
            "host=127.0.0.1 user=su password=S3cretPassw0rdXYZ sslpassword=KeyPassZZZ",
            "user=su password=*** host=127.0.0.1 sslpassword=***",
        ),
        # a keyword percent-encoded in a URL's query is the keyword libpq reads
        ("postgresql://h/d?passw%6Frd=S3cretPassw0rdXYZ", "password=*** dbname=d host=h"),
        ("host=h oauth_client_secret=S3cretPassw0rdXYZ", "host=h oauth_client_secret=***"),
        ("host=h scram_client_key=S3cretPassw0rdXYZ", "host=h scram_client_key=***"),
        # no secret: libpq's keyword form all the same, so one server reads one way
        ("postgresql://u@h:5/d", "user=u dbname=d host=h port=5"),
        # libpq refuses these: their form is kept, what may be a secret masked
        ("postgresql+psycopg://su:S3cretPassw0rdXYZ@h/d", "postgresql+psycopg://su:***@h/d"),
        ("host=h password S3cretPassw0rdXYZ", "host=h password ***"),
        ("host=h sslpassword=S3cret Passw0rdXYZ", "host=h sslpassword=***"),  # to the end
        ("host=h PASSWORD='S3cret Passw0rdXYZ' x=1", "host=h PASSWORD=*** x=1"),
        ("memory", "memory"),
    ],
)
def test_every_secret_libpq_takes_is_masked(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown
    for secret in ("S3cret", "Passw0rdXYZ", "KeyPassZZZ"):
        assert secret not in redact(dsn)
    try:
        check_dsn(dsn)
    except ValueError:
        return
    assert redact(shown) == shown  # what a spec writes down redacts to itself


_SECRET = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(max_examples=examples(200), deadline=None, derandomize=True)
@given(first=_SECRET, second=_SECRET, form=st.sampled_from(["url", "keywords", "query"]))
def test_two_dsns_that_differ_only_in_secrets_redact_alike(
    first: str, second: str, form: str
) -> None:
    """A DSN's redacted form names its server and parameters, never a secret: the same for any
    two secrets, with neither in it, and a fixed point of `redact`."""

    def dsn(secret: str) -> str:
        marked = f"Zq{secret}"  # a secret no other part of the DSN or the mask contains
        quoted = marked.replace("\\", "\\\\").replace("'", "\\'")
        return {
            "url": f"postgresql://u:{quote(marked, safe='')}@127.0.0.1:5432/db",
            "keywords": f"host=127.0.0.1 user=u password='{quoted}' dbname=db",
            "query": f"postgresql://u@127.0.0.1/db?sslpassword={quote(marked, safe='')}",
        }[form]

    shown = redact(dsn(first))
    assert shown == redact(dsn(second)) == redact(shown)
    assert f"Zq{first}" not in shown and MASK in shown
    assert secrets(dsn(first)) and f"Zq{first}" in secrets(dsn(first))


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(
    head=st.sampled_from(["host=h ", "postgresql+psycopg://u:", "postgresql://u@h/d?", "x "]),
    keyword=st.sampled_from([*sorted(SECRET_KEYWORDS), "PassWord", "ssl%70assword"]),
    separator=st.sampled_from(["=", " = ", " "]),
    secret=st.text(st.characters(blacklist_categories=("Cs", "Z", "Cc")), min_size=1),
    tail=st.sampled_from(["", " port=5", "@h/db", "&x=1", " 'unclosed"]),
)
def test_no_secret_reaches_a_message_whatever_libpq_makes_of_the_text(
    head: str, keyword: str, separator: str, secret: str, tail: str
) -> None:
    """Text given as a DSN, parsed or refused by libpq, with a secret in any place libpq could
    read one from: neither `redact`, `check_dsn`'s message nor `scrub` shows the secret."""
    marked = f"Zq{secret}"
    text = f"{head}{keyword}{separator}{marked}{tail}"
    if head.endswith(":"):  # a URL's user info: the secret is the password
        text = f"{head}{marked}@h/db"
    assert marked not in redact(text)
    try:
        check_dsn(text)
    except ValueError as exc:
        assert marked not in str(exc)
        return
    from psycopg import conninfo

    read = [v for k, v in conninfo.conninfo_to_dict(text).items() if k in SECRET_KEYWORDS]
    message = f"server said: {text!r} failed for {read}"
    assert marked not in scrub(message, text)


def test_scrub_removes_the_dsn_and_each_secret_from_a_message() -> None:
    dsn = "postgresql://su:S3cret@h:1/d?sslpassword=KeyPass"
    message = f"connection to {dsn} failed: key KeyPass refused (password S3cret)"
    assert scrub(message, dsn) == (
        "connection to user=su password=*** dbname=d host=h port=1 sslpassword=*** failed: "
        "key *** refused (password ***)"
    )
