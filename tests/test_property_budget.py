"""`property_budget.examples`: a property test's own number, a tenth of it under mutation."""

from __future__ import annotations

import pytest
from property_budget import MUTATION_FLOOR, examples


@pytest.mark.parametrize(("n", "full", "mutation"), [(1, 1, 1), (12, 12, 10), (300, 300, 30)])
def test_mutation_runs_draw_a_tenth_of_the_examples_but_never_more(
    n: int, full: int, mutation: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DURABLE_SIM_MUTATION", raising=False)
    assert examples(n) == full
    monkeypatch.setenv("DURABLE_SIM_MUTATION", "1")
    assert examples(n) == mutation
    assert examples(n) <= n and examples(n) >= min(n, MUTATION_FLOOR)


def test_a_property_test_draws_at_least_one_example() -> None:
    with pytest.raises(ValueError, match="at least 1 example, not 0"):
        examples(0)
