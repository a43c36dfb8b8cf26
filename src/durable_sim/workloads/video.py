"""Phase 2: the fan-out/fan-in video pipeline (validate, split, encode chunks, assemble).

Durable form: written against the AWS SDK API; each stage is a step and the chunk encodes are
a ``context.map`` (``fanout="map"``, the SDK's idiom for parallel work) or a loop of steps
(``fanout="sequential"``, one reading of the paper's "a durable implementation using
``context.step(...)``"). Retries come from the SDK's retry strategy.

Baseline form: a coordinator function keeps a job record and one record per chunk in the
store, invokes one worker per chunk asynchronously, and polls the chunk records until every
chunk is done; workers claim their chunk with a compare-and-swap, encode with hand-written
retries and record the outcome. Store calls, by purpose:

==============  ==========================================  =============
purpose         calls                                       per run
==============  ==========================================  =============
job_creation    ``put`` of the job record                   1
chunk_insert    ``put`` of each chunk record                chunks
status_update   worker claim (CAS) and outcome, job done    2 x chunks + 1
poll            ``query`` of the job's chunk records        polls
==============  ==========================================  =============

A worker's write becomes visible to the coordinator at the (virtual) time the worker made it:
records carry ``updated_ms`` and a poll at time t counts a chunk done only if it was done by t.
On the virtual clock workers run eagerly on forked timelines, so without this the coordinator
would see the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_durable_execution_sdk_python import BatchResult, DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, MapConfig, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

from durable_sim.baseline import (
    FunctionRuntime,
    InvocationContext,
    KVStore,
    RetryCounters,
    RetryPolicy,
    poll_until,
    retry_call,
)
from durable_sim.clock import current_clock
from durable_sim.workloads.encoders import Encoder, TransientEncodeError

FANOUTS = ("map", "sequential")


@dataclass(frozen=True)
class RetrySettings:
    """One retry policy for both models: attempts, first delay, backoff rate (no jitter)."""

    max_attempts: int = 5
    initial_delay_s: int = 1
    backoff_rate: float = 2.0

    def sdk_strategy(self) -> Any:
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=self.max_attempts,
                initial_delay=Duration.from_seconds(self.initial_delay_s),
                backoff_rate=self.backoff_rate,
                jitter_strategy=JitterStrategy.NONE,
                retryable_error_types=[TransientEncodeError],
            )
        )

    def baseline_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_delay_ms=self.initial_delay_s * 1000.0,
            backoff_rate=self.backoff_rate,
            retry_on=(TransientEncodeError,),
        )


def durable_video_handler(
    encoder: Encoder, *, fanout: str = "map", retry: RetrySettings | None = None
) -> Any:
    """The pipeline as a durable function bound to `encoder` (as a Lambda binds its clients
    at init time); the event carries ``source``, ``chunks`` and ``max_concurrency``."""
    if fanout not in FANOUTS:
        raise ValueError(f"unknown fanout {fanout!r} (accepted: {', '.join(FANOUTS)})")
    step_config = StepConfig(retry_strategy=(retry or RetrySettings()).sdk_strategy())

    def encode_chunk(ctx: DurableContext, manifest: dict[str, Any], index: int) -> dict[str, Any]:
        return ctx.step(
            lambda sc: encoder.encode(encoder.chunk(manifest, index), sc.attempt, current_clock()),
            name=f"encode-{index}",
            config=step_config,
        )

    @durable_execution
    def video_pipeline(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        source = event["source"]
        context.step(lambda sc: encoder.validate(source, current_clock()), name="validate")
        manifest = context.step(
            lambda sc: encoder.split(source, event["chunks"], current_clock()), name="split"
        )
        indexes = list(range(manifest["count"]))
        if fanout == "map":
            batch: BatchResult[dict[str, Any]] = context.map(
                indexes,
                lambda ctx, index, _i, _all: encode_chunk(ctx, manifest, index),
                name="encode",
                config=MapConfig(max_concurrency=event.get("max_concurrency")),
            )
            batch.throw_if_error()
            parts = batch.get_results()
        else:
            parts = [encode_chunk(context, manifest, i) for i in indexes]
        return context.step(
            lambda sc: encoder.assemble(parts, source, current_clock()), name="assemble"
        )

    return video_pipeline


@dataclass(frozen=True)
class BaselineVideoResult:
    """A baseline job's outcome: no output when a chunk failed after every retry."""

    output: dict[str, Any] | None
    polls: int
    retries: int
    failed_chunks: int

    @property
    def ok(self) -> bool:
        return self.output is not None


def run_baseline_video(
    runtime: FunctionRuntime,
    store: KVStore,
    encoder: Encoder,
    *,
    job_id: str,
    source: dict[str, Any],
    chunks: int,
    poll_interval_ms: float,
    poll_timeout_ms: float = 3_600_000.0,
    retry: RetrySettings | None = None,
    seed: int = 0,
) -> BaselineVideoResult:
    """Run one baseline job: a synchronous coordinator invocation that fans out workers."""
    policy = (retry or RetrySettings()).baseline_policy()
    retries = RetryCounters()

    def worker(event: dict[str, Any], ctx: InvocationContext) -> None:
        view = store.bind(ctx.clock)
        key = (job_id, f"{event['index']:06d}")
        view.update(
            "chunks",
            key,
            {"status": "ENCODING", "updated_ms": ctx.clock.now_ms()},
            condition={"status": "PENDING"},
            purpose="status_update",
        )
        try:
            output = retry_call(
                lambda attempt: encoder.encode(event["chunk"], attempt, ctx.clock),
                policy=policy,
                clock=ctx.clock,
                seed=seed,
                key=("encode", event["index"]),
                counters=retries,
            )
        except Exception as exc:
            view.update(
                "chunks",
                key,
                {"status": "FAILED", "error": str(exc), "updated_ms": ctx.clock.now_ms()},
                purpose="status_update",
            )
            return
        view.update(
            "chunks",
            key,
            {"status": "DONE", "output": output, "updated_ms": ctx.clock.now_ms()},
            purpose="status_update",
        )

    def coordinator(event: dict[str, Any], ctx: InvocationContext) -> BaselineVideoResult:
        view = store.bind(ctx.clock)
        encoder.validate(source, ctx.clock)
        view.put("jobs", job_id, {"status": "SPLITTING", "chunks": chunks}, purpose="job_creation")
        manifest = encoder.split(source, chunks, ctx.clock)
        refs = [encoder.chunk(manifest, i) for i in range(manifest["count"])]
        for ref in refs:
            view.put(
                "chunks",
                (job_id, f"{ref['index']:06d}"),
                {"status": "PENDING", "chunk": ref, "updated_ms": ctx.clock.now_ms()},
                purpose="chunk_insert",
            )
        for ref in refs:
            runtime.invoke_async(
                "encode-worker", {"index": ref["index"], "chunk": ref}, clock=ctx.clock
            )

        def settled() -> list[dict[str, Any]] | None:
            now = ctx.clock.now_ms()
            items = view.query("chunks", job_id, purpose="poll")
            finished = [
                i for i in items if i["status"] in ("DONE", "FAILED") and i["updated_ms"] <= now
            ]
            return finished if len(finished) == len(refs) else None

        polled = poll_until(
            settled, clock=ctx.clock, interval_ms=poll_interval_ms, timeout_ms=poll_timeout_ms
        )
        settled_items = polled.value
        assert settled_items is not None, "poll_until returns only a truthy value"
        failed = [i for i in settled_items if i["status"] == "FAILED"]
        if failed:
            view.update("jobs", job_id, {"status": "FAILED"}, purpose="status_update")
            return BaselineVideoResult(None, polled.polls, retries.retries, len(failed))
        parts = [i["output"] for i in settled_items]
        output = encoder.assemble(parts, source, ctx.clock)
        view.update(
            "jobs", job_id, {"status": "DONE", "output": output["key"]}, purpose="status_update"
        )
        return BaselineVideoResult(output, polled.polls, retries.retries, 0)

    runtime.register("encode-worker", worker)
    runtime.register("video-coordinator", coordinator)
    result: BaselineVideoResult = runtime.invoke("video-coordinator", {"job_id": job_id})
    return result
