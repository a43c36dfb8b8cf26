"""Property: faults and crashes never change a workflow's result, nor re-run a finished step.

Random workflows (steps, waits, nested child contexts, map and parallel) run with injected step
failures and crashes after random checkpoints; each crash is followed by a rerun on the same
journal and execution id. Every run must end with the fault-free result, and each step body
must complete exactly once: a body can only run again if its earlier run did not reach its
SUCCEEDED checkpoint, and no crash point lies between a body's return and that checkpoint.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import (
    Duration,
    MapConfig,
    ParallelConfig,
    StepConfig,
)
from aws_durable_execution_sdk_python.retries import (
    JitterStrategy,
    RetryStrategyConfig,
    create_retry_strategy,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim import FaultPlan, MemoryJournal, SimulatedCrash, run_durable

MAX_ATTEMPTS = 8
RETRY = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=MAX_ATTEMPTS,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1.5,
            jitter_strategy=JitterStrategy.FULL,
        )
    )
)

PROPERTY = settings(
    max_examples=examples(80),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Node = tuple[Any, ...]

leaf = st.one_of(
    st.just(("step",)),
    st.tuples(st.just("wait"), st.integers(1, 90)),
)


def _extend(children: st.SearchStrategy[list[Node]]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.tuples(st.just("child"), children),
        st.tuples(st.just("map"), st.integers(1, 4), st.sampled_from([None, 1, 2])),
        st.tuples(st.just("parallel"), st.lists(children, min_size=1, max_size=3)),
    )


node: st.SearchStrategy[Node] = st.recursive(
    leaf, lambda inner: _extend(st.lists(inner, min_size=1, max_size=3)), max_leaves=12
)
workflows = st.lists(node, min_size=1, max_size=6)


def value_of(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=2).digest(), "little")


class Interpreter:
    """Runs a workflow tree on a context; step bodies count completions per step key."""

    def __init__(self, workflow: list[Node]) -> None:
        self.workflow = workflow
        self.completed: Counter[str] = Counter()

    def handler(self, event: Any, ctx: DurableContext) -> Any:
        return self.run_seq(ctx, self.workflow, "r")

    def run_seq(self, ctx: DurableContext, nodes: list[Node], path: str) -> list[Any]:
        return [self.run_node(ctx, n, f"{path}.{i}") for i, n in enumerate(nodes)]

    def step_body(self, key: str) -> Any:
        def body(_: Any) -> int:
            self.completed[key] += 1
            return value_of(key)

        return body

    def run_node(self, ctx: DurableContext, n: Node, key: str) -> Any:
        kind = n[0]
        if kind == "step":
            return ctx.step(self.step_body(key), name=key, config=RETRY)
        if kind == "wait":
            ctx.wait(Duration.from_seconds(n[1]))
            return n[1]
        if kind == "child":
            return ctx.run_in_child_context(lambda c: self.run_seq(c, n[1], key), name=key)
        if kind == "map":
            items = list(range(n[1]))

            def item(c: DurableContext, x: int, i: int, xs: Any) -> int:
                return c.step(self.step_body(f"{key}.m{x}"), name=f"{key}.m{x}", config=RETRY)

            config = MapConfig(max_concurrency=n[2])
            return ctx.map(items, item, name=key, config=config).get_results()
        branches = [
            (lambda c, b=b, j=j: self.run_seq(c, b, f"{key}.p{j}")) for j, b in enumerate(n[1])
        ]
        config = ParallelConfig(max_concurrency=2)
        return ctx.parallel(branches, name=key, config=config).get_results()


def expected(nodes: list[Node], path: str = "r") -> list[Any]:
    out: list[Any] = []
    for i, n in enumerate(nodes):
        key = f"{path}.{i}"
        if n[0] == "step":
            out.append(value_of(key))
        elif n[0] == "wait":
            out.append(n[1])
        elif n[0] == "child":
            out.append(expected(n[1], key))
        elif n[0] == "map":
            out.append([value_of(f"{key}.m{x}") for x in range(n[1])])
        else:
            out.append([expected(b, f"{key}.p{j}") for j, b in enumerate(n[1])])
    return out


def step_keys(result: Any) -> int:
    return sum(step_keys(r) for r in result) if isinstance(result, list) else 1


@PROPERTY
@given(workflow=workflows, seed=st.integers(0, 2**16))
def test_fault_free_run_matches_the_model(workflow: list[Node], seed: int) -> None:
    interp = Interpreter(workflow)
    run = run_durable(interp.handler, None, seed=seed)
    assert (run.status, run.result) == ("SUCCEEDED", expected(workflow))
    assert set(interp.completed.values()) <= {1}


@PROPERTY
@given(
    workflow=workflows,
    crashes=st.lists(st.integers(1, 6), max_size=4),
    failing=st.lists(st.integers(0, 40), max_size=6),
    probability=st.sampled_from([0.0, 0.0, 0.2, 0.4]),
    seed=st.integers(0, 2**16),
)
def test_faults_and_crashes_do_not_change_the_result(
    workflow: list[Node],
    crashes: list[int],
    failing: list[int],
    probability: float,
    seed: int,
) -> None:
    reference = Interpreter(workflow)
    clean = run_durable(reference.handler, None)
    keys = sorted(reference.completed)
    # Fail some steps (by name) on early attempts, below the retry limit.
    step_failures = {keys[i % len(keys)]: {1, 2} for i in failing} if keys else {}

    interp = Interpreter(workflow)
    journal = MemoryJournal()
    crashed = 0
    for k in [*crashes, None]:
        faults = FaultPlan(
            seed=seed,
            step_failures=step_failures,
            failure_probability=probability,
            crash_after_checkpoint=k,
            crash_mode="raise",
        )
        try:
            run = run_durable(
                interp.handler, None, journal=journal, execution_id="prop", faults=faults
            )
        except SimulatedCrash:
            crashed += 1
            continue
        assert (run.status, run.result) == (clean.status, clean.result)
    assert run.status == "SUCCEEDED"
    assert run.result == expected(workflow)
    # Each step body completed exactly once across all the runs and crashes.
    assert interp.completed == reference.completed
    assert set(interp.completed.values()) <= {1}
    assert len(interp.completed) == len(keys)
