"""How many examples a property test draws: its own number, or a tenth of it under mutation.

Each property test states its number through `examples` (``max_examples=examples(300)``).
Mutation testing (``tools/mutate.py``) runs the tests covering a function once for every
mutant of it, hundreds of times per module, and sets ``DURABLE_SIM_MUTATION=1`` for those runs:
each property test then draws a tenth of its number, and at least `MUTATION_FLOOR`. Fewer
examples can only let a mutant survive that more would kill, never the reverse, so the score a
mutation run prints is a lower bound of what the full suite would give.
"""

from __future__ import annotations

import os

#: The fewest examples a property test draws under mutation testing.
MUTATION_FLOOR = 10


def examples(n: int) -> int:
    """`n` (>= 1), or ``max(MUTATION_FLOOR, n // 10)`` when ``DURABLE_SIM_MUTATION`` is ``1``.

    Raises `ValueError` naming `n` when it is below 1.
    """
    if n < 1:
        raise ValueError(f"a property test draws at least 1 example, not {n}")
    if os.environ.get("DURABLE_SIM_MUTATION") == "1":
        return min(n, max(MUTATION_FLOOR, n // 10))
    return n
