"""Every operation payload goes through the SDK's own ``serdes`` module, and is measured here.

`encode`/`decode` call the SDK's ``serialize``/``deserialize`` (the extended-type serdes by
default: tuples, datetimes, dates, ``Decimal``, ``bytes``, ``UUID`` and ``BatchResult`` come back
as themselves; a configured ``serdes=`` replaces it), and name the operation and the value's type
when a value cannot be encoded. `check_size` applies AWS's checkpoint limit to the serialized
payload in UTF-8 bytes, inclusive.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.concurrency.models import BatchResult
from aws_durable_execution_sdk_python.exceptions import RetryableSerDesError, SerDesError
from aws_durable_execution_sdk_python.serdes import SerDes, deserialize, serialize

from durable_sim.durable.errors import CHECKPOINT_LIMIT_BYTES, CheckpointTooLargeError

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier

# Values the SDK's extended-type serdes writes as plain compact JSON (its ``is_primitive`` path).
_PRIMITIVE = frozenset({type(None), str, int, float, bool})
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class _NotPlain(Exception):
    """A value (or an envelope) the fast path leaves to the SDK's codec."""


_TAG = {str: "s", int: "i", float: "f", bool: "b", type(None): "n"}


def _envelope(value: Any) -> dict[str, Any]:
    """The SDK's extended-type envelope of plain data (dicts, lists, tuples of primitives, and
    batch results holding such data), built directly: the same JSON text as the SDK's
    ``TypeCodec``, several times faster. Raises `_NotPlain` for anything else; `test_codec`
    checks the equality on random values."""
    cls = type(value)
    tag = _TAG.get(cls)
    if tag is not None:
        return {"t": tag, "v": value}
    # Primitive members are wrapped in place (most payloads are flat): one call per container.
    if cls is dict:
        for key in value:
            if type(key) is not str:
                raise _NotPlain
        return {
            "t": "m",
            "v": {
                k: {"t": tag, "v": v} if (tag := _TAG.get(type(v))) else _envelope(v)
                for k, v in value.items()
            },
        }
    if cls is list or cls is tuple:
        return {
            "t": "l" if cls is list else "t",
            "v": [
                {"t": tag, "v": v} if (tag := _TAG.get(type(v))) else _envelope(v) for v in value
            ],
        }
    if cls is BatchResult:
        return {"t": "br", "v": _envelope(value.to_dict())["v"]}
    raise _NotPlain


def _unwrap(obj: Any) -> Any:
    """Inverse of `_envelope`, as the SDK's ``ContainerCodec`` decodes."""
    if type(obj) is not dict or "t" not in obj or "v" not in obj:
        raise _NotPlain
    tag, value = obj["t"], obj["v"]
    if tag == "m" and type(value) is dict:
        return {k: _unwrap(v) for k, v in value.items()}
    if tag == "l" and type(value) is list:
        return [_unwrap(v) for v in value]
    if tag == "t" and type(value) is list:
        return tuple(_unwrap(v) for v in value)
    if tag == "br" and type(value) is dict:
        return BatchResult.from_dict({k: _unwrap(v) for k, v in value.items()})
    if tag == "s" and type(value) is str:
        return value
    if tag == "i" and type(value) is int:
        return value
    if tag == "f" and type(value) in (float, int):
        return float(value)
    if tag == "b" and type(value) is bool:
        return value
    if tag == "n" and value is None:
        return None
    raise _NotPlain


def _copy(value: Any) -> Any:
    """What `_unwrap` returns for `_envelope(value)` (of plain data only): a deep copy with the
    same container types; primitives are immutable and equal to their JSON round trip."""
    cls = type(value)
    if cls is dict:
        return {k: v if type(v) in _PRIMITIVE else _copy(v) for k, v in value.items()}
    if cls is list:
        return [v if type(v) in _PRIMITIVE else _copy(v) for v in value]
    if cls is tuple:
        return tuple([v if type(v) in _PRIMITIVE else _copy(v) for v in value])
    if cls is BatchResult:
        return BatchResult.from_dict(_copy(value.to_dict()))
    return value


def describe(ident: OperationIdentifier) -> str:
    """``"step 'fetch' (id 3)"``: an operation as error messages name it."""
    kind = ident.sub_type or ident.operation_type.value
    named = f" {ident.name!r}" if ident.name else ""
    return f"{kind}{named} (id {ident.operation_id})"


def _type_name(value: Any) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def encode(
    value: Any, serdes: SerDes[Any] | None, ident: OperationIdentifier, arn: str, what: str
) -> str | None:
    """Serialize `value` with `serdes` (the SDK's extended-type serdes when ``None``).

    `what` names the value in a failure (``"result"``, ``"state"``, ``"input"``). Raises the
    SDK's `SerDesError` naming the operation, the value's type and the serdes; a
    `RetryableSerDesError` propagates unchanged (the SDK retries the invocation on it).
    """
    if serdes is None:
        if type(value) in _PRIMITIVE or SerDes.is_primitive(value):  # the SDK's plain JSON
            return _COMPACT.encode(value)
        try:
            return _COMPACT.encode(_envelope(value))
        except _NotPlain:
            pass  # another type: the SDK's own code
    try:
        return serialize(serdes, value, ident.operation_id, arn)
    except RetryableSerDesError:
        raise
    except SerDesError as exc:
        codec = type(serdes).__name__ if serdes is not None else "ExtendedTypeSerDes"
        raise SerDesError(
            f"{describe(ident)}: cannot serialize its {what} of type {_type_name(value)} "
            f"with {codec}: {exc.message}",
            data=exc.data,
        ) from exc


def decode(
    data: str | None, serdes: SerDes[Any] | None, ident: OperationIdentifier, arn: str
) -> Any:
    """Deserialize a journaled payload (``None`` stays ``None``), as the SDK does on replay."""
    if data is None:
        return None
    if serdes is None:
        try:
            obj = json.loads(data)
            if type(obj) in _PRIMITIVE or SerDes.is_primitive(obj):
                return obj
            return _unwrap(obj)
        except (ValueError, _NotPlain):
            pass  # not JSON, or tags beyond plain data: the SDK's own code
    try:
        return deserialize(serdes, data, ident.operation_id, arn)
    except RetryableSerDesError:
        raise
    except SerDesError as exc:
        codec = type(serdes).__name__ if serdes is not None else "ExtendedTypeSerDes"
        raise SerDesError(
            f"{describe(ident)}: cannot deserialize its payload {data[:60]!r} with {codec}: "
            f"{exc.message}",
            data=exc.data,
        ) from exc


def round_trip(
    value: Any, serdes: SerDes[Any] | None, ident: OperationIdentifier, arn: str, what: str
) -> tuple[str | None, Any]:
    """``(encode(value, ...), decode(that payload, ...))``: the payload to checkpoint and the
    value replay will return, which the first run returns too.

    Plain data under the default serdes is not decoded again: its decoded form is a fresh copy
    of it (the same types, no object shared with `value`); `test_codec` checks the equality on
    random values. Raises what `encode` and `decode` raise.
    """
    if serdes is None:
        if type(value) in _PRIMITIVE:
            return _COMPACT.encode(value), value
        if not SerDes.is_primitive(value):  # a subclass of one decodes as its base type
            try:
                envelope = _envelope(value)
            except _NotPlain:
                pass
            else:
                return _COMPACT.encode(envelope), _copy(value)
    payload = encode(value, serdes, ident, arn, what)
    return payload, decode(payload, serdes, ident, arn)


def payload_bytes(payload: str | None) -> int:
    """The size AWS limits and bills: UTF-8 bytes of the serialized payload."""
    if payload is None:
        return 0
    return len(payload) if payload.isascii() else len(payload.encode("utf-8"))


def check_size(
    payload: str | None, ident: OperationIdentifier, limit: int = CHECKPOINT_LIMIT_BYTES
) -> int:
    """Return the payload's UTF-8 size; raise `CheckpointTooLargeError` above `limit`
    (a payload of exactly `limit` bytes passes)."""
    size = payload_bytes(payload)
    if size > limit:
        raise CheckpointTooLargeError(ident.operation_id, describe(ident), size, limit)
    return size
