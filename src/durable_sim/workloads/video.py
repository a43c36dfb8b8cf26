"""Phase 2: the fan-out/fan-in video pipeline (validate, split, encode chunks, assemble).

Durable form: written against the AWS SDK API; each stage is a step and the chunk encodes are
a ``context.map`` (``fanout="map"``, the SDK's idiom for parallel work) or a loop of steps
(``fanout="sequential"``, one reading of the paper's "a durable implementation using
``context.step(...)``"). Retries come from the SDK's retry strategy.

Baseline form: a coordinator function keeps a job record and one record per chunk in the
store, invokes one worker per chunk asynchronously, and polls the chunk records until every
chunk is done; workers claim their chunk with a compare-and-swap, encode with hand-written
retries and record the outcome. Store calls, by purpose:

==============  ==========================================  =====================
purpose         calls                                       per run
==============  ==========================================  =====================
job_creation    ``put`` of the job record                   1
chunk_insert    ``put`` of each chunk record                chunks
status_update   worker claim (CAS) and outcome, job done    2 x chunks + 1
poll            ``query`` of the job's chunk records        rounds
                (``poll_read="query"``), or a ``get`` of    (or chunks x rounds)
                every chunk record (``poll_read="get"``)
==============  ==========================================  =====================

The poll rounds follow a fixed or an exponential schedule (`durable_sim.baseline.polling`).
Both models retry a failed encode with the same SDK retry strategy object (`RetrySettings`), so
they wait the same delays. All CPU work (validate, split, encode, assemble) runs on the cores
the run's machine gives the caller (`durable_sim.machine`): a durable map's branches share the
invocation's cores; each baseline worker gets its invocation's.

A worker's write becomes visible to the coordinator at the (virtual) time the worker made it:
records carry ``updated_ms`` and a poll at time t counts a chunk done only if it was done by t.
On the virtual clock workers run eagerly on forked timelines, so without this the coordinator
would see the future.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from aws_durable_execution_sdk_python import BatchResult, DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, MapConfig, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

from durable_sim.baseline import (
    FunctionRuntime,
    InvocationContext,
    KVStore,
    RetryCounters,
    RetryStrategy,
    poll_until,
    retry_call,
)
from durable_sim.baseline.polling import Backoff
from durable_sim.clock import current_clock
from durable_sim.machine import Cpu
from durable_sim.video import ChunkEncoderPool, SourceSpec
from durable_sim.workloads.base import (
    Platform,
    RunEnv,
    RunValues,
    Workload,
    durable_values,
    run_baseline_workflow,
    run_durable_workflow,
)
from durable_sim.workloads.encoders import Encoder, TransientEncodeError, make_encoder

FANOUTS = ("map", "sequential")
PollRead = Literal["query", "get"]
POLL_READS: tuple[PollRead, ...] = ("query", "get")


@dataclass(frozen=True)
class RetrySettings:
    """One retry policy for both models: attempts, first delay, backoff rate (no jitter).

    `strategy` is the SDK's retry strategy object built from these settings; the durable
    runtime and the baseline's hand-written loop both call it, so their delays are identical.
    The defaults are this project's choice, not the SDK's (`RetryStrategyConfig`: 3 attempts,
    5 s, x2, full jitter): no jitter, so that both models wait the same delays without drawing.
    """

    max_attempts: int = 5
    initial_delay_s: int = 1
    backoff_rate: float = 2.0

    def strategy(self) -> RetryStrategy:
        """The SDK's strategy (`create_retry_strategy`) for these settings: only
        `TransientEncodeError` is retried, at most `max_attempts` attempts in all; after failed
        attempt n it waits ``initial_delay_s * backoff_rate ** (n - 1)`` s (rounded up to
        whole seconds and at least 1 s, as the SDK does; at most its default 5 min)."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=self.max_attempts,
                initial_delay=Duration.from_seconds(self.initial_delay_s),
                backoff_rate=self.backoff_rate,
                jitter_strategy=JitterStrategy.NONE,
                retryable_error_types=[TransientEncodeError],
            )
        )


@dataclass(frozen=True)
class PollSettings:
    """How the baseline coordinator polls: what it reads each round and how long it waits.

    `read`: ``"query"`` (one query of the job's chunk records per round) or ``"get"`` (one get
    per chunk record per round); `interval_ms` (> 0): the first wait; `backoff`: ``"fixed"`` or
    ``"exponential"`` (the SDK's polling formula, see `durable_sim.baseline.polling`).
    """

    interval_ms: float = 100.0
    read: PollRead = "query"
    backoff: Backoff = "fixed"
    timeout_ms: float = 3_600_000.0

    def __post_init__(self) -> None:
        if self.read not in POLL_READS:
            raise ValueError(f"bad poll read {self.read!r} (accepted: 'query', 'get')")


def durable_video_handler(
    encoder: Encoder, cpu: Cpu, *, fanout: str = "map", retry: RetrySettings | None = None
) -> Any:
    """The pipeline as a durable function bound to `encoder` and the invocation's cores `cpu`
    (as a Lambda binds its clients at init time); the event carries ``source``, ``chunks`` and
    ``max_concurrency``."""
    if fanout not in FANOUTS:
        raise ValueError(f"unknown fanout {fanout!r} (accepted: {', '.join(FANOUTS)})")
    step_config = StepConfig(retry_strategy=(retry or RetrySettings()).strategy())

    def encode_chunk(ctx: DurableContext, manifest: dict[str, Any], index: int) -> dict[str, Any]:
        return ctx.step(
            lambda sc: encoder.encode(
                encoder.chunk(manifest, index), sc.attempt, current_clock(), cpu
            ),
            name=f"encode-{index}",
            config=step_config,
        )

    @durable_execution
    def video_pipeline(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        source = event["source"]
        context.step(lambda sc: encoder.validate(source, current_clock(), cpu), name="validate")
        manifest = context.step(
            lambda sc: encoder.split(source, event["chunks"], current_clock(), cpu), name="split"
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
            lambda sc: encoder.assemble(parts, source, current_clock(), cpu), name="assemble"
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


_SETTLED = ("DONE", "FAILED")


def run_baseline_video(
    runtime: FunctionRuntime,
    store: KVStore,
    encoder: Encoder,
    *,
    job_id: str,
    source: dict[str, Any],
    chunks: int,
    poll: PollSettings | None = None,
    retry: RetrySettings | None = None,
    seed: int = 0,
) -> BaselineVideoResult:
    """Run one baseline job: a synchronous coordinator invocation that fans out workers."""
    poll = poll or PollSettings()
    strategy = (retry or RetrySettings()).strategy()
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
                lambda attempt: encoder.encode(event["chunk"], attempt, ctx.clock, ctx.cpu),
                strategy=strategy,
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
        encoder.validate(source, ctx.clock, ctx.cpu)
        view.put("jobs", job_id, {"status": "SPLITTING", "chunks": chunks}, purpose="job_creation")
        manifest = encoder.split(source, chunks, ctx.clock, ctx.cpu)
        refs = [encoder.chunk(manifest, i) for i in range(manifest["count"])]
        keys = [(job_id, f"{ref['index']:06d}") for ref in refs]
        for key, ref in zip(keys, refs, strict=True):
            view.put(
                "chunks",
                key,
                {"status": "PENDING", "chunk": ref, "updated_ms": ctx.clock.now_ms()},
                purpose="chunk_insert",
            )
        for ref in refs:
            runtime.invoke_async(
                "encode-worker", {"index": ref["index"], "chunk": ref}, clock=ctx.clock
            )

        def read_round() -> list[dict[str, Any] | None]:
            if poll.read == "query":
                return list(view.query("chunks", job_id, purpose="poll"))
            return [view.get("chunks", key, purpose="poll") for key in keys]

        def settled() -> list[dict[str, Any]] | None:
            now = ctx.clock.now_ms()
            items = read_round()
            finished = [
                i
                for i in items
                if i is not None and i["status"] in _SETTLED and i["updated_ms"] <= now
            ]
            return finished if len(finished) == len(refs) else None

        polled = poll_until(
            settled,
            clock=ctx.clock,
            interval_ms=poll.interval_ms,
            timeout_ms=poll.timeout_ms,
            backoff=poll.backoff,
        )
        settled_items = polled.value
        assert settled_items is not None, "poll_until returns only a truthy value"
        failed = [i for i in settled_items if i["status"] == "FAILED"]
        if failed:
            view.update("jobs", job_id, {"status": "FAILED"}, purpose="status_update")
            return BaselineVideoResult(None, polled.polls, retries.retries, len(failed))
        parts = [i["output"] for i in settled_items]
        output = encoder.assemble(parts, source, ctx.clock, ctx.cpu)
        view.update(
            "jobs", job_id, {"status": "DONE", "output": output["key"]}, purpose="status_update"
        )
        return BaselineVideoResult(output, polled.polls, retries.retries, 0)

    runtime.register("encode-worker", worker)
    runtime.register("video-coordinator", coordinator)
    result: BaselineVideoResult = runtime.invoke("video-coordinator", {"job_id": job_id})
    return result


# -- the workload as the experiment harness runs it ----------------------------------------------


class VideoSpec(Protocol):
    """The experiment-spec fields the video runners read."""

    model: str
    engine: str
    encoder: str
    workers: int
    chunks: int
    video_seconds: int
    width: int
    height: int
    failure_probability: float
    fanout: str
    max_concurrency: int | None
    poll_interval_ms: float
    poll_read: str
    poll_backoff: str


@dataclass(frozen=True)
class VideoSession:
    """An experiment's video resources: a blob directory and, for the real encoder on more
    than one worker, one pool of encoder processes shared by its runs (started by the first
    encode, so a warm-up run leaves it warm)."""

    blob_root: Path
    pool: ChunkEncoderPool | None


@contextmanager
def video_session(spec: VideoSpec, scratch: Path) -> Iterator[VideoSession]:
    """The `VideoSession` of one process's runs of `spec`, blobs under the existing directory
    `scratch`; a pool of `spec.workers` encoder processes for the real encoder with more than
    one worker, closed when the context exits (the `Workload.session` of the video)."""
    pool = ChunkEncoderPool(spec.workers) if spec.encoder == "real" and spec.workers > 1 else None
    try:
        yield VideoSession(scratch, pool)
    finally:
        if pool is not None:
            pool.close()


def _encoder(spec: VideoSpec, env: RunEnv) -> Encoder:
    session: VideoSession = env.session
    return make_encoder(
        spec.encoder,
        spec=SourceSpec(spec.video_seconds, 30, spec.width, spec.height, 30),
        sampler=env.sampler,
        failure_probability=spec.failure_probability,
        store_root=session.blob_root,
        pool=session.pool,
    )


def _durable_runner(spec: VideoSpec, env: RunEnv) -> RunValues:
    encoder = _encoder(spec, env)
    handler = durable_video_handler(encoder, env.machine.invocation_cpu(), fanout=spec.fanout)
    event: dict[str, Any] = {"source": encoder.source(), "chunks": spec.chunks}
    if spec.max_concurrency:
        event["max_concurrency"] = spec.max_concurrency
    run = run_durable_workflow(handler, event, spec, env)
    values = durable_values(run)
    values["output_digest"] = run.result["key"] if run.result else None
    return {**values, **_s3_usage(encoder)}


def _s3_usage(encoder: Encoder) -> RunValues:
    """The S3 requests the run's encoder made (`durable_sim.workloads.encoders.S3Requests`)."""
    return {"s3_get_requests": encoder.s3.gets, "s3_put_requests": encoder.s3.puts}


def _baseline_runner(spec: VideoSpec, env: RunEnv) -> RunValues:
    encoder = _encoder(spec, env)
    source = encoder.source()
    poll = PollSettings(spec.poll_interval_ms, spec.poll_read, spec.poll_backoff)  # type: ignore[arg-type]

    def body(platform: Platform) -> RunValues:
        result = run_baseline_video(
            platform.runtime,
            platform.store,
            encoder,
            job_id=f"job-{env.run_id}",
            source=source,
            chunks=spec.chunks,
            poll=poll,
            seed=env.seed,
        )
        return {
            "steps": 3 + spec.chunks,
            "retries": result.retries,
            "failed_steps": result.failed_chunks,
            "output_digest": result.output["key"] if result.output else None,
            "ok": result.ok,
            "error": None if result.ok else f"{result.failed_chunks} chunk(s) failed every retry",
            **_s3_usage(encoder),
        }

    return run_baseline_workflow(env, body, max_workers=min(spec.chunks, 1024))


def _check(spec: VideoSpec) -> None:
    frames = spec.video_seconds * 30
    if spec.chunks > frames:
        raise ValueError(
            f"chunks={spec.chunks} exceeds the frames of the video "
            f"(accepted: 1..{frames} for {spec.video_seconds} s at 30 fps)"
        )


def _labels(spec: VideoSpec) -> dict[str, Any]:
    baseline = spec.model == "baseline"
    return {
        "encoder": spec.encoder,
        "chunks": spec.chunks,
        "failure_probability": spec.failure_probability,
        "fanout": "" if baseline else spec.fanout,
        "poll_interval_ms": spec.poll_interval_ms if baseline else 0.0,
        "poll_read": spec.poll_read if baseline else "",
        "poll_backoff": spec.poll_backoff if baseline else "",
    }


#: The video pipeline as the experiment harness runs it (phase 2 of the paper).
VIDEO = Workload(
    name="video",
    phase="video",
    runners={"durable": _durable_runner, "baseline": _baseline_runner},
    store_purposes=("job_creation", "chunk_insert", "status_update", "poll"),
    labels=_labels,
    session=video_session,
    check=_check,
    description="the paper's phase 2: validate, split, encode chunks in parallel, assemble",
)
