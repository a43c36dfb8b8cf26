"""Paper §4 tested: one counter actor, C concurrent clients x M messages each, in both models.

Each client sends M messages ("add 1 to the counter") one after another, with a seeded
exponential think time before each. Clients and the actor are processes on one virtual
timeline (`durable_sim.des`): their store calls and deliveries take effect in the order of
virtual time, so clients really interleave; the interleaving changes with the seed and repeats
exactly for a seed. Clients start once the actor exists, and a message's latency runs from the
moment its client decides to send it to the moment the client has its acknowledgement.

Variants (``VARIANTS``)
-----------------------
``durable``  One long-lived durable execution per actor id (execution id ``actor-<id>``) takes
             messages one at a time. It waits for each message with ``wait_for_callback``; the
             submitter step publishes the callback id in the key-value store (the "mailbox
             address"), and a client delivers a message by completing that callback
             (`send_callback_success`, AWS's ``SendDurableExecutionCallbackSuccess``, with the
             message as JSON text, parsed by the SDK's ``JsonSerDes``). The state is
             the handler's local variable, rebuilt on every invocation by replaying the
             journaled messages. A callback that another client completed first is closed:
             the delivery fails (AWS: ``CallbackTimeoutException``, "the callback ... has
             already been closed") and the client looks the address up again and retries.
``rmw``      Baseline, naive read-modify-write: ``get`` the item, ``put`` value + 1.
``cas``      Baseline, optimistic locking: ``get`` the item, conditional ``update`` on its
             ``version`` attribute; a failed condition is retried after a backoff.
``add``      Baseline, DynamoDB's atomic ``ADD``: one ``update`` per message.

Why callbacks rather than chained executions: a durable execution accepts input only at its
start and through callbacks ("External systems send callback results using the
SendDurableExecutionCallbackSuccess or SendDurableExecutionCallbackFailure Lambda APIs ... the
backend starts a new invocation to resume your function", AWS Durable Execution SDK reference,
Callback, https://docs.aws.amazon.com/durable-execution/sdk-reference/operations/callback/,
read 2026-11-29). Only callbacks keep one execution, one identity and one journal per actor
for many messages; a chain of executions (one per message, the state passed as input) would
give each message a new execution id and split the log. The journal's growth is measured
(`journal_growth`) to find which AWS limit a long-lived actor meets.

Latency model (the profile's costs): a baseline message is one warm function invocation
(``invoke``) plus its store calls; a durable delivery is a mailbox lookup (``kv_read``) plus a
Lambda API request (``invoke``); each durable invocation pays ``invoke`` and
``durable_invoke`` plus its checkpoints and replayed operations, and the first one a cold
start. Retries of a conditional write or of a delivery wait an exponential backoff with full
jitter (`ActorSpec.backoff_ms`: the scheme AWS recommends in "Exponential Backoff And
Jitter", AWS Architecture Blog, 2015,
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): base
`ActorSpec.backoff_base_ms`, cap `ActorSpec.backoff_cap_ms`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import WaitForCallbackConfig
from aws_durable_execution_sdk_python.serdes import JsonSerDes
from aws_durable_execution_sdk_python.types import WaitForCallbackContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from durable_sim.baseline import ConditionalCheckFailed, KVStore, open_store
from durable_sim.clock import VirtualClock, current_clock
from durable_sim.des import Kernel, ProcessClock
from durable_sim.durable import DurableRun, MemoryJournal, send_callback_success
from durable_sim.engines import run_durable
from durable_sim.errors import DurableSimError, validation_line
from durable_sim.latency import PROFILES, Sampler, get_profile, stable_key_hash

VARIANTS: tuple[str, ...] = ("durable", "rmw", "cas", "add")
#: The model each variant belongs to.
MODEL_OF: dict[str, str] = {
    "durable": "durable",
    "rmw": "baseline",
    "cas": "baseline",
    "add": "baseline",
}
COUNTERS = "counters"
MAILBOXES = "mailboxes"
STOP = {"op": "stop"}
#: Journaled operation types counted in a row (``journal_callbacks``, ``journal_steps``, ...).
JOURNAL_KINDS: tuple[str, ...] = ("CALLBACK", "STEP", "CONTEXT")


class ActorSpecError(DurableSimError, ValueError):
    """A bad actor experiment spec; the message names the value and the accepted range."""


class ActorSpec(BaseModel):
    """One actor run: variant, clients x messages, latency profile, think time, seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variant: Literal["durable", "rmw", "cas", "add"]
    clients: int = Field(1, ge=1, le=1024)
    messages: int = Field(10, ge=1, le=100_000, description="messages per client")
    profile: str = "aws-lambda"
    think_ms: float = Field(100.0, ge=0.0, le=3_600_000.0, description="mean think time")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    backoff_base_ms: float = Field(20.0, gt=0.0, le=60_000.0)
    backoff_cap_ms: float = Field(2_000.0, gt=0.0, le=600_000.0)
    max_attempts: int = Field(1_000, ge=1, le=1_000)

    @model_validator(mode="after")
    def _consistent(self) -> ActorSpec:
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is unknown (accepted: {sorted(PROFILES)})")
        if self.backoff_cap_ms < self.backoff_base_ms:
            raise ValueError(
                f"backoff_cap_ms={self.backoff_cap_ms} is below backoff_base_ms="
                f"{self.backoff_base_ms} (accepted: cap >= base)"
            )
        return self

    @classmethod
    def parse(cls, values: dict[str, Any]) -> ActorSpec:
        """Validate `values`; a bad one raises `ActorSpecError` with a single clear line."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ActorSpecError(f"bad actor spec: {validation_line(exc)}") from None

    @property
    def model(self) -> str:
        return MODEL_OF[self.variant]

    def backoff_ms(self, attempts_made: int, key: tuple[object, ...]) -> float:
        """The wait before the next try after `attempts_made` failed tries of the message named
        by `key`: full jitter, uniform in ``[0, min(cap, base * 2 ** (attempts_made - 1))]`` ms
        ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015), drawn from a generator
        seeded by ``(seed, key, attempts_made)`` so delays do not depend on call order.

        This is a client's own retry of a store call, in milliseconds; the SDK's step retry
        strategy (whole seconds, at least 1 s) governs durable steps, not store clients.
        """
        ceiling = min(self.backoff_base_ms * 2.0 ** (attempts_made - 1), self.backoff_cap_ms)
        rng = np.random.default_rng([self.seed, stable_key_hash(("retry", *key, attempts_made))])
        return float(rng.uniform(0.0, ceiling))


class _Retry(Exception):
    """A message attempt that must be retried (a lost race, a closed callback)."""


class ActorFailedError(DurableSimError, RuntimeError):
    """The durable actor's execution failed (it never should: the failure is a finding)."""


@dataclass
class _Tally:
    """What the clients of one run observed, summed over clients."""

    acknowledged: int = 0
    failed: int = 0
    conflicts: int = 0
    retries: int = 0
    billed_ms: float = 0.0
    latencies: list[float] = field(default_factory=list)


@dataclass
class InvocationTrace:
    """One invocation of the durable actor, as the journal stood when it returned."""

    end_ms: float
    elapsed_ms: float
    operations: int
    replayed_operations: int
    checkpoint_ops: int
    checkpoint_bytes: int
    largest_payload_bytes: int
    handled: int


@dataclass
class ActorRun:
    """The outcome of `run_actor`: one row, the message latencies, the actor's trace."""

    row: dict[str, Any]
    latencies_ms: list[float]
    trace: list[InvocationTrace]


class _Mailbox:
    """The service's side of deliveries: which callbacks were completed, who waits for one."""

    def __init__(self) -> None:
        self.completed: set[str] = set()
        self._waiting: tuple[frozenset[str], Any] | None = None
        self.ready: Any = None

    def delivered(self, clock: ProcessClock, callback_id: str) -> None:
        self.completed.add(callback_id)
        if self._waiting is not None and callback_id in self._waiting[0]:
            event, self._waiting = self._waiting[1], None
            clock.trigger(event)

    def wait_for_any(self, clock: ProcessClock, callback_ids: Iterable[str]) -> None:
        ids = frozenset(callback_ids)
        if ids & self.completed:
            return
        event = clock.event()
        self._waiting = (ids, event)
        clock.wait(event)


#: A message travels as JSON text: a callback's result comes back as the raw payload unless a
#: serdes parses it (the SDK's rule), so the actor reads it with the SDK's `JsonSerDes`.
_MESSAGE = WaitForCallbackConfig(serdes=JsonSerDes())


def actor_handler(store: KVStore, actor_id: str) -> Callable[[dict[str, Any], DurableContext], Any]:
    """The durable actor: receive a message per callback, fold it into the local state.

    Input ``{"initial": int}``; returns ``{"value": int, "handled": int}`` after a ``stop``
    message. The submitter publishes each callback id at ``mailboxes[actor_id]``.
    """

    def publish(callback_id: str, _: WaitForCallbackContext) -> None:
        store.bind(current_clock()).put(
            MAILBOXES, actor_id, {"callback_id": callback_id}, purpose="mailbox_publish"
        )

    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        value, handled = int(event["initial"]), 0
        while True:
            message = context.wait_for_callback(publish, name=f"receive-{handled}", config=_MESSAGE)
            if message["op"] == "stop":
                return {"value": value, "handled": handled}
            value += int(message["amount"])
            handled += 1

    return handler


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    p50, p99 = np.percentile(np.asarray(values, dtype=float), [50, 99])
    return float(p50), float(p99), float(np.mean(values))


class _Harness:
    """One run's shared world: kernel, store, journal, sampler and the clients' tally."""

    def __init__(self, spec: ActorSpec) -> None:
        self.spec = spec
        self.profile = get_profile(spec.profile)
        self.sampler = Sampler(self.profile, spec.seed)
        self.kernel = Kernel()
        # Every call binds the store to the calling process's clock (`store.bind(clock)`).
        self.store = open_store("memory", clock=VirtualClock(), sampler=self.sampler)
        self.journal = MemoryJournal()
        self.mailbox = _Mailbox()
        self.tally = _Tally()
        self.actor_id = "counter-0"

    # -- clients ---------------------------------------------------------------------------

    def client(self, index: int, clock: ProcessClock, ready: Any) -> None:
        clock.wait(ready)
        think = self.sampler.rng("think", index)
        for m in range(self.spec.messages):
            mean = self.spec.think_ms
            clock.charge(float(think.exponential(mean)) if mean > 0 else 0.0)
            sent = clock.now_ms()
            try:
                self.send(index, m, clock)
            except _GaveUp:
                self.tally.failed += 1
            else:
                self.tally.acknowledged += 1
                self.tally.latencies.append(clock.now_ms() - sent)

    def send(self, index: int, m: int, clock: ProcessClock) -> None:
        """One message, retried with backoff until acknowledged or out of attempts."""
        view = self.store.bind(clock)
        attempt = 1
        invoked = clock.now_ms()
        if self.spec.model == "baseline":  # one warm function invocation per message
            clock.charge(self.sampler.draw("invoke", "actor-fn", index, m))
            invoked = clock.now_ms()
        while True:
            try:
                self.attempt(view, index, m, attempt, clock)
                break
            except _Retry:
                self.tally.retries += 1
                if attempt >= self.spec.max_attempts:
                    raise _GaveUp() from None
                delay = self.spec.backoff_ms(attempt, (index, m))
                clock.sleep_until(clock.now_ms() + delay)
                attempt += 1
        if self.spec.model == "baseline":
            self.tally.billed_ms += clock.now_ms() - invoked

    def attempt(self, view: KVStore, index: int, m: int, attempt: int, clock: ProcessClock) -> None:
        variant = self.spec.variant
        key = self.actor_id
        if variant == "add":
            view.add(COUNTERS, key, "value", 1, purpose="actor_update")
        elif variant == "rmw":
            item = view.get(COUNTERS, key, purpose="actor_read")
            assert item is not None, "the counter is created before clients start"
            view.put(
                COUNTERS,
                key,
                {"value": item["value"] + 1, "version": item["version"] + 1},
                purpose="actor_update",
            )
        elif variant == "cas":
            item = view.get(COUNTERS, key, purpose="actor_read")
            assert item is not None, "the counter is created before clients start"
            try:
                view.update(
                    COUNTERS,
                    key,
                    {"value": item["value"] + 1, "version": item["version"] + 1},
                    condition={"version": item["version"]},
                    purpose="actor_update",
                )
            except ConditionalCheckFailed:
                self.tally.conflicts += 1
                raise _Retry() from None
        elif not self.deliver(view, {"op": "add", "amount": 1}, (index, m, attempt), clock):
            self.tally.conflicts += 1
            raise _Retry()

    def deliver(
        self, view: KVStore, message: dict[str, Any], key: tuple[Any, ...], clock: ProcessClock
    ) -> bool:
        """Look the actor's open callback up and complete it with `message` (one attempt).

        False if the callback was closed already (another sender completed it first).
        """
        item = view.get(MAILBOXES, self.actor_id, purpose="mailbox_lookup")
        assert item is not None, "the mailbox is published before clients start"
        clock.charge(self.sampler.draw("invoke", "callback-api", *key))
        try:
            send_callback_success(self.journal, item["callback_id"], json.dumps(message))
        except ValueError:
            return False
        self.mailbox.delivered(clock, item["callback_id"])
        return True

    # -- the durable actor and the service that re-invokes it ------------------------------

    def durable_service(self, clock: ProcessClock, ready: Any) -> dict[str, Any]:
        handler = actor_handler(self.store, self.actor_id)
        trace: list[InvocationTrace] = []
        runs: list[DurableRun] = []
        replayed = resumption = 0
        engine_seed = int(self.sampler.rng("engine").integers(2**32))
        while True:
            # Each call of run_durable is the service resuming the execution once a delivery
            # woke it (it invokes again by itself while deliveries keep arriving). The engine
            # keys its invocation draws by the execution's own invocation count, kept in the
            # journal, and only the execution's first invocation is cold.
            run = run_durable(
                handler,
                {"initial": 0},
                journal=self.journal,
                clock=clock,
                profile=self.profile,
                execution_id=f"actor-{self.actor_id}",
                seed=engine_seed,
            )
            runs.append(run)
            trace.append(_trace(run, clock.now_ms(), replayed))
            replayed = len(run.operations)
            if resumption == 0:
                clock.trigger(ready)
            if run.status == "SUCCEEDED":
                return {"result": run.result, "runs": runs, "trace": trace}
            if run.status == "FAILED":
                raise ActorFailedError(f"the durable actor failed: {run.error!r}")
            self.mailbox.wait_for_any(clock, run.pending_callbacks)
            resumption += 1

    def stopper(self, clock: ProcessClock, clients: list[Any]) -> None:
        for done in clients:
            clock.wait(done)
        view = self.store.bind(clock)
        for attempt in itertools.count(1):  # every client is done: nothing competes for long
            if self.deliver(view, STOP, ("stop", attempt), clock):
                return
            delay = self.spec.backoff_ms(attempt, ("stop",))
            clock.sleep_until(clock.now_ms() + delay)


class _GaveUp(Exception):
    """A message whose every attempt failed (reported, never counted as acknowledged)."""


def _trace(run: DurableRun, end_ms: float, replayed: int) -> InvocationTrace:
    m = run.metrics
    handled = sum(1 for op in run.operations if op.type == "CALLBACK" and op.status == "SUCCEEDED")
    payloads = [len(op.result_json.encode()) for op in run.operations if op.result_json]
    return InvocationTrace(
        end_ms=end_ms,
        elapsed_ms=float(m.elapsed_ms or 0.0),
        operations=len(run.operations),
        replayed_operations=replayed,
        checkpoint_ops=int(m.checkpoint_ops or 0),
        checkpoint_bytes=int(m.checkpoint_bytes or 0),
        largest_payload_bytes=max(payloads, default=0),
        handled=handled,
    )


def run_actor(spec: ActorSpec) -> ActorRun:
    """Run one actor experiment: `spec.clients` clients x `spec.messages` messages each.

    Returns the run's row, every acknowledged message's latency (ms) and, for the durable
    variant, one `InvocationTrace` per actor invocation. The row carries the labels (``phase``
    "actor", ``model``, ``variant``, ``clients``, ...), the outcome (``acknowledged``,
    ``failed_messages``, ``handled``, ``final_value``, ``lost_updates`` = acknowledged minus
    applied, ``ok``), the contention (``conflicts``: failed conditional writes or closed
    callbacks; ``retries``), latency (``latency_p50_ms``, ``latency_p99_ms``,
    ``latency_mean_ms``; ``time_ms`` is the run's makespan), the store's counters
    (`StoreCounters.as_row`), the durable runtime's (``checkpoint_ops``, ``checkpoint_bytes``,
    ``invocations``, ``replays``, ``durable_operations``, ``journal_*s``) and the cost model's
    usage columns (``billed_ms``, ``s3_*_requests``; see `durable_sim.cost`).
    """
    h = _Harness(spec)
    kernel = h.kernel
    ready = kernel.env.event()
    service = None
    if spec.model == "durable":
        service = kernel.spawn("actor", lambda clock: h.durable_service(clock, ready))
    else:

        def create(clock: ProcessClock) -> None:
            h.store.bind(clock).put(
                COUNTERS, h.actor_id, {"value": 0, "version": 0}, purpose="actor_create"
            )
            clock.trigger(ready)

        kernel.spawn("create", create)
    client_done = []
    for i in range(spec.clients):
        done = kernel.env.event()
        client_done.append(done)

        def body(clock: ProcessClock, i: int = i, done: Any = done) -> None:
            h.client(i, clock, ready)
            clock.trigger(done)

        kernel.spawn(f"client-{i}", body)
    if service is not None:
        kernel.spawn("stop", lambda clock: h.stopper(clock, client_done))
    kernel.run()
    counters = h.store.counters
    tally = h.tally
    trace: list[InvocationTrace] = []
    if service is not None:
        outcome = service.value
        final = int(outcome["result"]["value"])
        handled = int(outcome["result"]["handled"])
        runs: list[DurableRun] = outcome["runs"]
        trace = outcome["trace"]
        durable = {
            "checkpoint_ops": sum(int(r.metrics.checkpoint_ops or 0) for r in runs),
            "checkpoint_bytes": sum(int(r.metrics.checkpoint_bytes or 0) for r in runs),
            "invocations": sum(int(r.metrics.invocations or 0) for r in runs),
            "replays": sum(int(r.metrics.replays or 0) for r in runs),
            "durable_operations": len(runs[-1].operations),
            **{
                f"journal_{kind.lower()}s": sum(op.type == kind for op in runs[-1].operations)
                for kind in JOURNAL_KINDS
            },
            "billed_ms": sum(float(r.metrics.elapsed_ms or 0.0) for r in runs),
        }
    else:
        item = h.store.bind(VirtualClock()).get(COUNTERS, h.actor_id)  # after the counts
        assert item is not None
        final = int(item["value"])
        handled = tally.acknowledged
        durable = {
            "checkpoint_ops": 0,
            "checkpoint_bytes": 0,
            "invocations": tally.acknowledged + tally.failed,
            "replays": 0,
            "durable_operations": 0,
            **{f"journal_{kind.lower()}s": 0 for kind in JOURNAL_KINDS},
            "billed_ms": tally.billed_ms,
        }
    p50, p99, mean = _percentiles(tally.latencies)
    lost = tally.acknowledged - final
    row = {
        "phase": "actor",
        "model": spec.model,
        "variant": spec.variant,
        "engine": "sim" if spec.model == "durable" else "baseline",
        "clock": "virtual",
        "profile": spec.profile,
        "seed": spec.seed,
        "clients": spec.clients,
        "messages_per_client": spec.messages,
        "messages": spec.clients * spec.messages,
        "acknowledged": tally.acknowledged,
        "failed_messages": tally.failed,
        "handled": handled,
        "final_value": final,
        "lost_updates": lost,
        "conflicts": tally.conflicts,
        "retries": tally.retries,
        "time_ms": kernel.now_ms,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_mean_ms": mean,
        **counters.as_row(),
        **durable,
        "s3_put_requests": 0,
        "s3_get_requests": 0,
        "ok": lost == 0 and tally.failed == 0,
    }
    return ActorRun(row=row, latencies_ms=list(tally.latencies), trace=trace)


def actor_rows(specs: Iterable[ActorSpec]) -> pd.DataFrame:
    """One row per spec (run ids in spec order); see `run_actor`."""
    rows = [{"run_id": i, **run_actor(spec).row} for i, spec in enumerate(specs)]
    if not rows:
        raise ActorSpecError("bad actor specs: none given (accepted: one or more ActorSpec)")
    return pd.DataFrame(rows)


def journal_growth(spec: ActorSpec) -> pd.DataFrame:
    """How the durable actor's journal grows, one row per resumption of the actor's execution
    in a run of `spec` (a resumption takes every message delivered while it runs).

    Columns: ``messages`` (callbacks completed so far, the stop message included), ``operations``
    (journaled), ``journal_bytes`` (payload bytes checkpointed so far, as `RunMetrics` counts
    them), ``replayed_operations`` (replayed by that invocation), ``largest_payload_bytes``
    (largest journaled result), ``invocation_ms`` and ``time_ms`` (virtual time at its end).
    Raises `ActorSpecError` for a baseline variant.
    """
    if spec.model != "durable":
        raise ActorSpecError(
            f"bad variant {spec.variant!r} for journal growth (accepted: 'durable')"
        )
    trace = run_actor(spec).trace
    written = np.cumsum([t.checkpoint_bytes for t in trace])
    return pd.DataFrame(
        {
            "messages": [t.handled for t in trace],
            "operations": [t.operations for t in trace],
            "journal_bytes": written.astype(int),
            "replayed_operations": [t.replayed_operations for t in trace],
            "largest_payload_bytes": [t.largest_payload_bytes for t in trace],
            "invocation_ms": [t.elapsed_ms for t in trace],
            "time_ms": [t.end_ms for t in trace],
        }
    )
