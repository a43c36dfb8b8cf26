"""What the map and parallel handlers return about a batch: AWS's projection of a `BatchResult`."""

from __future__ import annotations

import json
from typing import Any

from aws_durable_execution_sdk_python.concurrency.models import BatchResult
from aws_durable_execution_sdk_python.serdes import SerDes, SerDesContext

PROJECTION = {
    "completionReason": lambda b: b.completion_reason.value,
    "status": lambda b: b.status.value,
    "successCount": lambda b: b.success_count,
    "failureCount": lambda b: b.failure_count,
    "totalCount": lambda b: b.total_count,
}


def project(batch: BatchResult[Any], *fields: str) -> dict[str, Any]:
    """The named fields of `batch`, by AWS's names (``completionReason``, ``successCount``...)."""
    return {name: PROJECTION[name](batch) for name in fields}


def fail(ctx: Any, *_: Any) -> Any:
    """A branch (or map item) that always fails."""
    raise RuntimeError("this branch fails")


class WrappingSerDes(SerDes[Any]):
    """Writes a value as ``{"wrapped": value}`` and reads the envelope back to the value."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        return json.dumps({"wrapped": value})

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        return json.loads(data)["wrapped"]
