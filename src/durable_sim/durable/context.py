"""`DurableContext`: the AWS Durable Execution SDK's context API, on our engine.

Method names, signatures and attributes follow ``aws_durable_execution_sdk_python.DurableContext``
(``execution_context``, ``lambda_context`` (set by the runtime for each invocation), ``logger``,
``is_virtual``, ``create_child_context``, ``set_logger``, ``is_replaying``), and the SDK's own
config, result, logger and exception types are used, so one workflow module runs here, on the
official local runner, and on AWS unchanged.

Replay state belongs to each context, as in the SDK: a context starts in its creator's state and
switches to new work by itself at its own replay boundary (the first operation it reaches that
the journal does not hold as completed), so a branch doing new work does not end the replay of a
sibling branch, and ``context.logger`` (silent while its context replays) logs each line once.

Operation ids are readable and hierarchical (``"3"``, ``"3.1"``, ``"3.1.2"``: parent, then
position) where the SDK hashes the same parent-and-position pair; both are deterministic.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from aws_durable_execution_sdk_python.concurrency.models import BatchResult
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import ExecutionContext
from aws_durable_execution_sdk_python.exceptions import ValidationError
from aws_durable_execution_sdk_python.identifier import OperationIdentifier
from aws_durable_execution_sdk_python.lambda_service import OperationSubType, OperationType
from aws_durable_execution_sdk_python.logger import Logger, LogInfo
from aws_durable_execution_sdk_python.types import (
    LoggerInterface,
    StepContext,
    WaitForCallbackContext,
)
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig

from durable_sim.clock import Clock
from durable_sim.durable.errors import NonDeterminismError
from durable_sim.durable.journal import OperationRecord
from durable_sim.durable.operation import batch, callback, child, condition, invoke, step, wait
from durable_sim.durable.state import ExecutionState

T = TypeVar("T")
U = TypeVar("U")
P = TypeVar("P")
R = TypeVar("R")

_STEP = OperationType.STEP
_STEP_SUB_TYPE = OperationSubType.STEP.value  # an enum member's value is looked up per access
_CHILD_SUB_TYPE = OperationSubType.RUN_IN_CHILD_CONTEXT.value
_DEFAULT_STEP = StepConfig()


def _describe(op_type: str, sub_type: str | None, name: str | None) -> str:
    label = f"{op_type} ({sub_type})"
    return f"{label} {name!r}" if name else f"{label} without a name"


def _resolve_name(name: str | None, func: Callable[..., Any]) -> str | None:
    """The SDK's rule: an explicit name, else the name `@durable_step` and friends attach."""
    return name or getattr(func, "_original_name", None)


class _ReplayingOf:
    """A context's `DurableContext.is_replaying` for its logger, held weakly: a context and its
    logger form no reference cycle, so both go when the context goes (no garbage collection).
    A logger kept beyond its context logs (the SDK's default for a logger without one)."""

    __slots__ = ("_context",)

    def __init__(self, context: DurableContext) -> None:
        self._context = weakref.ref(context)

    def __call__(self) -> bool:
        context = self._context()
        return context is not None and context._replaying


#: The longest wait AWS accepts (s): ``WaitSeconds`` "accepts values between 1, and 31622400"
#: (aws_durable_execution_sdk_python 3.0.0, lambda_service.py, `WaitOptions`, as of 2025-10-27).
MAX_WAIT_SECONDS = 31_622_400


class DurableContext:
    """The context a durable handler receives: operations are journaled and replayed."""

    def __init__(
        self,
        state: ExecutionState,
        clock: Clock,
        *,
        parent_id: str | None = None,
        step_id_prefix: str | None = None,
        replaying: bool = False,
        logger: Logger | None = None,
        execution_context: ExecutionContext | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.execution_context = execution_context or ExecutionContext(
            durable_execution_arn=state.durable_execution_arn
        )
        # The invocation's Lambda context, built on first read (most handlers never read it)
        # from the runtime's builder, or from the parent's for a child context.
        self._lambda_context: Any = None
        self._lambda_context_of: Callable[[], Any] | None = None
        self._parent_id = parent_id
        self._prefix = step_id_prefix if step_id_prefix is not None else parent_id
        self._is_virtual = self._parent_id != self._prefix
        self._position = 0
        self._replaying = replaying
        # The logger is built on first use (most branch contexts never log), from the
        # underlying logger it wraps: the root logger, or the one `set_logger` installed.
        self._logger_base: LoggerInterface = (
            logger.get_logger() if logger is not None else logging.getLogger()
        )
        self._logger: Logger | None = (
            logger.with_is_replaying(_ReplayingOf(self)) if logger is not None else None
        )

    def _read_lambda_context(self) -> Any:
        if self._lambda_context is None and self._lambda_context_of is not None:
            self._lambda_context = self._lambda_context_of()
        return self._lambda_context

    def _set_lambda_context(self, value: Any) -> None:
        self._lambda_context, self._lambda_context_of = value, None

    lambda_context = property(
        _read_lambda_context,
        _set_lambda_context,
        doc="""The invocation's Lambda context (the AWS fields a handler may read), as set, or
        as the builder given to `set_lambda_context_builder` makes it on first read (one object
        for a context and all its children); None outside an invocation.""",
    )

    def set_lambda_context_builder(self, build: Callable[[], Any]) -> None:
        """Let `build` make the Lambda context when a handler first reads ``lambda_context``
        (here or in a child context); it is called at most once."""
        self._lambda_context, self._lambda_context_of = None, build

    @property
    def logger(self) -> Logger:
        """The SDK's `Logger` with this context's fields (execution ARN, parent id), silent
        while this context replays."""
        if self._logger is None:
            info = LogInfo(execution_state=cast(Any, self.state), parent_id=self._parent_id)
            self._logger = Logger.from_log_info(
                self._logger_base, info, is_replaying=_ReplayingOf(self)
            )
        return self._logger

    @logger.setter
    def logger(self, value: Logger) -> None:
        self._logger = value

    def _underlying_logger(self) -> LoggerInterface:
        """The logger this context's `logger` wraps (a step's logger wraps it too)."""
        return self._logger.get_logger() if self._logger is not None else self._logger_base

    # -- identity, replay and children -------------------------------------------------------

    @property
    def is_virtual(self) -> bool:
        """True for a context that checkpoints neither its start nor its end (a FLAT branch, or
        ``create_child_context(..., is_virtual=True)``): its operations report to the
        enclosing context's parent, while their ids keep this context's prefix."""
        return self._is_virtual

    def is_replaying(self) -> bool:
        """True while this context re-runs operations that the journal holds as completed."""
        return self._replaying

    def set_logger(self, new_logger: LoggerInterface) -> None:
        """Log through `new_logger`, still silent while this context replays (the SDK's API)."""
        self._logger_base = new_logger
        self._logger = None

    def create_child_context(
        self, operation_id: str, *, is_virtual: bool = False
    ) -> DurableContext:
        """A child context owned by operation `operation_id` (the SDK's factory).

        A regular child's operations have `operation_id` as parent; a virtual one's report to
        this context's parent. Both take `operation_id` as their id prefix and start in this
        context's replay state.
        """
        return self._child(operation_id, self.clock, is_virtual=is_virtual)

    def _child(
        self, operation_id: str, clock: Clock, *, is_virtual: bool = False, new: bool = False
    ) -> DurableContext:
        """A child context; `new` starts it out of replay (a branch the journal lacks)."""
        parent_id = self._parent_id if is_virtual else operation_id
        child = DurableContext(
            self.state,
            clock,
            parent_id=parent_id,
            step_id_prefix=operation_id,
            replaying=self._replaying and not new,
            execution_context=self.execution_context,
        )
        child._logger_base = self._underlying_logger()
        if self._lambda_context is not None:
            child._lambda_context = self._lambda_context
        elif self._lambda_context_of is not None:  # built by whichever context reads it first
            child._lambda_context_of = self._read_lambda_context
        return child

    def _next_id(self) -> str:
        self._position += 1
        return f"{self._prefix}.{self._position}" if self._prefix else str(self._position)

    def _identify(
        self, op_type: OperationType, sub_type: str, name: str | None, op_id: str | None = None
    ) -> OperationIdentifier:
        """Allocate the next operation of this context (or `op_id`, a branch's own id)."""
        return OperationIdentifier(
            op_id or self._next_id(), sub_type, self._parent_id, name, operation_type=op_type
        )

    def _begin(
        self, ident: OperationIdentifier, *, is_virtual: bool = False, branch: bool = False
    ) -> tuple[OperationRecord | None, bool]:
        """Look up the operation's record, check it is the same operation, and move this
        context's replay boundary as the SDK does before an operation runs.

        Returns the record and whether the context leaves replay once the operation returns
        (a resume point: a started wait, callback, invoke or child context). A map/parallel
        `branch` leaves the batch's context as it is (the SDK bypasses it for branches).
        """
        rec = self.state.operations.get(ident.operation_id)
        if rec is not None:
            if (
                rec.type is not ident.operation_type
                or rec.sub_type != ident.sub_type
                or (rec.name or None) != (ident.name or None)
                or (rec.parent_id or None) != (ident.parent_id or None)
                or is_virtual
            ):
                self._mismatch(rec, ident, is_virtual)
            terminal = rec.terminal
            if terminal:
                self.state.charge(self.clock, "replay_op", ident.operation_id)
        leave_after = False
        if self._replaying and not branch:
            if rec is None or (rec.type is _STEP and not terminal):
                self._replaying = False
            elif not terminal:
                leave_after = True
        return rec, leave_after

    def _end(self, leave_after: bool) -> None:
        """After an operation: leave replay at a resume point, or when nothing follows."""
        if not self._replaying:
            return
        if leave_after:
            self._replaying = False
            return
        following = (
            f"{self._prefix}.{self._position + 1}" if self._prefix else str(self._position + 1)
        )
        if following not in self.state.operations:
            self._replaying = False

    def _mismatch(self, rec: OperationRecord, ident: OperationIdentifier, is_virtual: bool) -> None:
        journaled = _describe(rec.type.value, rec.sub_type, rec.name)
        if is_virtual:
            new = "a virtual (FLAT) child context, which journals no record of its own"
        elif (rec.parent_id or None) != (ident.parent_id or None):
            new = (
                f"the same operation under parent {ident.parent_id!r} "
                f"(journaled under {rec.parent_id!r})"
            )
        else:
            new = _describe(ident.operation_type.value, ident.sub_type, ident.name)
        raise self.state.fail_execution(NonDeterminismError(ident.operation_id, journaled, new))

    # -- operations ----------------------------------------------------------------------

    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> T:
        """Run `func` once and checkpoint its result; on replay return the journaled result."""
        config = config or _DEFAULT_STEP
        ident = self._identify(_STEP, config.sub_type or _STEP_SUB_TYPE, _resolve_name(name, func))
        return cast(T, step.run_step(self, ident, func, config))

    def wait(self, duration: Duration, name: str | None = None) -> None:
        """Suspend the execution for `duration` (at least 1 s); no compute is held meanwhile."""
        seconds = duration.to_seconds()
        if not (
            isinstance(seconds, int | float)
            and math.isfinite(seconds)
            and 1 <= seconds <= MAX_WAIT_SECONDS
        ):
            raise ValidationError(
                f"wait duration must be a finite number of seconds from 1 to "
                f"{MAX_WAIT_SECONDS:,} (366 days), got {seconds!r} s"
            )
        ident = self._identify(OperationType.WAIT, OperationSubType.WAIT.value, name)
        wait.run_wait(self, ident, seconds)

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig | None = None,
    ) -> T:
        """Run `func` with a child context; its result is checkpointed as one operation."""
        sub_type = (config.sub_type if config else None) or _CHILD_SUB_TYPE
        ident = self._identify(OperationType.CONTEXT, sub_type, _resolve_name(name, func))
        return cast(T, child.run_in_child(self, ident, func, config or ChildConfig()))

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> BatchResult[T]:
        """Run `func(ctx, item, index, inputs)` for every item, each in its own child context."""
        if config is not None:
            config.completion_config._validate_for_total(len(inputs))
        config = config or MapConfig()
        namer = config.item_namer

        def bind(index: int, item: U) -> batch.Branch:
            return batch.Branch(
                index,
                namer(item, index) if namer else f"map-item-{index}",
                lambda ctx: func(ctx, item, index, inputs),
            )

        ident = self._identify(
            OperationType.CONTEXT, OperationSubType.MAP.value, _resolve_name(name, func)
        )
        return batch.run_batch(
            self,
            ident,
            [bind(i, item) for i, item in enumerate(inputs)],
            item_sub_type=OperationSubType.MAP_ITERATION.value,
            result_type="MapResult",
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
            serdes=config.serdes,
            item_serdes=config.item_serdes,
            summary_generator=config.summary_generator,
            nesting=config.nesting_type,
        )

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]:
        """Run each callable in its own child context, concurrently."""
        if config is not None:
            config.completion_config._validate_for_total(len(functions))
        config = config or ParallelConfig()
        branches = [
            batch.Branch(
                index,
                (fn.name if isinstance(fn, ParallelBranch) else None) or f"parallel-branch-{index}",
                fn.func if isinstance(fn, ParallelBranch) else fn,
            )
            for index, fn in enumerate(functions)
        ]
        ident = self._identify(OperationType.CONTEXT, OperationSubType.PARALLEL.value, name)
        return batch.run_batch(
            self,
            ident,
            branches,
            item_sub_type=OperationSubType.PARALLEL_BRANCH.value,
            result_type="ParallelResult",
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
            serdes=config.serdes,
            item_serdes=config.item_serdes,
            summary_generator=config.summary_generator,
            nesting=config.nesting_type,
        )

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> callback.SimCallback:
        """A callback whose id an external system uses to resume the execution."""
        config = config or CallbackConfig()
        ident = self._identify(
            OperationType.CALLBACK, config.sub_type or OperationSubType.CALLBACK.value, name
        )
        return callback.create_callback(self, ident, config)

    def wait_for_callback(
        self,
        submitter: Callable[[str, WaitForCallbackContext], None],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Any:
        """Create a callback, hand its id to `submitter` (a step), and wait for the outcome."""
        name = _resolve_name(name, submitter)
        ident = self._identify(
            OperationType.CONTEXT, OperationSubType.WAIT_FOR_CALLBACK.value, name
        )
        return callback.wait_for_callback(self, ident, submitter, name, config)

    def wait_for_condition(
        self,
        check: Callable[[T, Any], T],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> T:
        """Poll `check(state, check_context)` until the config's wait strategy stops polling;
        each poll is a checkpointed attempt and the waits between polls hold no compute."""
        if check is None:
            raise ValidationError("`check` is required for wait_for_condition")
        if not config:
            raise ValidationError("`config` is required for wait_for_condition")
        ident = self._identify(_STEP, OperationSubType.WAIT_FOR_CONDITION.value, name)
        return cast(T, condition.run_wait_for_condition(self, ident, check, config))

    def invoke(
        self,
        function_name: str,
        payload: P,
        name: str | None = None,
        config: InvokeConfig[P, R] | None = None,
    ) -> R:
        """Invoke the durable function registered as `function_name` (a chained invoke): it
        runs as its own execution, and this one resumes with its result or error."""
        ident = self._identify(
            OperationType.CHAINED_INVOKE, OperationSubType.CHAINED_INVOKE.value, name
        )
        return cast(
            R, invoke.run_invoke(self, ident, function_name, payload, config or InvokeConfig())
        )
