"""A finished execution started again returns its error rebuilt from the journal: the same
``str()`` and the same type as the first run's where the SDK keeps them, the same ErrorObject.

The SDK keeps an exception's type name and ``str()`` (``ErrorObject.from_exception``), and on
replay rebuilds a `DurableOperationError` stand-in carrying exactly these
(``DurableOperationError.from_error_fields``, the cause ``raise_as_operation_error`` chains to a
failed step replayed). Formerly a rebuilt ``KeyError`` was quoted twice: ``KeyError("'k'")``.
"""

from __future__ import annotations

import builtins
import errno
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.exceptions import DurableOperationError, StepError
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import MemoryJournal, run_durable
from durable_sim.durable.runtime import rebuild_error
from tests.durable.conftest import JournalBackend

#: Every builtin exception type a handler can raise (``Exception`` and its subclasses).
BUILTIN_ERRORS = sorted(
    (
        kind
        for kind in vars(builtins).values()
        if isinstance(kind, type) and issubclass(kind, Exception)
    ),
    key=lambda kind: kind.__name__,
)


class _Opaque:
    """A value whose ``repr`` is no Python literal (it names an address)."""


#: Argument shapes: none, a message, a non-string, several, OSError's (errno, strerror,
#: filename, winerror, filename2), values that are literals (str, tuple, list, None, '') and one
#: that is not.
ARGUMENTS: list[tuple[Any, ...]] = [
    (),
    ("boom",),
    ("k",),
    ("",),
    (7,),
    (None,),
    (("t", 1),),
    ([1, "x"],),
    ("two", 2),
    ("a", "b", "c"),
    (errno.ENOENT, "No such file or directory"),
    (errno.ENOENT, "No such file or directory", "/tmp/x"),
    (errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"),
    (_Opaque(),),
]


def _constructible() -> list[tuple[type[Exception], tuple[Any, ...]]]:
    cases = []
    for kind in BUILTIN_ERRORS:
        for args in ARGUMENTS:
            try:
                str(kind(*args))
            except Exception:
                continue  # the type refuses these arguments: a handler cannot raise it so
            cases.append((kind, args))
    return cases


CASES = _constructible()


def _raiser(kind: type[Exception], args: tuple[Any, ...]) -> Any:
    def handler(event: Any, ctx: DurableContext) -> None:
        raise kind(*args)

    return handler


def _rerun(kind: type[Exception], args: tuple[Any, ...]) -> tuple[Any, Any]:
    journal = MemoryJournal()
    first = run_durable(_raiser(kind, args), None, journal=journal, execution_id="e")
    again = run_durable(_raiser(kind, args), None, journal=journal, execution_id="e")
    return first, again


@settings(max_examples=examples(300), derandomize=True, database=None, deadline=None)
@given(case=st.sampled_from(CASES))
def test_a_restart_rebuilds_the_error_with_the_first_runs_str_and_type(
    case: tuple[type[Exception], tuple[Any, ...]],
) -> None:
    """The restart's error prints what the first run's printed, and is of its type, or else
    the SDK's stand-in naming that type; the error_object does not change."""
    first, again = _rerun(*case)
    assert first.status == again.status == "FAILED"
    assert first.error is not None and again.error is not None
    assert first.error_object == again.error_object == ErrorObject.from_exception(first.error)
    assert str(again.error) == str(first.error)
    if type(again.error) is not type(first.error):
        assert type(again.error) is DurableOperationError
        assert again.error.error_type == first.error_object.type


@pytest.mark.parametrize(
    ("error", "args"),
    [
        (KeyError("k"), ("k",)),  # str() is "'k'": formerly rebuilt as KeyError("'k'")
        (KeyError(("t", 1)), (("t", 1),)),
        (KeyError(), ()),
        (KeyError(""), ("",)),
        (FileNotFoundError(errno.ENOENT, "No such file", "/x"), ("[Errno 2] No such file: '/x'",)),
        (ValueError("two", 2), ("('two', 2)",)),
        (ValueError(), ("",)),
    ],
    ids=repr,
)
def test_named_errors_keep_their_type_and_print_the_same(
    backend: JournalBackend, error: Exception, args: tuple[Any, ...]
) -> None:
    """Rebuilt with the arguments that print the journaled message: a KeyError's key, an
    OSError's whole text (its errno and filename are not journaled, as on AWS)."""

    def handler(event: Any, ctx: DurableContext) -> None:
        raise error

    run_durable(handler, None, journal=backend.open(), execution_id="n")
    again = run_durable(handler, None, journal=backend.open(), execution_id="n")
    assert type(again.error) is type(error)
    assert (again.error.args, str(again.error)) == (args, str(error))


@pytest.mark.parametrize(
    "error",
    [KeyError(_Opaque()), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")],
    ids=lambda e: type(e).__name__,
)
def test_an_error_that_cannot_print_its_message_again_is_the_sdks_stand_in(
    error: Exception,
) -> None:
    """A key whose repr is no literal, a type that prints fields not journaled: the SDK's
    `DurableOperationError`, naming the type and printing the message."""
    rebuilt = rebuild_error(dict(ErrorObject.from_exception(error).to_dict()))
    assert type(rebuilt) is DurableOperationError
    assert (rebuilt.error_type, str(rebuilt)) == (type(error).__name__, str(error))


def test_a_rebuilt_operation_error_is_the_sdks_own_reconstruction() -> None:
    """A StepError, as the SDK's ``from_error_fields`` rebuilds it: message, type, data,
    stack trace."""
    fields = ErrorObject("boom", f"{StepError.__module__}.StepError", "{}", ["at f"]).to_dict()
    rebuilt = rebuild_error(dict(fields))
    sdk = DurableOperationError.from_error_fields(
        error_type=fields["ErrorType"], message="boom", data="{}", stack_trace=["at f"]
    )
    assert type(rebuilt) is type(sdk) is StepError
    assert (
        rebuilt.message,
        rebuilt.error_type,
        rebuilt.data,
        rebuilt.stack_trace,
        str(rebuilt),
    ) == (
        sdk.message,
        sdk.error_type,
        sdk.data,
        sdk.stack_trace,
        str(sdk),
    )
