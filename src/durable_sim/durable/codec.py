"""Every operation payload goes through the SDK's own ``serdes`` module, and is measured here.

`encode`/`decode` call the SDK's ``serialize``/``deserialize`` (the extended-type serdes by
default: tuples, datetimes, dates, ``Decimal``, ``bytes``, ``UUID`` and ``BatchResult`` come back
as themselves; a configured ``serdes=`` replaces it), and name the operation and the value's type
when a value cannot be encoded. Plain data under the default serdes (primitives, and dicts with
string keys, lists, tuples and batch results of plain data) takes a fast path that writes the
SDK's text and returns the SDK's decoded value without the SDK's generic codec; `test_codec`
compares both with the SDK's own on random values, and any other value goes to the SDK's
functions. `check_size` applies AWS's checkpoint limit to the serialized payload in UTF-8 bytes,
inclusive.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.concurrency.models import BatchItem, BatchResult
from aws_durable_execution_sdk_python.exceptions import RetryableSerDesError, SerDesError
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python.serdes import SerDes, deserialize, serialize

from durable_sim.durable.errors import CHECKPOINT_LIMIT_BYTES, CheckpointTooLargeError

if TYPE_CHECKING:
    from aws_durable_execution_sdk_python.identifier import OperationIdentifier

# Values the SDK's extended-type serdes writes as plain compact JSON (its ``is_primitive`` path).
_PRIMITIVE = frozenset({type(None), str, int, float, bool})
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_INFINITY = float("inf")


class _NotPlain(Exception):
    """A value (or an envelope) the fast path leaves to the SDK's codec."""


def _float_text(value: float) -> str:
    """A float as ``json.dumps`` writes it (NaN and the infinities by their JavaScript names)."""
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


#: The JSON text ``json.dumps`` writes for a value of each primitive type (ASCII-escaped
#: strings, ``repr`` of numbers), as its C encoder writes them.
_TEXT: dict[type, Any] = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    float: _float_text,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}
#: The SDK's envelope of each primitive type (``{"t": tag, "v": value}``) up to the value.
_OPEN = {str: '{"t":"s","v":', int: '{"t":"i","v":', float: '{"t":"f","v":', bool: '{"t":"b","v":'}
_NULL = '{"t":"n","v":null}'
#: Types the SDK's ``is_primitive`` never accepts, whatever they hold.
_CONTAINERS = frozenset({dict, tuple, BatchResult})


def _leaf(value: Any) -> str | None:
    """The envelope text of a primitive; None for any other value."""
    cls = type(value)
    opening = _OPEN.get(cls)
    if opening is not None:
        return opening + _TEXT[cls](value) + "}"
    return _NULL if value is None else None


def _members(value: dict[Any, Any]) -> str:
    """``{"key":envelope,...}``: the members of a dict with string keys, each value enveloped."""
    for key in value:
        if type(key) is not str:
            raise _NotPlain
    return (
        "{"
        + ",".join(
            [
                encode_basestring_ascii(k) + ":" + (_leaf(v) or _envelope_text(v))
                for k, v in value.items()
            ]
        )
        + "}"
    )


def _envelope_text(value: Any) -> str:
    """The JSON text the SDK's extended-type serdes writes for plain data (dicts with string
    keys, lists, tuples of primitives, and batch results holding such data), written directly:
    the same text as the SDK's ``TypeCodec`` and ``json.dumps`` of its envelope, several times
    faster. Raises `_NotPlain` for anything else; `test_codec` checks the equality on random
    values."""
    leaf = _leaf(value)
    if leaf is not None:
        return leaf
    cls = type(value)
    if cls is dict:
        return '{"t":"m","v":' + _members(value) + "}"
    if cls is list or cls is tuple:
        items = ",".join([_leaf(v) or _envelope_text(v) for v in value])
        return ('{"t":"l","v":[' if cls is list else '{"t":"t","v":[') + items + "]}"
    if cls is BatchResult:
        items = ",".join([_item_text(item) for item in value.all])
        reason = value.completion_reason.value
        return (
            '{"t":"br","v":{"all":{"t":"l","v":['
            + items
            + ']},"completionReason":'
            + (_leaf(reason) or _envelope_text(reason))
            + "}}"
        )
    raise _NotPlain


def _item_text(item: BatchItem[Any]) -> str:
    """The envelope text of a batch item's ``to_dict`` (index, status, result, error), written
    without building the dict."""
    index, status, result = item.index, item.status.value, item.result
    error = item.error.to_dict() if item.error else None
    return (
        '{"t":"m","v":{"index":'
        + (_leaf(index) or _envelope_text(index))
        + ',"status":'
        + (_leaf(status) or _envelope_text(status))
        + ',"result":'
        + (_leaf(result) or _envelope_text(result))
        + ',"error":'
        + (_NULL if error is None else _envelope_text(error))
        + "}}"
    )


def _unwrap(obj: Any) -> Any:
    """Inverse of `_envelope_text` (of its parsed JSON), as the SDK's ``ContainerCodec``
    decodes."""
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
    """What `_unwrap` returns for the envelope of `value` (of plain data only): a deep copy with
    the same container types; primitives are immutable and equal to their JSON round trip.

    A batch result is copied item by item, as ``BatchResult.from_dict`` rebuilds it from its
    decoded ``to_dict``: the same index, status (the enum member its value names) and
    completion reason, a copy of the result, and an error rebuilt from a copy of its fields.
    """
    cls = type(value)
    if cls is dict:
        return {k: v if type(v) in _PRIMITIVE else _copy(v) for k, v in value.items()}
    if cls is list:
        return [v if type(v) in _PRIMITIVE else _copy(v) for v in value]
    if cls is tuple:
        return tuple([v if type(v) in _PRIMITIVE else _copy(v) for v in value])
    if cls is BatchResult:
        return BatchResult([_copy_item(item) for item in value.all], value.completion_reason)
    return value


def _copy_item(item: BatchItem[Any]) -> BatchItem[Any]:
    """A batch item as ``BatchItem.from_dict`` rebuilds it from its decoded ``to_dict``."""
    error = item.error.to_dict() if item.error else None
    return BatchItem(
        _copy(item.index),
        item.status,
        _copy(item.result),
        ErrorObject.from_dict(_copy(error)) if error else None,
    )


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
        cls = type(value)
        if cls in _PRIMITIVE:  # the SDK's plain JSON
            text: str = _TEXT[cls](value)
            return text
        if cls not in _CONTAINERS and SerDes.is_primitive(value):
            return _COMPACT.encode(value)
        try:
            return _envelope_text(value)
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
            error_type=exc.error_type,
            data=exc.data,
            stack_trace=exc.stack_trace,
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
            error_type=exc.error_type,
            data=exc.data,
            stack_trace=exc.stack_trace,
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
        cls = type(value)
        if cls in _PRIMITIVE:
            return _TEXT[cls](value), value
        # A subclass of a primitive, or a list of primitives, is the SDK's plain JSON and
        # decodes as its base types; a dict, tuple or batch result never is (no need to ask).
        if cls in _CONTAINERS or not SerDes.is_primitive(value):
            try:
                text = _envelope_text(value)
            except _NotPlain:
                pass
            else:
                return text, _copy(value)
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
