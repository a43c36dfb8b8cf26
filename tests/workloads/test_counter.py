"""The counter workload in both models: the paper's Table 1 invariants."""

import pytest

from durable_sim import VirtualClock, run_durable
from durable_sim.baseline import FunctionRuntime, open_store
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.latency import ZERO, Sampler
from durable_sim.workloads.counter import apply, durable_counter, run_baseline_counter


def test_apply_rejects_unknown_operation():
    with pytest.raises(ValueError, match=r"'double'.*accepted: increment, decrement, read"):
        apply(1, "double", 2)


@pytest.mark.parametrize("engine", ["sim", "aws-local"])
def test_durable_counter_ends_at_two_on_both_engines(engine):
    run = run_durable(durable_counter, {}, engine=engine)
    assert run.status == "SUCCEEDED"
    assert run.result == {"value": 2, "ops": 4}
    assert [op.name for op in run.operations] == [
        "0-increment",
        "1-increment",
        "2-read",
        "3-decrement",
    ]


def test_durable_counter_checkpoints_each_step_and_calls_no_store():
    run = run_durable(durable_counter, {})
    assert run.metrics.checkpoint_ops == 4
    assert run.metrics.steps_executed == 4


def test_baseline_counter_makes_exactly_five_store_calls():
    clock = VirtualClock()
    sampler = Sampler(ZERO, 0)
    store = open_store("memory", clock=clock, sampler=sampler)
    with FunctionRuntime(clock, sampler) as runtime:
        result = run_baseline_counter(runtime, store, counter_id="c1")
        invocations = runtime.counters.total
    counts = store.counters
    assert result.value == 2 and result.ops == 4
    assert counts.total == 5
    assert counts.by_purpose == {"counter_create": 1, "counter_update": 3, "counter_read": 1}
    assert (counts.reads, counts.writes) == (1, 4)
    assert invocations == 5


def test_counter_rows_report_their_usage():
    """The baseline's five calls are one read (the get) and four writes, one unit each; the
    durable counter journals four steps, its four billed operations; neither touches S3."""

    def rows(model):
        return run_experiment(ExperimentSpec.parse({"workload": "counter", "model": model}))

    base, durable = rows("baseline"), rows("durable")
    assert (base["store_read_units"] == 1).all() and (base["store_write_units"] == 4).all()
    assert (base["invocations"] == 5).all() and (base["durable_operations"] == 0).all()
    assert (durable["durable_operations"] == 4).all()
    assert (durable[["store_read_units", "store_write_units"]] == 0).all().all()
    for frame in (base, durable):
        assert (frame[["s3_put_requests", "s3_get_requests"]] == 0).all().all()
        assert (frame["billed_ms"] > 0).all()
