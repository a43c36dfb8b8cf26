"""`DurableContext`: the AWS Durable Execution SDK's context API, on our engine.

Method names and signatures follow ``aws_durable_execution_sdk_python.DurableContext``, and the
SDK's own config, result and exception types are used, so one workflow module runs here, on the
official local runner, and on AWS unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aws_durable_execution_sdk_python.concurrency.models import BatchResult
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.types import StepContext, WaitForCallbackContext

from durable_sim.clock import Clock
from durable_sim.durable.errors import NonDeterminismError
from durable_sim.durable.journal import OperationRecord
from durable_sim.durable.operation import batch, callback, child, step, wait
from durable_sim.durable.state import ExecutionState

T = TypeVar("T")
U = TypeVar("U")

_WORKFLOW_LOG = logging.getLogger("durable_sim.workflow")


class ReplayAwareLogger:
    """A logger that stays silent while the context replays, so each line is logged once."""

    def __init__(self, state: ExecutionState, logger: logging.Logger = _WORKFLOW_LOG) -> None:
        self._state = state
        self._logger = logger

    def _log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self._state.replaying:
            extra = {"execution_id": self._state.execution_id, **kwargs.pop("extra", {})}
            self._logger.log(level, msg, *args, extra=extra, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, *args, exc_info=True, **kwargs)


def _describe(op_type: str, sub_type: str, name: str | None) -> str:
    return f"{op_type} ({sub_type}) {name!r}" if name else f"{op_type} ({sub_type}) without a name"


def _resolve_name(name: str | None, func: Callable[..., Any]) -> str | None:
    """The SDK's rule: an explicit name, else the name `@durable_step` and friends attach."""
    return name or getattr(func, "_original_name", None)


class DurableContext:
    """The context a durable handler receives: operations are journaled and replayed."""

    def __init__(
        self,
        state: ExecutionState,
        clock: Clock,
        parent_id: str | None = None,
        logger: ReplayAwareLogger | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.parent_id = parent_id
        self.logger = logger or ReplayAwareLogger(state)
        self._position = 0

    # -- identity and replay -------------------------------------------------------------

    def _next_id(self) -> str:
        self._position += 1
        return f"{self.parent_id}.{self._position}" if self.parent_id else str(self._position)

    def _child(self, op_id: str, clock: Clock) -> DurableContext:
        return DurableContext(self.state, clock, op_id, self.logger)

    def _begin(
        self, op_type: str, sub_type: str, name: str | None, *, op_id: str | None = None
    ) -> tuple[str, OperationRecord | None]:
        """Claim the next operation id and return its journaled record, checking determinism."""
        op_id = op_id or self._next_id()
        rec = self.state.get(op_id)
        if rec is None or (not rec.terminal and rec.type != "CONTEXT"):
            self.state.replaying = False  # new work (a started child still replays its ops)
        elif rec.terminal:
            self.state.visit_replayed(op_id)
        if rec is None:
            return op_id, rec
        if (rec.type, rec.sub_type, rec.name) != (op_type, sub_type, name):
            raise self.state.fail(
                NonDeterminismError(
                    op_id,
                    _describe(rec.type, rec.sub_type, rec.name),
                    _describe(op_type, sub_type, name),
                )
            )
        if rec.terminal:
            self.clock.charge(self.state.sampler.draw("replay_op", op_id))
        return op_id, rec

    def is_replaying(self) -> bool:
        """True while the handler is re-running operations that the journal already holds."""
        return self.state.replaying

    # -- operations ----------------------------------------------------------------------

    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> T:
        """Run `func` once and checkpoint its result; on replay return the journaled result."""
        return step.run_step(self, func, _resolve_name(name, func), config or StepConfig())

    def wait(self, duration: Duration, name: str | None = None) -> None:
        """Suspend the execution for `duration`; no compute is held meanwhile."""
        wait.run_wait(self, duration, name)

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> T:
        """Run `func` with a child context; its result is checkpointed as one operation."""
        sub_type = (config.sub_type if config else None) or "RunInChildContext"
        return child.run_child(self, func, _resolve_name(name, func), sub_type)

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> BatchResult[T]:
        """Run `func(ctx, item, index, inputs)` for every item, each in its own child context."""
        config = config or MapConfig()
        config.completion_config._validate_for_total(len(inputs))
        namer = config.item_namer

        def branch(index: int, item: U) -> batch.Branch:
            return (
                namer(item, index) if namer else f"map-item-{index}",
                lambda ctx: func(ctx, item, index, inputs),
            )

        return batch.run_batch(
            self,
            [branch(i, item) for i, item in enumerate(inputs)],
            name=_resolve_name(name, func),
            sub_type="Map",
            item_sub_type="MapIteration",
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
        )

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]:
        """Run each callable in its own child context, concurrently."""
        config = config or ParallelConfig()
        config.completion_config._validate_for_total(len(functions))
        branches: list[batch.Branch] = []
        for index, fn in enumerate(functions):
            default = f"parallel-branch-{index}"
            if isinstance(fn, ParallelBranch):
                branches.append((fn.name or _resolve_name(None, fn.func) or default, fn.func))
            else:
                branches.append((_resolve_name(None, fn) or default, fn))
        return batch.run_batch(
            self,
            branches,
            name=name,
            sub_type="Parallel",
            item_sub_type="ParallelBranch",
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
        )

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> callback.SimCallback:
        """A callback whose id an external system uses to resume the execution."""
        return callback.create_callback(self, name, config or CallbackConfig())

    def wait_for_callback(
        self,
        submitter: Callable[[str, WaitForCallbackContext], None],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Any:
        """Create a callback, hand its id to `submitter` (a step), and wait for the outcome."""
        return callback.wait_for_callback(self, submitter, _resolve_name(name, submitter), config)
