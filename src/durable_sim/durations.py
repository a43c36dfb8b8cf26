"""Durations a caller gives (a deadline, a lease, a poll interval, an idle limit): one check.

Every duration option of the command line and every public constructor that takes one goes
through `Seconds.check`, so that a duration is accepted, normalised and refused the same way
everywhere:

- accepted: a real number (`numbers.Real`: Python's int, float and Fraction, and numpy's integer
  and floating scalars alike) whose float is inside the option's range;
- refused: a boolean (numpy's too), NaN, an infinity, anything out of range, and what is no
  number (a string, None), with one `ValueError` naming the option, the value and the range;
- normalised: returned as a float, ``-0.0`` as ``0.0``;
- shown briefly: a value is written in a message at most `_SHOWN_CHARS` characters long, so an
  integer of 401 digits reads ``1.000e+400`` rather than all its digits.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from typing import Any

#: Longest text a refused value takes in a message (its first digits and its exponent beyond).
_SHOWN_CHARS = 24


def shown(value: Any) -> str:
    """`value` as a message writes it: a number by its value (``5``, ``5.0``, ``nan``; numpy's
    scalars as Python's), an integer of more than 20 digits in scientific notation
    (``1.000e+400``), anything else by its repr, cut to `_SHOWN_CHARS` characters."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        digits = str(operator.index(value))
        sign, digits = ("-", digits[1:]) if digits.startswith("-") else ("", digits)
        if len(digits) <= 20:
            return sign + digits
        return f"{sign}{digits[0]}.{digits[1:4]}e+{len(digits) - 1}"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # a Fraction beyond a float's range
            return shown(math.trunc(value))
        return repr(number)
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 3]}..."


def _is_number(value: object) -> bool:
    """Whether `value` is a real number that is no boolean (numpy's ``bool_`` is no
    `numbers.Real`; Python's bool is an int)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Seconds:
    """A range of durations: from `low` (excluded when `low_open`) to `high` (inclusive;
    infinity: any finite number), in `unit` (``"seconds"``, ``"ms"``). `describe` words it as
    messages and help show it."""

    low: float
    high: float = math.inf
    low_open: bool = False
    unit: str = "seconds"

    def describe(self) -> str:
        """The range in words: ``a finite number of seconds > 0``, ``a number of seconds from 1
        to 2147483647``."""
        if math.isinf(self.high):
            return f"a finite number of {self.unit} {'>' if self.low_open else '>='} {self.low:g}"
        return f"a number of {self.unit} from {self.low:g} to {self.high:.15g}"

    def contains(self, value: object) -> bool:
        """Whether `value` is a number (`_is_number`) whose float is finite and inside the
        range (an integer beyond a float's range never is; numpy's scalars are compared as
        the Python floats they convert to, exactly)."""
        if not _is_number(value):
            return False
        try:
            number = float(value)  # type: ignore[arg-type]  # numbers.Real has __float__
        except OverflowError:  # an int or a Fraction beyond a float's range
            return False
        if not math.isfinite(number):
            return False
        above = number > self.low if self.low_open else number >= self.low
        return above and number <= self.high

    def check(self, name: str, value: object, why: str = "") -> float:
        """`value` as a float (``-0.0`` as ``0.0``) if `contains` it; else `ValueError`:
        ``bad NAME=VALUE (accepted: RANGE[; WHY])``, `VALUE` as `shown` writes it and `why`
        the reason for the range, if given."""
        if not self.contains(value):
            reason = f"; {why}" if why else ""
            raise ValueError(f"bad {name}={shown(value)} (accepted: {self.describe()}{reason})")
        return float(value) + 0.0  # type: ignore[arg-type]  # -0.0 + 0.0 is 0.0
