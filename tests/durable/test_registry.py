"""The functions a run can invoke: names, handlers, the SDK's wrapper, and AWS-shaped ids."""

from __future__ import annotations

import functools
import re
import types
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, durable_execution

from durable_sim.durable.registry import (
    FunctionRegistry,
    deterministic_uuid,
    execution_arn,
    unwrap_handler,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _plain(event: Any, ctx: DurableContext) -> int:
    return 1


@durable_execution
def _decorated(event: Any, ctx: DurableContext) -> int:
    return 2


def test_deterministic_uuid_is_a_uuid_fixed_by_its_key() -> None:
    ids = [deterministic_uuid("e"), deterministic_uuid("e", 1), deterministic_uuid("e", 2)]
    assert all(UUID.match(i) for i in ids)
    assert len(set(ids)) == 3
    assert deterministic_uuid("e", 1) == ids[1]
    assert deterministic_uuid("e", 12) != deterministic_uuid("e1", 2)  # parts stay apart
    assert len({deterministic_uuid("x", n) for n in range(200)}) == 200


def test_execution_arn_is_awss_durable_execution_arn() -> None:
    arn = execution_arn("orders", "run-7")
    prefix = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/"
    assert arn == f"{prefix}run-7/{deterministic_uuid('run-7')}"


def test_unwrap_handler_finds_the_function_behind_the_sdks_decorator() -> None:
    assert unwrap_handler(_decorated)(None, None) == 2
    assert unwrap_handler(_decorated) is _decorated.__wrapped__  # type: ignore[attr-defined]
    assert unwrap_handler(_plain) is _plain

    def wrapper(event: Any, ctx: Any) -> int:  # named like the SDK's, defined elsewhere
        return 3

    wrapped = functools.wraps(_plain)(wrapper)
    assert unwrap_handler(wrapped) is wrapped
    assert unwrap_handler(print) is print  # no __code__


def test_unwrap_handler_knows_the_sdks_wrapper_under_a_windows_path() -> None:
    sdk = _decorated.__code__.co_filename  # type: ignore[attr-defined]
    windows = "C:\\Python311\\Lib\\site-packages\\" + "\\".join(sdk.split("/")[-2:])
    code = _decorated.__code__.replace(co_filename=windows)  # type: ignore[attr-defined]
    wrapper = types.FunctionType(code, globals(), "wrapper", None, _decorated.__closure__)  # type: ignore[attr-defined]
    wrapper.__wrapped__ = _plain  # type: ignore[attr-defined]
    assert unwrap_handler(wrapper) is _plain


def test_a_registry_is_a_mapping_of_names_to_handlers() -> None:
    registry = FunctionRegistry({"a": _plain})

    @registry.register("b")
    def b(event: Any, ctx: DurableContext) -> int:
        return 4

    assert registry.register("c", _decorated) is _decorated
    assert b(None, None) == 4 and registry["b"] is b
    assert (list(registry), len(registry)) == (["a", "b", "c"], 3)
    assert registry.get("missing") is None and "a" in registry
    assert len(FunctionRegistry()) == 0


@pytest.mark.parametrize("bad", ["", None, 5])
def test_a_bad_name_is_refused_naming_it(bad: Any) -> None:
    with pytest.raises(ValueError) as raised:
        FunctionRegistry().register(bad, _plain)
    assert str(raised.value) == f"a function name must be a non-empty string, got {bad!r}"
    with pytest.raises(ValueError):
        FunctionRegistry({bad: _plain})


def test_a_name_registers_once_and_a_handler_must_be_callable() -> None:
    registry = FunctionRegistry({"a": _plain})
    with pytest.raises(ValueError) as twice:
        registry.register("a", _decorated)
    assert str(twice.value) == "function 'a' is already registered"
    assert registry["a"] is _plain
    with pytest.raises(ValueError) as bad:
        registry.register("n", 5)  # type: ignore[arg-type]
    assert str(bad.value) == (
        "function 'n' is not a handler: 5 (accepted: a callable taking (event, context), "
        "e.g. a @durable_execution function)"
    )
    assert "n" not in registry
