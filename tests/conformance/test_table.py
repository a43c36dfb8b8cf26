"""Every requirement has a case, and the committed pass table is the one the cases declare.

The requirement tests are strict xfails where a difference is declared, so when this suite
passes the declared outcomes are the observed ones and the committed table is current.
"""

from __future__ import annotations

from .requirements import SUITES, requirements, suite_ids
from .table import CASES, EXCLUDED, ROOT_GENERATED, declared, render


def test_every_suite_is_checked_or_excluded_with_a_reason() -> None:
    assert set(CASES) | set(EXCLUDED) == set(SUITES)
    assert not set(CASES) & set(EXCLUDED)
    assert all(reason for reason in EXCLUDED.values())


def test_every_requirement_has_a_case_and_every_case_a_requirement() -> None:
    for suite, cases in CASES.items():
        assert sorted(cases) == sorted(suite_ids(suite)), suite


def test_the_wheel_holds_aws_published_suites() -> None:
    counts = {suite: len(suite_ids(suite)) for suite in SUITES}
    assert counts == {
        "step": 20,
        "wait": 5,
        "child": 18,
        "callback": 19,
        "invoke": 16,
        "wait_for_condition": 13,
        "wait_for_callback": 15,
        "parallel": 22,
        "map": 20,
        "plugin": 7,
    }
    assert len(requirements()) == sum(counts.values())


def test_committed_table_is_current() -> None:
    for name, text in render(declared()).items():
        path = ROOT_GENERATED / name
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `make conformance` (or `python tools/conformance.py`)"
        )
