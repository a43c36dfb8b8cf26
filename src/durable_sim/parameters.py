"""Parameter types checked one way, and the accepted-range text of a parameter.

Shared by every set of parameters a person writes by hand: the notebooks' parameters
(`durable_sim.notebook`) and the report's (`durable_sim.report.ReportSpec`, which notebook 05's
parameters are). Models using them set pydantic's strict mode, so that:

- an int parameter (`Int`) takes an int or an integral float (``2.0``, or ``1e4`` as
  papermill's ``-p`` parses it) and becomes an int; a non-integral float is refused;
- a float parameter takes an int or a float;
- booleans are neither, strings are not numbers;
- a list of names (`Names`) takes a list or a tuple and becomes a tuple.

`accepted` renders a field's type and bounds as the one-line text an error message ends with
("an int in 1..300", "a number in (0, 1]"), so the range is written once, in the constraint;
`problem` says in a few words what pydantic found wrong with a value ("is out of range"), for a
message that ends with that range instead of pydantic's own sentence.
`check_numbers` gives a lax model (`durable_sim.experiments.ExperimentSpec`) the same rule:
booleans, strings and NaN are never numbers; `check_scalars` adds that only ``True`` and
``False`` are booleans, for models with boolean fields (a workload's options, checked by the
spec's rules: `durable_sim.workloads.base.Workload.parse_options`).
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BeforeValidator, Field
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails


def _integral(value: object) -> object:
    """An integral float (2.0, 1e4) as an int; anything else unchanged for the strict check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _as_tuple(value: object) -> object:
    """A list as a tuple (YAML and papermill give lists); anything else unchanged."""
    return tuple(value) if isinstance(value, list) else value


#: An int parameter: an int or an integral float; never a bool or a string (strict mode).
Int = Annotated[int, BeforeValidator(_integral)]
#: A seed: an int in 0..2**32-1 (numpy's SeedSequence takes any; the specs store 32 bits).
Seed = Annotated[Int, Field(ge=0, le=2**32 - 1)]
#: A run count: 1..1,000,000 (`durable_sim.experiments.ExperimentSpec`'s bound).
Runs = Annotated[Int, Field(ge=1, le=1_000_000)]
#: A probability of an injected failure: [0, 1) (1 would never finish).
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
#: A poll interval in ms: (0, 1 hour].
PollInterval = Annotated[float, Field(gt=0.0, le=3_600_000.0)]
#: Names (e.g. latency profiles), given as a list or a tuple; kept as a tuple.
Names = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _bounds(metadata: list[Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(_bounds(item.metadata))
        for name in ("ge", "gt", "le", "lt", "min_length"):
            value = getattr(item, name, None)
            if isinstance(item, annotated_types.BaseMetadata) and value is not None:
                found[name] = value
    return found


def _describe(annotation: Any, metadata: list[Any]) -> str:
    if get_origin(annotation) is Annotated:
        base, *more = get_args(annotation)
        return _describe(base, [*more, *metadata])
    if get_origin(annotation) in (Union, types.UnionType):
        parts = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(_describe(a, metadata) for a in parts)
        return f"{text}, or None" if len(parts) < len(get_args(annotation)) else text
    bounds = _bounds(metadata)
    if get_origin(annotation) is Literal:
        return " or ".join(repr(v) for v in get_args(annotation))
    if get_origin(annotation) is dict:
        return f"a mapping of names, each to {_describe(get_args(annotation)[1], [])}"
    if get_origin(annotation) in (list, tuple):
        item = get_args(annotation)[0]
        size = "a non-empty list" if bounds.get("min_length", 0) >= 1 else "a list"
        return f"{size}, each {_describe(item, [])}"
    if annotation is int:
        low = bounds["ge"] if "ge" in bounds else bounds["gt"] + 1 if "gt" in bounds else None
        high = bounds["le"] if "le" in bounds else bounds["lt"] - 1 if "lt" in bounds else None
        if low is not None and high is not None:
            return f"an int in {_number(low)}..{_number(high)}"
        if low is not None:
            return f"an int >= {_number(low)}"
        return f"an int <= {_number(high)}" if high is not None else "an int"
    if annotation is float:
        left = f"[{_number(bounds['ge'])}" if "ge" in bounds else None
        left = f"({_number(bounds['gt'])}" if "gt" in bounds else left
        right = f"{_number(bounds['le'])}]" if "le" in bounds else None
        right = f"{_number(bounds['lt'])})" if "lt" in bounds else right
        if left and right:
            return f"a number in {left}, {right}"
        if left:
            return f"a number {'>=' if left[0] == '[' else '>'} {left[1:]}"
        if right:
            return f"a number {'<=' if right[-1] == ']' else '<'} {right[:-1]}"
        return "a number"
    if annotation is bool:
        return "True or False"
    if annotation is str:
        return "a non-empty string" if bounds.get("min_length", 0) >= 1 else "a string"
    return getattr(annotation, "__name__", str(annotation))


def accepted(field: FieldInfo) -> str:
    """What `field` accepts, in words: its type and bounds (e.g. ``"an int in 1..300"``,
    ``"a number in (0, 1]"``, ``"'map' or 'sequential'"``, ``"a non-empty list, each a number
    in (0, 3600000]"``)."""
    return _describe(field.annotation, list(field.metadata))


#: pydantic's error types of a value outside a field's bounds (numbers, lengths).
_OUT_OF_RANGE = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "string_too_short",
        "string_too_long",
        "too_short",
        "too_long",
    }
)


def problem(error: ErrorDetails) -> str | None:
    """What is wrong with the value of one pydantic `error`, in words that precede the field's
    accepted range (`accepted`): ``"is out of range"``, ``"is empty"``, ``"is not one of the
    accepted values"``, ``"is not a whole number"``, ``"is required, missing"``, ``"is not a
    field"``, or ``"has the wrong type (list)"``; None for an error a validator raised
    (``value_error``, ``assertion_error``), whose own message already says it."""
    kind = error["type"]
    if kind in ("value_error", "assertion_error"):
        return None
    if kind in _OUT_OF_RANGE:
        return "is empty" if error["input"] in ("", [], ()) else "is out of range"
    if kind in ("literal_error", "enum"):
        return "is not one of the accepted values"
    if kind == "int_from_float":
        return "is not a whole number"
    if kind == "missing":
        return "is required, missing"
    if kind == "extra_forbidden":
        return "is not a field"
    return f"has the wrong type ({type(error['input']).__name__})"


def _numeric(annotation: Any) -> bool:
    """Whether values of `annotation` are numbers (int, float, optionally None; Annotated); a
    union that also admits other types (e.g. a workload option: bool, number or text) is not."""
    if get_origin(annotation) is Annotated:
        return _numeric(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return all(_numeric(a) for a in get_args(annotation) if a is not type(None))
    return annotation in (int, float)


def _not_a_number(value: object) -> str | None:
    """Why `value` is no number ('' when it is one, or is no scalar at all)."""
    if isinstance(value, bool):
        return "a boolean is never a number"
    if isinstance(value, str | bytes):
        return "text is never a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a number" if math.isnan(value) else "not a finite number"
    return None


def check_numbers(fields: Mapping[str, FieldInfo], values: Mapping[str, Any]) -> None:
    """Refuse a boolean, a text or a NaN/infinity given for a number field of `fields` (an int
    or float, or a mapping of names to numbers) in `values`, before a lax model would coerce it
    (``True`` to 1, ``'2'`` to 2) or compare it (NaN passes no bound, so it would be refused as
    out of range). Raises `ValueError`: ``field=value: <why> (accepted: <range>)``."""
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            continue
        annotation = field.annotation
        if get_origin(annotation) is dict and _numeric(get_args(annotation)[1]):
            for key, item in value.items() if isinstance(value, Mapping) else ():
                why = _not_a_number(item)
                if why:
                    raise ValueError(f"{name}[{key!r}]={item!r}: {why} (accepted: a finite number)")
        elif _numeric(annotation):
            why = _not_a_number(value)
            if why:
                raise ValueError(f"{name}={value!r}: {why} (accepted: {accepted(field)})")


def _boolean(annotation: Any) -> bool:
    """Whether values of `annotation` are booleans (bool, optionally None; Annotated)."""
    if get_origin(annotation) is Annotated:
        return _boolean(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        parts = [a for a in get_args(annotation) if a is not type(None)]
        return bool(parts) and all(_boolean(a) for a in parts)
    return annotation is bool


def check_scalars(fields: Mapping[str, FieldInfo], values: Mapping[str, Any]) -> None:
    """`check_numbers`, and refuse anything but ``True`` or ``False`` (or None where the field
    allows it) for a boolean field, before a lax model would coerce it (``1``, ``"yes"`` to
    True). Raises `ValueError`: ``field=value: <why> (accepted: <range>)``."""
    check_numbers(fields, values)
    for name, value in values.items():
        field = fields.get(name)
        if field is None or not _boolean(field.annotation) or isinstance(value, bool):
            continue
        if value is None and not field.is_required() and field.default is None:
            continue
        raise ValueError(
            f"{name}={value!r}: only True and False are booleans (accepted: {accepted(field)})"
        )
