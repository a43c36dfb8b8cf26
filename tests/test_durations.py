"""The one check of every duration a caller gives: what it accepts, refuses and how it says so."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim.durations import Seconds, shown

RANGES = [
    Seconds(0.0),
    Seconds(0.0, low_open=True),
    Seconds(0.1),
    Seconds(1.0, 2**31 - 1),
    Seconds(0.0, 2_147_483, unit="ms"),
]

NUMPY_KINDS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.float16, np.float32, np.float64]

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers().map(lambda i: i * 10**400),  # beyond a float
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.sampled_from([-0.0, 0.0, 0.1, 1, 2**31 - 1, 2**31, 10**400, -(10**400)]),
    st.tuples(st.sampled_from(NUMPY_KINDS), st.integers(0, 100)).map(lambda t: t[0](t[1])),
)


def _reference(accepted: Seconds, value: Any) -> bool:
    """Whether `value` is in `accepted`: a real number, no boolean, whose float is finite and in
    range (written independently of the module: by type, then by float)."""
    if isinstance(value, bool | np.bool_ | str | bytes | complex | list) or value is None:
        return False
    try:
        number = float(value)
    except OverflowError:
        return False
    if not math.isfinite(number):
        return False
    above = number > accepted.low if accepted.low_open else number >= accepted.low
    return above and number <= accepted.high


@settings(max_examples=400, derandomize=True, deadline=None)
@given(accepted=st.sampled_from(RANGES), value=numbers)
def test_a_duration_is_accepted_exactly_when_it_is_a_finite_real_number_in_range(
    accepted: Seconds, value: Any
) -> None:
    expected = _reference(accepted, value)
    assert accepted.contains(value) is expected
    if expected:
        checked = accepted.check("x_s", value)
        assert type(checked) is float and checked == float(value)
        assert checked != 0 or math.copysign(1.0, checked) == 1.0  # -0.0 is stored as 0.0
    else:
        with pytest.raises(ValueError) as info:
            accepted.check("x_s", value)
        message = str(info.value)
        assert message.startswith(f"bad x_s={shown(value)} (accepted: {accepted.describe()})")
        assert len(message) < 120  # never every digit of a huge number


@pytest.mark.parametrize("kind", NUMPY_KINDS)
def test_numpy_numbers_are_durations_like_python_ones(kind: type) -> None:
    """`np.float64(5)` was accepted where `np.int64(5)` was refused."""
    assert Seconds(1.0, 10.0).check("timeout_s", kind(5)) == 5.0


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), "5", None, b"5", [5], 5j])
def test_what_is_no_real_number_is_refused(bad: Any) -> None:
    accepted = r"\(accepted: a finite number of seconds >= 0\)$"
    with pytest.raises(ValueError, match=rf"^bad t=.* {accepted}"):
        Seconds(0.0).check("t", bad)


def test_minus_zero_is_zero() -> None:
    for value in (-0.0, np.float64(-0.0), np.float32(-0.0)):
        checked = Seconds(0.0).check("t", value)
        assert checked == 0.0 and math.copysign(1.0, checked) == 1.0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**400, "1.000e+400"),
        (-(10**400), "-1.000e+400"),
        (12345678901234567890, "12345678901234567890"),
        (123456789012345678901, "1.234e+20"),
        (Fraction(10**400, 3), "3.333e+399"),
        (np.int64(7), "7"),
        (np.float64(0.5), "0.5"),
        (float("nan"), "nan"),
        ("x" * 100, "'xxxxxxxxxxxxxxxxxxxx..."),
    ],
)
def test_a_value_is_shown_briefly(value: Any, text: str) -> None:
    assert shown(value) == text


def test_a_range_says_why_it_is_what_it_is() -> None:
    with pytest.raises(ValueError) as info:
        Seconds(0.1).check("lease_s", 0.01, "a renewal must land first")
    assert str(info.value) == (
        "bad lease_s=0.01 (accepted: a finite number of seconds >= 0.1; a renewal must land first)"
    )
