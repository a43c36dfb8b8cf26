"""The video pipeline in both models, on the model encoder and on real frames."""

import pytest

from durable_sim import VirtualClock, run_durable
from durable_sim.baseline import FunctionRuntime, open_store
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.latency import Sampler, get_profile
from durable_sim.video import SourceSpec, probe
from durable_sim.video.blobstore import BlobStore
from durable_sim.workloads.encoders import make_encoder
from durable_sim.workloads.video import (
    PollSettings,
    RetrySettings,
    durable_video_handler,
    run_baseline_video,
)

PROFILE = get_profile("paper-local")


def _cpu(profile=PROFILE):
    """The cores of a fresh run on the profile's machine."""
    return profile.machine.start().invocation_cpu()


def _both(encoder, chunks, seed, poll_interval_ms=100.0, retry=None):
    source = encoder.source()
    run = run_durable(
        durable_video_handler(encoder, _cpu(), retry=retry),
        {"source": source, "chunks": chunks},
        profile=PROFILE,
        seed=seed,
    )
    clock = VirtualClock()
    sampler = Sampler(PROFILE, seed)
    store = open_store("memory", clock=clock, sampler=sampler)
    with FunctionRuntime(clock, sampler) as runtime:
        base = run_baseline_video(
            runtime,
            store,
            encoder,
            job_id="job",
            source=source,
            chunks=chunks,
            poll=PollSettings(poll_interval_ms),
            seed=seed,
            retry=retry,
        )
    return run, base, store, clock.now_ms()


def test_model_encoder_same_output_in_both_models_and_store_ops_split_by_purpose():
    encoder = make_encoder("model", spec=SourceSpec(), sampler=Sampler(PROFILE, 3))
    run, base, store, _ = _both(encoder, 10, 3)
    counts = store.counters
    assert run.status == "SUCCEEDED"
    assert run.result["key"] == base.output["key"]
    assert counts.by_purpose["job_creation"] == 1
    assert counts.by_purpose["chunk_insert"] == 10
    assert counts.by_purpose["status_update"] == 2 * 10 + 1
    assert counts.by_purpose["poll"] == base.polls
    assert counts.total == 32 + base.polls


def test_poll_count_follows_completion_time_and_interval():
    encoder = make_encoder("model", spec=SourceSpec(), sampler=Sampler(PROFILE, 3))
    _, fast, _, _ = _both(encoder, 10, 3, poll_interval_ms=10.0)
    _, slow, _, _ = _both(encoder, 10, 3, poll_interval_ms=100.0)
    assert fast.polls > slow.polls >= 2


def test_injected_failures_are_retried_by_both_models_to_the_same_output():
    sampler = Sampler(PROFILE, 11)
    encoder = make_encoder("model", spec=SourceSpec(), sampler=sampler, failure_probability=0.3)
    run, base, _, _ = _both(encoder, 10, 11)
    assert run.status == "SUCCEEDED"
    assert run.metrics.retries > 0
    assert run.metrics.retries == base.retries  # the same draws fail in both models
    assert run.result["key"] == base.output["key"]


def test_sequential_fanout_gives_the_same_output():
    encoder = make_encoder("model", spec=SourceSpec(), sampler=Sampler(PROFILE, 1))
    source = encoder.source()
    event = {"source": source, "chunks": 10}
    mapped = run_durable(durable_video_handler(encoder, _cpu()), event, profile=PROFILE, seed=1)
    looped = run_durable(
        durable_video_handler(encoder, _cpu(), fanout="sequential"),
        event,
        profile=PROFILE,
        seed=1,
    )
    assert looped.result == mapped.result
    assert looped.metrics.elapsed_ms > mapped.metrics.elapsed_ms


def test_unknown_fanout_and_encoder_are_rejected():
    encoder = make_encoder("model", spec=SourceSpec(), sampler=Sampler(PROFILE, 1))
    with pytest.raises(ValueError, match="unknown fanout 'tree'"):
        durable_video_handler(encoder, _cpu(), fanout="tree")
    with pytest.raises(ValueError, match="unknown encoder 'gpu'"):
        make_encoder("gpu", spec=SourceSpec(), sampler=Sampler(PROFILE, 1))


@pytest.mark.slow
def test_real_encoder_both_models_on_real_frames(tmp_path):
    """The paper's 10 s clip in 10 chunks, encoded for real: 300 frames, 10 s, same bytes."""
    sampler = Sampler(PROFILE, 5)
    encoder = make_encoder(
        "real", spec=SourceSpec(), sampler=sampler, failure_probability=0.2, store_root=tmp_path
    )
    run, base, _, _ = _both(encoder, 10, 5)
    assert run.status == "SUCCEEDED", run.error
    assert run.result["key"] == base.output["key"]
    assert run.metrics.retries > 0 and run.metrics.retries == base.retries
    info = probe(BlobStore(tmp_path).get(run.result["key"]))
    assert info.frame_count == 300
    assert info.duration == pytest.approx(10.0)


def test_a_chunk_failing_every_attempt_fails_the_job_in_both_models():
    sampler = Sampler(PROFILE, 2)
    encoder = make_encoder("model", spec=SourceSpec(), sampler=sampler, failure_probability=0.9)
    run, base, store, _ = _both(encoder, 10, 2, retry=RetrySettings(max_attempts=2))
    assert run.status == "FAILED"
    assert "injected failure encoding chunk" in str(run.error)
    assert not base.ok and base.output is None
    assert base.failed_chunks >= 1 and base.retries >= base.failed_chunks
    assert store.get("jobs", "job")["status"] == "FAILED"


class _FailsFirstAttempts:
    """A model encoder whose chunk 0 fails its first `failures` attempts; records attempt times."""

    def __init__(self, encoder, failures):
        self._encoder = encoder
        self._failures = failures
        self.attempts = []

    def __getattr__(self, name):
        return getattr(self._encoder, name)

    def encode(self, chunk, attempt, clock, cpu):
        from durable_sim.workloads.encoders import TransientEncodeError

        if chunk["index"] == 0:
            self.attempts.append(clock.now_ms())
            if attempt <= self._failures:
                raise TransientEncodeError(f"chunk 0 attempt {attempt}")
        return self._encoder.encode(chunk, attempt, clock, cpu)


def test_both_models_wait_the_sdks_retry_delays():
    """backoff_rate=1.5 gives the SDK's 1, 2, 3, 4 s in both models (not 1, 1.5, 2.25, 3.4 s)."""
    from durable_sim.latency import ZERO

    retry = RetrySettings(max_attempts=5, initial_delay_s=1, backoff_rate=1.5)
    gaps = {}
    for model in ("durable", "baseline"):
        encoder = _FailsFirstAttempts(
            make_encoder("model", spec=SourceSpec(), sampler=Sampler(ZERO, 0)), failures=4
        )
        source = encoder.source()
        if model == "durable":
            run = run_durable(
                durable_video_handler(encoder, _cpu(ZERO), retry=retry),
                {"source": source, "chunks": 2},
                profile=ZERO,
            )
            assert run.status == "SUCCEEDED"
        else:
            clock = VirtualClock()
            sampler = Sampler(ZERO, 0)
            store = open_store("memory", clock=clock, sampler=sampler)
            with FunctionRuntime(clock, sampler) as runtime:
                result = run_baseline_video(
                    runtime, store, encoder, job_id="j", source=source, chunks=2, retry=retry
                )
            assert result.ok
        gaps[model] = [b - a for a, b in zip(encoder.attempts, encoder.attempts[1:], strict=False)]
    assert gaps["durable"] == gaps["baseline"] == [1000.0, 2000.0, 3000.0, 4000.0]


@pytest.mark.parametrize("read", ["query", "get"])
@pytest.mark.parametrize("backoff", ["fixed", "exponential"])
def test_poll_strategies_count_their_reads(read, backoff):
    clock = VirtualClock()
    sampler = Sampler(PROFILE, 4)
    encoder = make_encoder("model", spec=SourceSpec(), sampler=sampler)
    store = open_store("memory", clock=clock, sampler=sampler)
    with FunctionRuntime(clock, sampler) as runtime:
        result = run_baseline_video(
            runtime,
            store,
            encoder,
            job_id="j",
            source=encoder.source(),
            chunks=10,
            poll=PollSettings(100.0, read, backoff),
        )
    per_round = 1 if read == "query" else 10
    assert store.counters.by_purpose["poll"] == per_round * result.polls
    assert result.ok


def _rows(model, **values):
    spec = {"workload": "video", "model": model, "runs": 4, "chunks": 7, "seed": 5, **values}
    return run_experiment(ExperimentSpec.parse(spec))


@pytest.mark.parametrize("failure_probability", [0.0, 0.3])
def test_runs_report_the_usage_aws_bills(failure_probability):
    """Durable operations are the journal's operations (2 per chunk: a map branch and its step;
    plus validate, split, the map and assemble), however often a step was retried, and differ
    from the checkpoint calls; S3 requests are 2n + 2 GETs and 2n + 1 PUTs plus one of each per
    retried attempt, in both models, which meet the same failures."""
    durable = _rows("durable", failure_probability=failure_probability)
    base = _rows("baseline", failure_probability=failure_probability)
    n = 7
    assert (durable["durable_operations"] == 2 * n + 4).all()
    assert (durable["durable_operations"] != durable["checkpoint_ops"]).all()
    assert (base["durable_operations"] == 0).all()
    for rows in (durable, base):
        ok = rows[rows["ok"]]
        assert (ok["s3_get_requests"] == 2 * n + 2 + ok["retries"]).all()
        assert (ok["s3_put_requests"] == 2 * n + 1 + ok["retries"]).all()
    assert durable["retries"].tolist() == base["retries"].tolist()
    if failure_probability:
        assert durable["retries"].sum() > 0
    # store request units: every baseline item is under 1 KB and a query of 7 chunk records
    # under 4 KB, so each call is one unit; durable runs make no store calls
    assert (base["store_write_units"] == base["store_ops"] - base["store_ops_poll"]).all()
    assert (base["store_read_units"] == base["store_ops_poll"]).all()
    assert (durable[["store_read_units", "store_write_units"]] == 0).all().all()


def test_a_query_of_many_chunk_records_reads_a_unit_per_4_kb():
    """A poll of 300 chunk records returns tens of KB: DynamoDB bills a read unit per started
    4 KB of what one query returns, not one per call (`durable_sim.baseline.store.kvstore`)."""
    base = _rows("baseline", chunks=300, runs=1)
    (row,) = base.itertuples()
    assert row.store_read_units > 5 * row.store_ops_poll
