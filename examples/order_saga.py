"""An order saga in both models: a workload written the way a user of durable-sim writes one.

The saga (one order per run)::

    reserve inventory -> charge the card -> cooling-off wait -> warehouse confirms shipment
                                                                (a callback)

If a forward step fails (the inventory service stays unavailable, the card is declined or the
charge stays unavailable, the warehouse rejects the shipment), the steps that completed are
undone in reverse order: ``refund`` (of the charge), then ``release`` (of the reservation).
Each compensation is retried like any other service call; one that still fails after every
attempt leaves the order ``stuck`` for an operator (the durable execution fails with its error).

Outcomes (the ``outcome`` column): ``completed`` (shipped, nothing undone), ``compensated``
(a step failed and every completed step was undone), ``stuck`` (a compensation gave up).

The two models run against the same simulated outside world (`Services`):

* durable (`order_saga_handler`): one durable function written with the AWS Durable Execution
  SDK: two steps, a ``wait``, a ``wait_for_callback`` whose answer the warehouse sends (on our
  engine: a responder, `warehouse_responder`), and compensation steps in an ``except`` block.
  The list of compensations owed is a local variable, rebuilt by replay.
* baseline (`run_baseline_order_saga`): stateless functions that keep the order in the
  key-value store (the status, the steps done and undone; each transition a conditional
  write), invoked one after another by the platform: a scheduler starts the shipment function
  after the cooling-off, and that function polls the shipment record that the warehouse's
  webhook writes, as the paper's baseline coordinator polls.

What goes wrong in a run is drawn once from its seed (`FailurePlan.draw`), so the two models
of one run index meet the same failures and must end in the same state (the ``output_digest``
of `Services.final_state`); `FailurePlan.expected` says, from the plan alone, which outcome and
which compensations a correct saga has, and each runner reports ``ok`` only if the run agrees.

The workload's own parameters are `SagaOptions` (``ExperimentSpec(options=...)``, the CLI's
``--options NAME=VALUE``); its rows carry them and the columns ``outcome``, ``failed_step`` and
``compensations`` (the compensations the services performed, in order, joined by ``>``).
Registered at import as ``order-saga`` (`ORDER_SAGA`), so spawned workers (``jobs > 1``) and
``durable-sim --import examples.order_saga run order-saga ...`` find it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import (
    Duration,
    JitterStrategy,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import CallbackError, StepError
from aws_durable_execution_sdk_python.retries import (
    RetryDecision,
    RetryStrategyConfig,
    create_retry_strategy,
)
from aws_durable_execution_sdk_python.serdes import JsonSerDes
from pydantic import BaseModel, ConfigDict, Field

from durable_sim.baseline import (
    InvocationContext,
    RetriesExhausted,
    RetryCounters,
    poll_until,
    retry_call,
)
from durable_sim.clock import Clock, current_clock
from durable_sim.durable import CallbackAnswer, OperationRecord, Responder
from durable_sim.latency import ZERO, Sampler
from durable_sim.workloads import (
    Platform,
    RunEnv,
    RunValues,
    Workload,
    durable_values,
    no_labels,
    register_workload,
    run_baseline_workflow,
    run_durable_workflow,
)

#: The forward steps in order, each with the compensation that undoes it (None: nothing to undo,
#: the shipment is the last step).
FORWARD: tuple[tuple[str, str | None], ...] = (
    ("reserve", "release"),
    ("charge", "refund"),
    ("ship", None),
)
#: Service calls that can fail transiently (sending the shipment request cannot: it is a message
#: on the warehouse's queue).
RETRIED_CALLS: tuple[str, ...] = ("reserve", "charge", "refund", "release")
OUTCOMES: tuple[str, ...] = ("completed", "compensated", "stuck")
#: How long the saga waits for the warehouse before the callback times out (both models): two
#: days, longer than the longest answer time `SagaOptions` accepts.
SHIPMENT_TIMEOUT_S = 2 * 86_400
STOCK = 10  # items of the SKU in stock before the order
ORDERS, SHIPMENTS = "orders", "shipments"  # the baseline's tables


# -- the workload's own parameters ---------------------------------------------------------------


class SagaOptions(BaseModel):
    """The order saga's parameters (``ExperimentSpec.options``), each with its range.

    The probabilities and times are this tutorial's choices, not measurements: they make every
    outcome happen in a few dozen runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    decline_probability: float = Field(
        0.2, ge=0.0, le=1.0, description="chance that the card is declined (not retried)"
    )
    reject_probability: float = Field(
        0.2, ge=0.0, le=1.0, description="chance that the warehouse rejects the shipment"
    )
    transient_probability: float = Field(
        0.2,
        ge=0.0,
        le=0.9,
        description="chance that one attempt of a service call (reserve, charge, refund, "
        "release) fails before it has an effect; retried",
    )
    max_attempts: int = Field(
        3, ge=1, le=10, description="attempts per service call, the first included"
    )
    cooling_off_s: int = Field(
        600,
        ge=1,
        le=86_400,
        description="the wait after the charge, in s (the SDK's wait takes whole seconds >= 1)",
    )
    warehouse_answer_s: float = Field(
        300.0,
        ge=0.0,
        le=86_400.0,
        description="time from the shipment request to the warehouse's answer, in s",
    )
    poll_interval_s: float = Field(
        10.0,
        gt=0.0,
        le=3_600.0,
        description="baseline: interval between polls of the shipment record, in s",
    )

    def retry_strategy(self) -> Callable[[Exception, int], RetryDecision]:
        """The SDK's retry strategy of every service call, in both models: only
        `TransientServiceError` is retried, at most `max_attempts` attempts; after failed attempt
        n it waits ``2 ** (n - 1)`` s (1, 2, 4 s: the SDK rounds up to whole seconds), no
        jitter, so both models wait the same delays."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=self.max_attempts,
                initial_delay=Duration.from_seconds(1),
                backoff_rate=2.0,
                jitter_strategy=JitterStrategy.NONE,
                retryable_error_types=[TransientServiceError],
            )
        )


# -- what goes wrong in a run, and what a correct saga then does -------------------------------


@dataclass(frozen=True)
class Expected:
    """A saga's end as its failures dictate: `outcome` (one of `OUTCOMES`), the forward step
    that failed (``""`` if none), the compensations in the order they must run, and the
    retries (attempts after the first) of every service call made."""

    outcome: str
    failed_step: str
    compensations: tuple[str, ...]
    retries: int


@dataclass(frozen=True)
class FailurePlan:
    """What goes wrong in one run: how many of each call's first attempts fail transiently
    (`transient`: call -> 0..`max_attempts`; as many as `max_attempts` means the call gives up),
    whether the card is `declined` and whether the warehouse `rejected` the shipment."""

    transient: Mapping[str, int]
    declined: bool
    rejected: bool
    max_attempts: int

    @classmethod
    def draw(cls, seed: int, options: SagaOptions) -> FailurePlan:
        """The plan of the run with seed `seed`: one uniform draw per (call, attempt) and one
        per business failure, each from its own keyed stream of the seed
        (`durable_sim.latency.Sampler.uniform`), so both models of a run get the same plan."""
        draws = Sampler(ZERO, seed)
        transient = {}
        for call in RETRIED_CALLS:
            failed = 0
            while (
                failed < options.max_attempts
                and draws.uniform("order-saga", "transient", call, failed + 1)
                < options.transient_probability
            ):
                failed += 1
            transient[call] = failed
        return cls(
            transient=transient,
            declined=draws.uniform("order-saga", "declined") < options.decline_probability,
            rejected=draws.uniform("order-saga", "rejected") < options.reject_probability,
            max_attempts=options.max_attempts,
        )

    def gives_up(self, call: str) -> bool:
        """Whether every attempt of `call` fails transiently."""
        return self.transient.get(call, 0) >= self.max_attempts

    def expected(self) -> Expected:
        """The outcome, failed step, compensations and retries a correct saga has under this
        plan: the first forward step that fails stops the saga; the compensations of the steps
        that completed before it run in reverse order, each once, until one gives up."""
        retries = 0
        owed: list[str] = []
        failed = ""
        for step, undo in FORWARD:
            if step in RETRIED_CALLS:
                retries += min(self.transient[step], self.max_attempts - 1)
            business = (step == "charge" and self.declined) or (step == "ship" and self.rejected)
            if self.gives_up(step) or business:
                failed = step
                break
            if undo is not None:
                owed.append(undo)
        if not failed:
            return Expected("completed", "", (), retries)
        done: list[str] = []
        for undo in reversed(owed):
            retries += min(self.transient[undo], self.max_attempts - 1)
            if self.gives_up(undo):
                return Expected("stuck", failed, tuple(done), retries)
            done.append(undo)
        return Expected("compensated", failed, tuple(done), retries)


# -- the outside world ---------------------------------------------------------------------------


class TransientServiceError(RuntimeError):
    """A service call failed before it had any effect (an HTTP 503): safe to retry."""


class PaymentDeclined(RuntimeError):
    """The payment provider declined the card: a business failure, never retried."""


@dataclass(frozen=True)
class Order:
    """One order: `quantity` items of `sku` for `amount_cents` (the saga's input event)."""

    order_id: str
    sku: str = "book"
    quantity: int = 2
    amount_cents: int = 3_000


@dataclass
class Services:
    """The outside world of one run: an inventory, a payment provider and a warehouse.

    Each call charges the latency profile's ``invoke`` cost to the caller's `clock` (a
    synchronous request to another service, like a function invocation); a retried call
    (`RETRIED_CALLS`) first fails on the attempts the run's `plan` says, raising
    `TransientServiceError` before it has an effect. Calls are idempotent per order (the order
    id is the idempotency key, as payment APIs take one), so a repeated call changes nothing.
    `effects` lists what the services did, in order (``reserve``, ``charge``, ``ship``,
    ``refund``, ``release``); `calls` counts the calls made (attempts of one call count once).
    """

    plan: FailurePlan
    sampler: Sampler
    stock: int = STOCK
    reserved: dict[str, int] = field(default_factory=dict)
    charged: dict[str, int] = field(default_factory=dict)
    shipments: dict[str, str] = field(default_factory=dict)
    effects: list[str] = field(default_factory=list)
    calls: int = 0

    def _request(self, call: str, order: Order, attempt: int, clock: Clock) -> None:
        if attempt == 1:
            self.calls += 1
        clock.charge(self.sampler.draw("invoke", "service", call, order.order_id, attempt))
        if attempt <= self.plan.transient.get(call, 0):
            raise TransientServiceError(f"{call} of {order.order_id}: attempt {attempt} failed")

    def reserve(self, order: Order, attempt: int, clock: Clock) -> str:
        """Hold `order.quantity` items of stock; returns the reservation id."""
        self._request("reserve", order, attempt, clock)
        if order.order_id not in self.reserved:
            self.stock -= order.quantity
            self.reserved[order.order_id] = order.quantity
            self.effects.append("reserve")
        return f"reservation-{order.order_id}"

    def charge(self, order: Order, attempt: int, clock: Clock) -> str:
        """Charge the card; returns the payment id. Raises `PaymentDeclined` if the plan says."""
        self._request("charge", order, attempt, clock)
        if self.plan.declined:
            raise PaymentDeclined(f"card declined for {order.order_id}")
        if order.order_id not in self.charged:
            self.charged[order.order_id] = order.amount_cents
            self.effects.append("charge")
        return f"payment-{order.order_id}"

    def request_shipment(self, order: Order, reply_to: str, clock: Clock) -> None:
        """Put the shipment request on the warehouse's queue, with where to send the answer
        (`reply_to`: a callback id, or the baseline's webhook); the warehouse decides at once
        (the plan's `rejected`) and answers `SagaOptions.warehouse_answer_s` later."""
        self._request("ship", order, 1, clock)
        if order.order_id not in self.shipments:
            self.shipments[order.order_id] = "rejected" if self.plan.rejected else "shipped"
            self.effects.append("ship")

    def refund(self, order: Order, attempt: int, clock: Clock) -> None:
        """Give the charged amount back (compensates ``charge``)."""
        self._request("refund", order, attempt, clock)
        if self.charged.pop(order.order_id, None) is not None:
            self.effects.append("refund")

    def release(self, order: Order, attempt: int, clock: Clock) -> None:
        """Put the reserved items back in stock (compensates ``reserve``)."""
        self._request("release", order, attempt, clock)
        quantity = self.reserved.pop(order.order_id, None)
        if quantity is not None:
            self.stock += quantity
            self.effects.append("release")

    def compensation(self, name: str) -> Callable[[Order, int, Clock], None]:
        """The call that performs compensation `name` (``refund`` or ``release``)."""
        return {"refund": self.refund, "release": self.release}[name]

    def final_state(self, order: Order) -> dict[str, Any]:
        """The world's state after the run: what a customer and an auditor see."""
        return {
            "stock": self.stock,
            "reserved": self.reserved.get(order.order_id, 0),
            "charged_cents": self.charged.get(order.order_id, 0),
            "shipment": self.shipments.get(order.order_id, "none"),
        }

    def observed(self, order: Order) -> tuple[str, str, tuple[str, ...]]:
        """How the run ended as the services saw it: the outcome, the forward step that failed
        (the first without an effect, or ``ship`` if the warehouse rejected it; ``""`` if it
        shipped) and the compensations performed, in order."""
        compensations = tuple(e for e in self.effects if e in ("refund", "release"))
        if self.shipments.get(order.order_id) == "shipped":
            return "completed", "", compensations
        missing = [step for step, _ in FORWARD if step not in self.effects]
        failed = missing[0] if missing else "ship"
        owed = {undo for step, undo in FORWARD if undo is not None and step in self.effects}
        outcome = "compensated" if owed <= set(compensations) else "stuck"
        return outcome, failed, compensations


def state_digest(state: Mapping[str, Any]) -> str:
    """A short sha256 of a final state (16 hex digits): equal states, equal digests."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- the durable model ---------------------------------------------------------------------------


def order_saga_handler(services: Services, options: SagaOptions) -> Callable[..., Any]:
    """The saga as a durable function bound to its services (as a Lambda binds its clients at
    init time). The event is an `Order` as a dict; the result says how the order ended."""
    retried = StepConfig(retry_strategy=options.retry_strategy())
    shipment = WaitForCallbackConfig(
        timeout=Duration.from_seconds(SHIPMENT_TIMEOUT_S), serdes=JsonSerDes()
    )

    @durable_step
    def compensate(step_ctx: StepContext, undo: str, event: dict[str, Any]) -> None:
        """Undo one completed step: a durable step of its own, retried like the others."""
        services.compensation(undo)(Order(**event), step_ctx.attempt, current_clock())

    @durable_execution
    def order_saga(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        order = Order(**event)
        owed: list[str] = []  # compensations, in the order their steps completed
        step = "reserve"
        try:
            context.step(
                lambda sc: services.reserve(order, sc.attempt, current_clock()),
                name="reserve",
                config=retried,
            )
            owed.append("release")
            step = "charge"
            context.step(
                lambda sc: services.charge(order, sc.attempt, current_clock()),
                name="charge",
                config=retried,
            )
            owed.append("refund")
            context.wait(Duration.from_seconds(options.cooling_off_s), name="cooling-off")
            step = "ship"
            answer = context.wait_for_callback(
                lambda callback_id, _ctx: services.request_shipment(
                    order, callback_id, current_clock()
                ),
                name="ship",
                config=shipment,
            )
        except (StepError, CallbackError):
            for undo in reversed(owed):  # a compensation that gives up raises: the run fails
                context.step(compensate(undo, event), name=undo, config=retried)
            return {"outcome": "compensated", "failed_step": step}
        return {"outcome": "completed", "failed_step": "", "tracking": answer["tracking"]}

    return order_saga


def warehouse_responder(services: Services, order: Order, options: SagaOptions) -> Responder:
    """The warehouse's side of the shipment callback (`durable_sim.run_durable`'s responder):
    `SagaOptions.warehouse_answer_s` after the callback was created, a success with a tracking
    number, or a failure (AWS's ``SendDurableExecutionCallbackFailure``) if the plan says it
    rejects the shipment."""

    def respond(callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
        after = options.warehouse_answer_s
        if services.plan.rejected:
            error = {"ErrorType": "ShipmentRejected", "ErrorMessage": f"{order.order_id} rejected"}
            return [CallbackAnswer("failure", after_s=after, error=error)]
        tracking = json.dumps({"tracking": f"track-{order.order_id}"})
        return [CallbackAnswer("success", after_s=after, result=tracking)]

    return respond


def durable_runner(spec: Any, env: RunEnv) -> RunValues:
    """One durable run (the workload's ``durable`` runner)."""
    options: SagaOptions = env.options
    plan = FailurePlan.draw(env.seed, options)
    services = Services(plan, env.sampler)
    order = Order(order_id=f"order-{env.run_id}")
    run = run_durable_workflow(
        order_saga_handler(services, options),
        asdict(order),
        spec,
        env,
        responder=warehouse_responder(services, order, options),
    )
    reported = run.result["outcome"] if run.status == "SUCCEEDED" and run.result else "stuck"
    return {**durable_values(run), **_saga_values(services, order, plan, reported)}


# -- the baseline model --------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineSagaResult:
    """How a baseline order ended: the order record's last status (``SHIPPED``,
    ``COMPENSATED`` or ``STUCK``), its polls of the shipment record, the service calls'
    retries and the calls that gave up."""

    status: str
    polls: int
    retries: int
    gave_up: int


#: The order record's status after each forward step, and the outcome of each end status.
STATUS_AFTER = {"reserve": "RESERVED", "charge": "CHARGED", "ship": "SHIPPED"}
OUTCOME_OF = {"SHIPPED": "completed", "COMPENSATED": "compensated", "STUCK": "stuck"}


def run_baseline_order_saga(
    platform: Platform, services: Services, order: Order, options: SagaOptions, *, seed: int
) -> BaselineSagaResult:
    """The saga as stateless functions over the store, run to its end on the platform.

    ``order-start`` creates the order record, reserves and charges; after the cooling-off the
    platform's scheduler invokes ``order-ship``, which requests the shipment and polls the
    shipment record until the warehouse's webhook (``shipment-webhook``, invoked by the
    warehouse on its own timeline) has written the answer; a function that sees a step fail
    records it, and the platform then invokes ``order-compensate``, which reads the steps done
    from the record and undoes them in reverse order, recording each. Service calls are retried
    by hand (`retry_call`) with the same SDK strategy as the durable steps.
    """
    runtime, store = platform.runtime, platform.store
    strategy = options.retry_strategy()
    retries = RetryCounters()
    polls: list[int] = []
    key = order.order_id

    def call(name: str, fn: Callable[[Order, int, Clock], Any], ctx: InvocationContext) -> Any:
        """A service call with hand-written retries: the SDK strategy decides, we sleep."""
        return retry_call(
            lambda attempt: fn(order, attempt, ctx.clock),
            strategy=strategy,
            clock=ctx.clock,
            seed=seed,
            key=(name,),
            counters=retries,
        )

    def fail(table: Any, step: str, status: str) -> str:
        table.update(
            ORDERS,
            key,
            {"status": "FAILED", "failed_step": step},
            condition={"status": status},
            purpose="order_state",
        )
        return "FAILED"

    def start(event: dict[str, Any], ctx: InvocationContext) -> str:
        table = store.bind(ctx.clock)
        table.put(
            ORDERS, key, {"status": "PLACED", "done": [], "undone": []}, purpose="order_state"
        )
        status, done = "PLACED", []
        for step, fn in (("reserve", services.reserve), ("charge", services.charge)):
            try:
                call(step, fn, ctx)
            except RetriesExhausted:
                return fail(table, step, status)
            done.append(step)
            table.update(
                ORDERS,
                key,
                {"status": STATUS_AFTER[step], "done": done},
                condition={"status": status},
                purpose="order_state",
            )
            status = STATUS_AFTER[step]
        return status

    def webhook(event: dict[str, Any], ctx: InvocationContext) -> None:
        store.bind(ctx.clock).put(
            SHIPMENTS,
            key,
            {"answer": event["answer"], "answered_ms": ctx.clock.now_ms()},
            purpose="shipment_answer",
        )

    def ship(event: dict[str, Any], ctx: InvocationContext) -> str:
        table = store.bind(ctx.clock)
        record = table.get(ORDERS, key, purpose="order_state")
        if record is None or record["status"] != "CHARGED":
            raise RuntimeError(f"order {key} is {record and record['status']}, not CHARGED")
        services.request_shipment(order, "shipment-webhook", ctx.clock)
        answer_at = ctx.clock.now_ms() + options.warehouse_answer_s * 1000.0
        warehouse = ctx.clock.fork()  # the warehouse's own timeline, concurrent with ours
        warehouse.sleep_until(answer_at)
        answer = services.shipments[key]
        runtime.invoke("shipment-webhook", {"answer": answer}, clock=warehouse)
        table.update(
            ORDERS,
            key,
            {"status": "AWAITING_SHIPMENT"},
            condition={"status": "CHARGED"},
            purpose="order_state",
        )

        def answered() -> str | None:
            item = table.get(SHIPMENTS, key, purpose="shipment_poll")
            ready = item is not None and item["answered_ms"] <= ctx.clock.now_ms()
            return str(item["answer"]) if item is not None and ready else None

        polled = poll_until(
            answered,
            clock=ctx.clock,
            interval_ms=options.poll_interval_s * 1000.0,
            timeout_ms=SHIPMENT_TIMEOUT_S * 1000.0,
        )
        polls.append(polled.polls)
        if polled.value != "shipped":
            return fail(table, "ship", "AWAITING_SHIPMENT")
        table.update(
            ORDERS,
            key,
            {"status": "SHIPPED"},
            condition={"status": "AWAITING_SHIPMENT"},
            purpose="order_state",
        )
        return "SHIPPED"

    def compensate(event: dict[str, Any], ctx: InvocationContext) -> str:
        table = store.bind(ctx.clock)
        record = table.get(ORDERS, key, purpose="order_state")
        if record is None or record["status"] != "FAILED":
            raise RuntimeError(f"order {key} is {record and record['status']}, not FAILED")
        undone = list(record["undone"])
        undo_of = {step: undo for step, undo in FORWARD}
        for step in reversed(record["done"]):
            undo = undo_of[step]
            if undo is None or undo in undone:
                continue
            try:
                call(undo, services.compensation(undo), ctx)
            except RetriesExhausted:
                table.update(ORDERS, key, {"status": "STUCK"}, purpose="order_state")
                return "STUCK"
            undone.append(undo)
            table.update(ORDERS, key, {"undone": undone}, purpose="order_state")
        table.update(ORDERS, key, {"status": "COMPENSATED"}, purpose="order_state")
        return "COMPENSATED"

    for name, function in (
        ("order-start", start),
        ("order-ship", ship),
        ("shipment-webhook", webhook),
        ("order-compensate", compensate),
    ):
        runtime.register(name, function)
    event = {"order_id": key}
    status = runtime.invoke("order-start", event)
    if status == "CHARGED":  # the scheduler starts the shipment after the cooling-off
        runtime.clock.sleep_until(runtime.clock.now_ms() + options.cooling_off_s * 1000.0)
        status = runtime.invoke("order-ship", event)
    if status == "FAILED":
        status = runtime.invoke("order-compensate", event)
    return BaselineSagaResult(status, sum(polls), retries.retries, retries.exhausted)


def baseline_runner(spec: Any, env: RunEnv) -> RunValues:
    """One baseline run (the workload's ``baseline`` runner)."""
    options: SagaOptions = env.options
    plan = FailurePlan.draw(env.seed, options)
    services = Services(plan, env.sampler)
    order = Order(order_id=f"order-{env.run_id}")

    def body(platform: Platform) -> RunValues:
        result = run_baseline_order_saga(platform, services, order, options, seed=env.seed)
        return {
            "steps": services.calls,
            "retries": result.retries,
            "failed_steps": result.gave_up,
            **_saga_values(services, order, plan, OUTCOME_OF[result.status]),
        }

    return run_baseline_workflow(env, body)


# -- both models ---------------------------------------------------------------------------------


def _saga_values(services: Services, order: Order, plan: FailurePlan, reported: str) -> RunValues:
    """The saga's row values, and whether the run is correct: the services' record of the run
    agrees with the plan's expectation and with what the model itself reported."""
    outcome, failed_step, compensations = services.observed(order)
    expected = plan.expected()
    problems = []
    if (outcome, failed_step, compensations) != (
        expected.outcome,
        expected.failed_step,
        expected.compensations,
    ):
        problems.append(
            f"services saw {outcome}/{failed_step or '-'}/{'>'.join(compensations) or '-'}, "
            f"the plan calls for {expected.outcome}/{expected.failed_step or '-'}/"
            f"{'>'.join(expected.compensations) or '-'}"
        )
    if reported != outcome:
        problems.append(f"the model reported {reported}, the services saw {outcome}")
    state = services.final_state(order)
    return {
        "outcome": outcome,
        "failed_step": failed_step,
        "compensations": ">".join(compensations),
        "final_value": state["charged_cents"],
        "output_digest": state_digest(state),
        "ok": not problems,
        "error": "; ".join(problems) or None,
    }


def _check(spec: Any) -> None:
    if spec.model == "baseline" and spec.clock != "virtual":
        raise ValueError(
            f"clock={spec.clock!r}: the baseline order saga runs on the virtual clock only "
            "(accepted: 'virtual'; its warehouse answers on a forked timeline)"
        )


def expected_outcomes(rows: pd.DataFrame) -> pd.DataFrame:
    """For each run row of the saga: the outcome, failed step and compensations (``>``-joined)
    its seed and options call for (`FailurePlan.expected`), beside what the run recorded, and
    ``matches`` (all three equal). Shape: one row per input row, in order. Raises `KeyError`
    naming a column the rows lack (the options columns, ``seed``, ``outcome`` ...)."""
    records = []
    for row in rows.to_dict("records"):
        options = SagaOptions(**{name: row[name] for name in SagaOptions.model_fields})
        expected = FailurePlan.draw(int(row["seed"]), options).expected()
        observed_failed = "" if pd.isna(row["failed_step"]) else str(row["failed_step"])
        observed_comp = "" if pd.isna(row["compensations"]) else str(row["compensations"])
        wanted = (expected.outcome, expected.failed_step, ">".join(expected.compensations))
        seen = (str(row["outcome"]), observed_failed, observed_comp)
        records.append(
            {
                "run_id": row["run_id"],
                "model": row["model"],
                "expected_outcome": wanted[0],
                "outcome": seen[0],
                "expected_failed_step": wanted[1],
                "failed_step": seen[1],
                "expected_compensations": wanted[2],
                "compensations": seen[2],
                "matches": wanted == seen,
            }
        )
    return pd.DataFrame(records)


#: The saga as the experiment harness runs it, registered as ``order-saga``.
ORDER_SAGA = register_workload(
    Workload(
        name="order-saga",
        phase="order-saga",
        runners={"durable": durable_runner, "baseline": baseline_runner},
        store_purposes=("order_state", "shipment_answer", "shipment_poll"),
        labels=no_labels,
        check=_check,
        description="an order saga: reserve, charge, cooling-off wait, shipment callback, "
        "compensation in reverse",
        options=SagaOptions,
        columns=("outcome", "failed_step", "compensations"),
    )
)
