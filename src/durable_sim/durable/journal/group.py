"""Group commit: appends that arrive while a commit is in flight go together in the next one.

Concurrent branches of a map or parallel each checkpoint (an ``append``) from their own thread,
and each ``append`` must be durable before it returns. Committing them one by one pays one
durable commit (an fsync, or a server round trip and a WAL flush) each. Here the first caller
becomes the leader and commits what is queued; callers that arrive meanwhile queue up and the
next leader commits all of them in one transaction: one durable commit per batch, and every
caller still returns only once its own append is durable (or has failed). Nobody waits to
collect a batch, so a lone caller commits at once, and a batch never holds an append longer
than one commit.

A batch stays within the limits AWS puts on one checkpoint call, as the SDK's batcher does
(``CheckpointBatcherConfig``: at most 250 operation updates and 750 KB per call; an append is
never split, so a single larger append is committed alone). AWS's third limit, 1 s of
collecting, is not a timer here: a batch collects only while the previous commit runs, which
stays under 1 s as long as one commit does (a database that stalls longer stalls the batch).

What a crash can lose is therefore what it loses without group commit: the appends whose callers
have not returned yet. An at-most-once step's START is an append its caller waits for before it
runs the body, so it is durable first; an at-least-once step whose completion was in the batch
that did not commit runs again in the next invocation.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from durable_sim.durable.journal.records import (
    HistoryEntry,
    encode_json,
    invocations_in,
    latest_records,
    wakes,
)

if TYPE_CHECKING:
    from durable_sim.durable.lease import Lease

#: AWS's limits on one checkpoint call (the SDK's CheckpointBatcherConfig defaults).
MAX_BATCH_OPERATIONS = 250
MAX_BATCH_BYTES = 750 * 1024


@dataclass
class Append:
    """One caller's append, encoded once: the history row (`entries_json`, the entries as a
    JSON list), each operation's new record (`records`: op id -> (record JSON, terminal)),
    how many invocations it completes, and whether it wakes the execution (an outside party
    ended an operation). `error` is set if it failed (then nothing of it was written)."""

    execution_id: str
    lease: Lease | None
    entries: Sequence[HistoryEntry]
    entries_json: str
    records: dict[str, tuple[str, bool]]
    invocations: int
    wake: bool
    done: bool = False
    error: BaseException | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.entries_json)

    @classmethod
    def of(cls, execution_id: str, entries: Sequence[HistoryEntry], lease: Lease | None) -> Append:
        """The append of `entries` (one checkpoint's, in order) to `execution_id`, under `lease`
        (``None``: the outside world's write), encoded for one ``INSERT`` of the history row
        and one upsert per operation record."""
        records = {
            op_id: (encode_json(rec.to_dict()), rec.terminal)
            for op_id, rec in latest_records(entries).items()
        }
        return cls(
            execution_id,
            lease,
            entries,
            "[" + ",".join(entry.to_json() for entry in entries) + "]",
            records,
            invocations_in(entries),
            lease is None and wakes(entries),
        )


class GroupCommit:
    """Leader/follower group commit of `Append`s through `commit`.

    `commit(batch)` writes the batch in one transaction, setting ``error`` on each append it
    refuses (fenced, closed) and writing the others; if it raises, every append of the batch
    failed with that error. With `enabled` False every append commits alone (one durable
    commit per checkpoint). `commits` counts the durable commits made.
    """

    def __init__(
        self,
        commit: Callable[[list[Append]], None],
        *,
        enabled: bool = True,
        max_operations: int = MAX_BATCH_OPERATIONS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._commit = commit
        self.enabled = enabled
        self.max_operations = max_operations
        self.max_bytes = max_bytes
        self.commits = 0
        self._queue: deque[Append] = deque()
        self._busy = False
        self._cv = threading.Condition()

    def submit(self, append: Append) -> None:
        """Commit `append` (alone or with others); return once it is durable, or raise its
        error."""
        self.enqueue(append)
        self.wait(append)

    def enqueue(self, append: Append) -> None:
        """Queue `append` behind every append queued before it (appends commit in this order)."""
        with self._cv:
            self._queue.append(append)

    def wait(self, append: Append) -> None:
        """Return once the queued `append` is durable (committing it, and those queued with it,
        if no commit is in flight); raise its error if it failed."""
        with self._cv:
            while not append.done:
                if self._busy:
                    self._cv.wait()
                    continue
                self._busy = True
                batch = self._take()
                self._cv.release()
                try:
                    self._run(batch)
                finally:
                    self._cv.acquire()
                    self._busy = False
                    self._cv.notify_all()
        if append.error is not None:
            raise append.error

    def _take(self) -> list[Append]:
        """The oldest queued appends that fit one batch (at least one)."""
        batch = [self._queue.popleft()]
        if not self.enabled:
            return batch
        operations, size = len(batch[0].entries), batch[0].size
        while self._queue:
            nxt = self._queue[0]
            if (
                operations + len(nxt.entries) > self.max_operations
                or size + nxt.size > self.max_bytes
            ):
                break
            batch.append(self._queue.popleft())
            operations += len(nxt.entries)
            size += nxt.size
        return batch

    def _run(self, batch: list[Append]) -> None:
        try:
            self._commit(batch)
            self.commits += 1
        except BaseException as exc:
            for append in batch:
                if append.error is None:
                    append.error = exc
        for append in batch:
            append.done = True
