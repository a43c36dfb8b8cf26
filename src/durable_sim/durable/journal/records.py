"""What a journal stores: operation records, the append-only history entries, executions.

An `OperationRecord` is the state of one operation as the durable service holds it (the SDK's
``Operation``: type, status, details). A `HistoryEntry` is one transition of that state, in the
order it happened: the journal appends every entry (the history) and keeps the latest record of
each operation (what replay reads). The history export (`durable_sim.durable.history`) maps
entries to the events of AWS's ``GetDurableExecutionHistory``.

Types and statuses are the SDK's own enums (`OperationType`, `OperationStatus`), so our records
and the SDK's ``Operation`` name the same things the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.lambda_service import OperationStatus, OperationType

if TYPE_CHECKING:
    from durable_sim.durable.lease import Lease

TERMINAL = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.TIMED_OUT,
        OperationStatus.CANCELLED,
        OperationStatus.STOPPED,
    }
)
EXECUTION_STATUSES = frozenset({"RUNNING", "SUCCEEDED", "FAILED"})
_TERMINAL_IDS = frozenset(id(status) for status in TERMINAL)  # enum hashing is slow Python code

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)
class OperationRecord:
    """The journaled state of one operation (the SDK's ``Operation``, flattened).

    Records are values: never changed in place; `evolve` makes a changed copy.

    ``attempt`` is the step's current attempt (1-based; 0 before any); ``result`` the
    serialized payload (a step's, child context's, callback's or chained invoke's result, or a
    wait-for-condition state); ``error`` the SDK's ``ErrorObject`` fields. Times are clock
    milliseconds: ``start_ms``/``end_ms`` as AWS's ``StartTimestamp``/``EndTimestamp``;
    ``due_ms`` when the service acts on the operation by itself (a wait's scheduled end, a
    step's next attempt, a callback's timeout, a chained invoke's completion); for callbacks
    ``heartbeat_due_ms`` is the heartbeat deadline and ``heartbeat_timeout_s`` its period.
    ``replay_children`` marks a child context whose result was too large to store.
    ``function_name``, ``child_execution_id`` and ``input_payload`` belong to a chained
    invoke (the invoked function, the execution that runs it, its serialized input).
    """

    id: str
    parent_id: str | None
    type: OperationType
    sub_type: str | None
    name: str | None
    status: OperationStatus
    attempt: int = 0
    result: str | None = None
    error: dict[str, Any] | None = None
    start_ms: float | None = None
    end_ms: float | None = None
    due_ms: float | None = None
    callback_id: str | None = None
    heartbeat_timeout_s: int = 0
    heartbeat_due_ms: float | None = None
    replay_children: bool = False
    function_name: str | None = None
    child_execution_id: str | None = None
    input_payload: str | None = None

    @property
    def terminal(self) -> bool:
        return id(self.status) in _TERMINAL_IDS

    def evolve(self, **changes: Any) -> OperationRecord:
        new = OperationRecord(
            self.id,
            self.parent_id,
            self.type,
            self.sub_type,
            self.name,
            self.status,
            self.attempt,
            self.result,
            self.error,
            self.start_ms,
            self.end_ms,
            self.due_ms,
            self.callback_id,
            self.heartbeat_timeout_s,
            self.heartbeat_due_ms,
            self.replay_children,
            self.function_name,
            self.child_execution_id,
            self.input_payload,
        )
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; defaults are left out to keep journal rows small."""
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type.value,
            "status": self.status.value,
        }
        for f in _OPTIONAL:
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OperationRecord:
        """Inverse of `to_dict`; raises KeyError/ValueError/TypeError on malformed data."""
        values = dict(data)
        values["type"] = OperationType(values["type"])
        values["status"] = OperationStatus(values["status"])
        values.setdefault("parent_id", None)
        values.setdefault("sub_type", None)
        values.setdefault("name", None)
        return cls(**values)


_OPTIONAL = [f for f in fields(OperationRecord) if f.name not in {"id", "type", "status"}]


@dataclass(slots=True)
class HistoryEntry:
    """One transition, appended to the execution's history in the order it happened.

    ``event_type`` is the AWS history event it becomes (``"StepStarted"``,
    ``"InvocationCompleted"``, ...), or ``None`` for a state change AWS does not report
    (a retry timer making a step READY, a callback heartbeat). ``operation`` is the record
    after the transition (``None`` for execution-level events); ``details`` carries what the
    event needs beyond the record (retry delay, chained-invoke input, invocation times,
    execution input/result/error).
    """

    event_type: str | None
    at_ms: float
    operation: OperationRecord | None = None
    details: dict[str, Any] | None = None

    def to_json(self) -> str:
        return _COMPACT.encode(
            {
                "e": self.event_type,
                "t": self.at_ms,
                "op": self.operation.to_dict() if self.operation is not None else None,
                "d": self.details,
            }
        )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> HistoryEntry:
        """Inverse of `to_json` (after JSON decoding); raises KeyError/ValueError/TypeError."""
        op = data["op"]
        return cls(
            data["e"],
            data["t"],
            OperationRecord.from_dict(op) if op is not None else None,
            data["d"],
        )


@dataclass(slots=True)
class ExecutionRecord:
    """An execution: its input, its outcome once it has one, and its operations' latest state.

    ``input`` is the serialized input payload; ``result`` the serialized result; ``status`` is
    ``RUNNING``, ``SUCCEEDED`` or ``FAILED``; ``function_name`` the registered function a
    worker runs it with (``None`` if it was started without one); ``invocations`` how many
    invocations it has had so far (each InvocationCompleted entry counts one); ``lease`` the
    lease the caller took when opening it (``None`` if it took none or the execution ended).
    """

    execution_id: str
    input: str
    status: str = "RUNNING"
    result: str | None = None
    error: dict[str, Any] | None = None
    operations: dict[str, OperationRecord] = field(default_factory=dict)
    function_name: str | None = None
    invocations: int = 0
    lease: Lease | None = None


def encode_json(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is (the journal's own fields, not workflow payloads)."""
    return _COMPACT.encode(value)


INVOCATION_COMPLETED = "InvocationCompleted"


def invocations_in(entries: Sequence[HistoryEntry]) -> int:
    """How many invocations `entries` complete (the execution's invocation counter moves by it)."""
    return [entry.event_type for entry in entries].count(INVOCATION_COMPLETED)


def latest_records(entries: Sequence[HistoryEntry]) -> dict[str, OperationRecord]:
    """Each operation's last record in `entries` (what a journal keeps after appending them)."""
    return {e.operation.id: e.operation for e in entries if e.operation is not None}


def wakes(entries: Sequence[HistoryEntry]) -> bool:
    """Whether an outside party's `entries` end an operation (an answered callback): the
    execution then has something new for its next invocation."""
    return any(e.operation is not None and e.operation.terminal for e in entries)


@dataclass(frozen=True)
class RowDecoder:
    """Reads what a database journal stored (JSON text) back into records, the same way for
    every backend; `where` names the journal in errors (e.g. ``"journal /tmp/j.sqlite"``).

    Everything unreadable raises `JournalCorruptError` naming the journal and the row.
    """

    where: str

    def json(self, text: str) -> Any:
        """`text` parsed as JSON."""
        from durable_sim.durable.errors import JournalCorruptError

        try:
            return json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise JournalCorruptError(
                f"{self.where}: unreadable JSON {text[:60]!r}: {exc}"
            ) from exc

    def record(self, op_id: str, text: str) -> OperationRecord:
        """The operation record stored as `text` in the row of operation `op_id`."""
        from durable_sim.durable.errors import JournalCorruptError

        data = self.json(text)
        try:
            record = OperationRecord.from_dict(data)
        except (KeyError, ValueError, TypeError) as exc:
            raise JournalCorruptError(
                f"{self.where}: operation {op_id} is malformed: {exc!r} (a record needs an id, "
                "a type and a status of the SDK's OperationType and OperationStatus)"
            ) from exc
        if record.id != op_id:
            raise JournalCorruptError(
                f"{self.where}: the row of operation {op_id} holds operation {record.id}"
            )
        return record

    def history(self, execution_id: str, rows: Sequence[tuple[int, str]]) -> list[HistoryEntry]:
        """The history entries of `rows` (``(seq, JSON list of entries)``, in order)."""
        from durable_sim.durable.errors import JournalCorruptError

        entries: list[HistoryEntry] = []
        for seq, text in rows:
            try:
                entries += [HistoryEntry.from_data(data) for data in json.loads(text)]
            except (ValueError, KeyError, TypeError) as exc:
                raise JournalCorruptError(
                    f"{self.where}: history entry {seq} of execution {execution_id!r} is "
                    f"malformed: {exc}"
                ) from exc
        return entries

    def execution(
        self,
        execution_id: str,
        row: Sequence[Any],
        operations: dict[str, OperationRecord] | None = None,
        lease: Lease | None = None,
    ) -> ExecutionRecord:
        """The execution stored in `row` (input, status, result, error, function name,
        invocations, then any further columns)."""
        stored_input, status, result, error, function_name, invocations, *_ = row
        return ExecutionRecord(
            execution_id,
            stored_input,
            status,
            result,
            self.json(error) if error else None,
            operations or {},
            function_name,
            invocations,
            lease,
        )
