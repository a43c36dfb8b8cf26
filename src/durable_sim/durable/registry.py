"""The functions a run can ``context.invoke``: durable handlers registered under a name."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Handler = Callable[[Any, Any], Any]


def execution_arn(function_name: str, execution_id: str) -> str:
    """A durable execution ARN in AWS's format, for the SDK's ``ExecutionContext``."""
    return (
        f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}:$LATEST"
        f"/durable-execution/{execution_id}/{deterministic_uuid(execution_id)}"
    )


def deterministic_uuid(*key: object) -> str:
    """A UUID-shaped id derived from `key` (request and invocation ids, reproducibly)."""
    digest = hashlib.blake2b("/".join(map(str, key)).encode(), digest_size=16).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def unwrap_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The user function behind the SDK's ``@durable_execution`` wrapper (or `handler` itself)."""
    code = getattr(handler, "__code__", None)
    is_sdk_wrapper = (
        code is not None
        and code.co_name == "wrapper"
        and code.co_filename.replace("\\", "/").endswith(
            "aws_durable_execution_sdk_python/execution.py"
        )
    )
    return handler.__wrapped__ if is_sdk_wrapper else handler  # type: ignore[attr-defined]


class FunctionRegistry(Mapping[str, Handler]):
    """Durable functions by name, for chained invokes (a Lambda function name on AWS).

    Build it from a mapping, or register with `register` (usable as a decorator). A handler is
    a plain ``(event, context)`` function or one decorated with the SDK's
    ``@durable_execution``. Names must be non-empty strings and handlers callable; registering
    a name twice is an error (ValueError naming it).
    """

    def __init__(self, functions: Mapping[str, Handler] | None = None) -> None:
        self._functions: dict[str, Handler] = {}
        for name, handler in (functions or {}).items():
            self.register(name, handler)

    def register(self, name: str, handler: Handler | None = None) -> Any:
        """Register `handler` as `name`; without a handler, return a decorator that does."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a function name must be a non-empty string, got {name!r}")
        if handler is None:
            return lambda func: self.register(name, func)
        if name in self._functions:
            raise ValueError(f"function {name!r} is already registered")
        if not callable(handler):
            raise ValueError(
                f"function {name!r} is not a handler: {handler!r} (accepted: a callable taking "
                "(event, context), e.g. a @durable_execution function)"
            )
        self._functions[name] = handler
        return handler

    def __getitem__(self, name: str) -> Handler:
        return self._functions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)
