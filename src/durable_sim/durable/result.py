"""What a durable run returns: status, result, operations and metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

from aws_durable_execution_sdk_python.exceptions import SerDesError
from aws_durable_execution_sdk_python.lambda_service import (
    ErrorObject,
    OperationStatus,
    OperationType,
)
from aws_durable_execution_sdk_python.serdes import EXTENDED_TYPES_SERDES, SerDesContext

if TYPE_CHECKING:
    from durable_sim.durable.journal import Journal, OperationRecord

_STARTED, _SUCCEEDED = OperationStatus.STARTED, OperationStatus.SUCCEEDED
_STEP = OperationType.STEP

Status = Literal["SUCCEEDED", "FAILED", "PENDING"]


@dataclass
class RunMetrics:
    """Counters of one durable run. A metric an engine cannot observe is ``None``.

    ``checkpoint_ops`` counts checkpoint calls (updates batched into one call count once);
    ``checkpoint_bytes`` the UTF-8 bytes of the payloads and error objects they wrote, the data
    AWS limits per checkpoint and bills as data written.
    """

    invocations: int | None = 0
    replays: int | None = 0
    checkpoint_ops: int | None = 0
    checkpoint_bytes: int | None = 0
    steps_executed: int | None = 0
    steps_replayed: int | None = 0
    retries: int | None = 0
    failed_steps: int | None = 0
    elapsed_ms: float | None = 0.0


@dataclass(frozen=True)
class OperationView:
    """One operation as the caller sees it (results decoded to Python data).

    ``type`` and ``status`` are the SDK's ``OperationType``/``OperationStatus`` values.
    ``attempts`` is AWS's ``StepDetails.Attempt`` for a step (a condition check's included):
    how many of its attempts have ended (retried, succeeded or failed), so a step whose first
    attempt is running, or was interrupted, has 0. AWS's API reference calls it "the current
    attempt number for this step" (minimum 0); the SDK runs attempt ``Attempt + 1`` next
    (``operation/step.py``), and the official local runner adds one at each RETRY, SUCCEED and
    FAIL update, none at START (``checkpoint/processors/base.py``, ``step.py``): this follows
    them. The journal's record keeps the number of the attempt running (1 for the first). 0
    for every other operation. ``error`` is the message of the error its last update carried:
    none for a STARTED or SUCCEEDED operation (an attempt that started again, or succeeded,
    after a retry: the runner rebuilds ``StepDetails`` from each update, whose START and
    SUCCEED carry no error), the retried attempt's for a PENDING step, the failure's for a
    FAILED one.
    """

    id: str
    parent_id: str | None
    type: str
    sub_type: str
    name: str | None
    status: str
    attempts: int
    result_json: str | None = None  # the result as journaled; `result` decodes it on demand
    error: str | None = None

    @classmethod
    def of(cls, record: OperationRecord) -> OperationView:
        """The view of a journal record. Built without the frozen dataclass's ``__init__``
        (one ``object.__setattr__`` call per field): a run returns one view per operation, and
        a 10,000-step replay spent a third of its time building them that way."""
        view = object.__new__(cls)
        status = record.status
        error = None if status is _STARTED or status is _SUCCEEDED else record.error
        vars(view).update(
            id=record.id,
            parent_id=record.parent_id,
            type=record.type._value_,
            sub_type=record.sub_type or "",
            name=record.name,
            status=status._value_,
            attempts=(
                record.attempt - 1
                if status is _STARTED and record.type is _STEP
                else record.attempt
            ),
            result_json=record.result,
            error=error.get("ErrorMessage") if error else None,
        )
        return view

    @property
    def result(self) -> Any:
        """The payload decoded by the SDK's default serdes, else as plain JSON, else the raw
        text (e.g. a custom serdes' or a callback's raw payload)."""
        if self.result_json is None:
            return None
        try:
            return EXTENDED_TYPES_SERDES.deserialize(self.result_json, SerDesContext())
        except (SerDesError, ValueError):
            pass
        try:
            return json.loads(self.result_json)  # plain JSON (e.g. a chained invoke's result)
        except ValueError:
            return self.result_json


class _OperationViews:
    """The type of `DurableRun.operations`: a list of views, or a function that builds it
    (`durable_sim.durable.runtime` passes one over the run's journal records), called when the
    field is first read and then kept. A run whose operations nobody reads builds no views
    (a 10,000-step replay's took about 14 ms). ``None`` (the default) is no operations.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, run: None, owner: type | None = None) -> None: ...

    @overload
    def __get__(self, run: object, owner: type | None = None) -> list[OperationView]: ...

    def __get__(self, run: object | None, owner: type | None = None) -> list[OperationView] | None:
        if run is None:
            return None  # the field's default, for the dataclass
        held = vars(run)
        views: list[OperationView] | Callable[[], list[OperationView]] = held[self._slot]
        if callable(views):
            views = held[self._slot] = views()
        return views

    def __set__(
        self,
        run: object,
        views: list[OperationView] | Callable[[], list[OperationView]] | None,
    ) -> None:
        vars(run)[self._slot] = [] if views is None else views


@dataclass
class DurableRun:
    """The outcome of `run_durable`.

    ``journal`` is the journal a ``sim`` run wrote (its history is exported by
    `durable_sim.durable.history.export_history`); ``events`` the execution history in AWS's
    shape, for an engine that reports it itself.

    A FAILED run has two views of its error. ``error_object`` is what AWS returns as the
    ``Error`` of ``GetDurableExecution`` for a failed execution: the SDK's `ErrorObject`
    (ErrorType, ErrorMessage, ErrorData, StackTrace) that the SDK built from the exception
    (``ErrorObject.from_exception``) and checkpointed. It is the same on the first call and on
    every later call for that execution (re-invoking a finished execution reads it back from the
    journal), on every engine. ``error`` is a Python exception for raising: on the first call the
    handler's own exception object; on a later call one rebuilt from ``error_object``
    (`durable_sim.durable.runtime.rebuild_error`), which prints the same ``str()`` and has the
    original type (or, for a type that cannot print its message again from arguments, the SDK's
    `DurableOperationError` naming it) but only what the ErrorObject kept (attributes the
    handler set on its exception are not journaled, as on AWS).

    ``operations`` is a list of `OperationView`; it may be given as a function returning that
    list, which is called once, when the field is first read.
    """

    execution_id: str
    engine: str
    status: Status
    result: Any = None
    error: BaseException | None = None
    error_object: ErrorObject | None = None
    operations: _OperationViews = _OperationViews()
    metrics: RunMetrics = field(default_factory=RunMetrics)
    pending_callbacks: list[str] = field(default_factory=list)
    journal: Journal | None = None
    events: list[dict[str, Any]] | None = None

    def operation(self, name: str) -> OperationView:
        """The first operation with this name."""
        for op in self.operations:
            if op.name == name:
                return op
        names = sorted({op.name for op in self.operations if op.name})
        raise KeyError(f"no operation named {name!r} (names: {names})")
