"""Function invocations: costs, cold starts, async forks and their completion times, counts."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from durable_sim.baseline import (
    FunctionRuntime,
    InvocationContext,
    InvocationCounters,
    open_store,
)
from durable_sim.clock import VirtualClock, WallClock
from durable_sim.latency import Dist, LatencyProfile, Sampler

from .conftest import CONST


def work(ms: float) -> Any:
    """A function that charges `ms` of work and reports what it saw."""

    def handler(event: Any, ctx: InvocationContext) -> dict[str, Any]:
        start = ctx.clock.now_ms()
        ctx.clock.charge(ms)
        return {"event": event, "id": ctx.request_id, "cold": ctx.cold_start, "start": start}

    return handler


def test_sync_invoke_charges_invoke_and_one_cold_start(
    clock: VirtualClock, sampler: Sampler
) -> None:
    rt = FunctionRuntime(clock, sampler)
    rt.register("f", work(50))
    first = rt.invoke("f", 1)
    assert first == {"event": 1, "id": "f#0", "cold": True, "start": 110.0}
    assert clock.now_ms() == 10 + 100 + 50
    second = rt.invoke("f", 2)
    assert second["cold"] is False
    assert clock.now_ms() == 160 + 10 + 50
    assert rt.counters == InvocationCounters(sync_invocations=2, cold_starts=1)


def test_each_function_name_has_its_own_cold_start(clock: VirtualClock, sampler: Sampler) -> None:
    rt = FunctionRuntime(clock, sampler)
    rt.register("a", work(0))
    rt.register("b", work(0))
    rt.invoke("a", None)
    rt.invoke("b", None)
    rt.invoke("a", None)
    assert rt.counters.cold_starts == 2
    assert clock.now_ms() == 3 * 10 + 2 * 100


def test_warm_instances_avoid_cold_starts(clock: VirtualClock, sampler: Sampler) -> None:
    rt = FunctionRuntime(clock, sampler, warm_instances=2)
    rt.register("f", work(30))
    handles = [rt.invoke_async("f", i) for i in range(3)]
    assert [h.result()["cold"] for h in handles] == [False, False, True]
    assert rt.counters.cold_starts == 1


def test_async_invocations_run_on_forks_concurrent_with_the_caller(
    clock: VirtualClock, sampler: Sampler
) -> None:
    rt = FunctionRuntime(clock, sampler)
    rt.register("encode", work(200))
    clock.charge(40)
    handles = [rt.invoke_async("encode", i) for i in range(4)]
    assert clock.now_ms() == 40  # the caller's clock did not move
    assert [h.submitted_ms for h in handles] == [40] * 4
    # all four overlap in time, so each needs its own instance: four cold starts
    assert [h.completed_ms for h in handles] == [40 + 10 + 100 + 200] * 4
    assert [h.result()["event"] for h in handles] == [0, 1, 2, 3]
    assert [h.request_id for h in handles] == ["encode#0", "encode#1", "encode#2", "encode#3"]
    assert rt.counters == InvocationCounters(async_invocations=4, cold_starts=4)


def test_instances_are_reused_once_their_work_has_ended(
    clock: VirtualClock, sampler: Sampler
) -> None:
    rt = FunctionRuntime(clock, sampler)
    rt.register("f", work(100))
    h1 = rt.invoke_async("f", None)  # busy on [0, 210]
    clock.sleep_until(100)
    h2 = rt.invoke_async("f", None)  # instance 1 still busy: cold
    clock.sleep_until(500)
    h3 = rt.invoke_async("f", None)  # both idle again: warm
    assert [h.result()["cold"] for h in (h1, h2, h3)] == [True, True, False]
    assert [h.completed_ms for h in (h1, h2, h3)] == [210, 310, 610]


def test_done_by_follows_virtual_completion_time(clock: VirtualClock, sampler: Sampler) -> None:
    rt = FunctionRuntime(clock, sampler, warm_instances=1)
    rt.register("f", work(90))
    h = rt.invoke_async("f", None)
    assert h.done()  # executed eagerly...
    assert not h.done_by(99.0)  # ...but in virtual time it finishes at 10 + 90
    assert h.done_by(100.0)


def test_functions_can_fan_out_from_their_own_timeline(
    clock: VirtualClock, sampler: Sampler
) -> None:
    rt = FunctionRuntime(clock, sampler, warm_instances=10)
    rt.register("worker", work(100))

    def coordinator(n: int, ctx: InvocationContext) -> float:
        handles = [ctx.runtime.invoke_async("worker", i, clock=ctx.clock) for i in range(n)]
        return max(h.completed_ms for h in handles)

    rt.register("coordinator", coordinator)
    last = rt.invoke("coordinator", 3)
    assert last == 10 + 10 + 100  # coordinator invoke, then workers in parallel
    assert clock.now_ms() == 10


def test_store_bound_to_an_invocation_clock(clock: VirtualClock, sampler: Sampler) -> None:
    kv = open_store("memory", clock=clock, sampler=sampler)
    rt = FunctionRuntime(clock, sampler, warm_instances=1)

    def mark(chunk: int, ctx: InvocationContext) -> None:
        kv.bind(ctx.clock).put("chunks", ("job", f"c{chunk}"), {"done": True})

    rt.register("mark", mark)
    h = rt.invoke_async("mark", 0)
    assert h.completed_ms == 10 + 5
    assert clock.now_ms() == 0
    assert kv.counters.writes == 1


def test_failures_are_counted_and_raised(clock: VirtualClock, sampler: Sampler) -> None:
    rt = FunctionRuntime(clock, sampler, warm_instances=1)

    def boom(event: Any, ctx: InvocationContext) -> None:
        ctx.clock.charge(5)
        raise RuntimeError(f"bad chunk {event}")

    rt.register("boom", boom)
    with pytest.raises(RuntimeError, match="bad chunk 1"):
        rt.invoke("boom", 1)
    h = rt.invoke_async("boom", 2)
    assert h.completed_ms == 15 + 15
    with pytest.raises(RuntimeError, match="bad chunk 2"):
        h.result()
    assert rt.counters.failures == 2
    assert rt.counters.as_row() == {
        "invocations": 2,
        "sync_invocations": 1,
        "async_invocations": 1,
        "cold_starts": 0,
        "failed_invocations": 2,
    }


def test_wall_clock_async_invocations_run_in_parallel(sampler: Sampler) -> None:
    started = threading.Barrier(4, timeout=5)

    def meet(event: Any, ctx: InvocationContext) -> int:
        started.wait()  # only returns if all four run at the same time
        return int(event)

    with FunctionRuntime(WallClock(), sampler, max_workers=4) as rt:
        rt.register("meet", meet)
        t0 = time.perf_counter()
        handles = [rt.invoke_async("meet", i) for i in range(4)]
        assert [h.result(timeout_s=5) for h in handles] == [0, 1, 2, 3]
        assert all(h.done_by(rt.clock.now_ms()) for h in handles)
    assert time.perf_counter() - t0 < 5
    assert rt.counters.async_invocations == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warm_instances": -1}, r"bad warm_instances -1 \(accepted: an int in \[0, 10000\]\)"),
        ({"warm_instances": 1.5}, r"bad warm_instances 1.5"),
        ({"warm_instances": True}, r"bad warm_instances True"),
        ({"max_workers": 0}, r"bad max_workers 0 \(accepted: an int in \[1, 1024\]\)"),
    ],
)
def test_bad_runtime_arguments(sampler: Sampler, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FunctionRuntime(VirtualClock(), sampler, **kwargs)


def test_bad_registrations_and_unknown_functions(clock: VirtualClock) -> None:
    rt = FunctionRuntime(clock, Sampler(CONST, 0))
    with pytest.raises(ValueError, match=r"bad function name 'a b' \(accepted: 1-64 characters"):
        rt.register("a b", work(0))
    with pytest.raises(ValueError, match=r"bad handler 3 for 'f'"):
        rt.register("f", 3)  # type: ignore[arg-type]
    rt.register("f", work(0))
    with pytest.raises(ValueError, match="function 'f' is already registered"):
        rt.register("f", work(0))
    with pytest.raises(ValueError, match=r"unknown function 'g' \(accepted: 'f'\)"):
        rt.invoke("g", None)
    with pytest.raises(ValueError, match=r"unknown function 'g' \(accepted: 'f'\)"):
        rt.invoke_async("g", None)
    assert rt.counters.total == 0


def test_invocations_compute_on_the_cores_their_machine_gives_them(
    clock: VirtualClock, sampler: Sampler
) -> None:
    from durable_sim.machine import Machine

    seen: list[object] = []
    for machine, shared in ((Machine("host", cores=2), True), (Machine("lambda", cores=1), False)):
        seen.clear()
        rt = FunctionRuntime(VirtualClock(), sampler, machine=machine.start())
        rt.register("f", lambda event, ctx: seen.append(ctx.cpu))
        rt.invoke("f", None)
        rt.invoke("f", None)
        assert (seen[0] is seen[1]) is shared


def test_a_concurrency_limit_makes_async_invocations_wait_for_a_slot(sampler: Sampler) -> None:
    from durable_sim.machine import Machine

    clock = VirtualClock()
    rt = FunctionRuntime(clock, sampler, machine=Machine("lambda", 1, concurrency_limit=2).start())
    starts: list[float] = []

    def work(event: int, ctx: InvocationContext) -> None:
        starts.append(ctx.clock.now_ms())
        ctx.clock.charge(100.0)

    rt.register("work", work)

    def coordinator(event: None, ctx: InvocationContext) -> list[float]:
        handles = [rt.invoke_async("work", i, clock=ctx.clock) for i in range(3)]
        return [h.completed_ms for h in handles]

    rt.register("coordinator", coordinator)
    ends = rt.invoke("coordinator", None)
    # The coordinator holds one of the two slots, so the workers run one after another. The
    # first pays invoke (10 ms) and a cold start (100 ms); the others reuse its warm instance.
    assert starts == [220.0, 330.0, 440.0]
    assert ends == [320.0, 430.0, 540.0]
    assert rt.counters.cold_starts == 2  # the coordinator's and the first worker's


def test_billed_duration_is_each_handler_s_time_rounded_up_to_the_ms(
    clock: VirtualClock, sampler: Sampler
) -> None:
    """Lambda bills an invocation from its handler's start, rounded up to a whole ms: the
    invoke latency (10 ms) and the cold start's INIT (100 ms, added by the harness) are not
    in `billed_ms`; a handler that raises is billed too."""
    rt = FunctionRuntime(clock, sampler)
    rt.register("f", work(2.2))
    rt.register("g", work(3.0))

    def fails(event: Any, ctx: InvocationContext) -> None:
        ctx.clock.charge(0.5)
        raise RuntimeError("boom")

    rt.register("h", fails)
    rt.invoke("f", 1)  # 2.2 -> 3
    rt.invoke("f", 2)  # warm: 2.2 -> 3
    rt.invoke_async("g", 3)  # 3.0 -> 3, on a fork
    with pytest.raises(RuntimeError, match="boom"):
        rt.invoke("h", 4)  # 0.5 -> 1
    assert rt.billed_ms == 3 + 3 + 3 + 1
    assert clock.now_ms() == pytest.approx(10 + 100 + 2.2 + 10 + 2.2 + 10 + 100 + 0.5)


def test_result_waits_at_most_its_timeout(sampler: Sampler) -> None:
    gate = threading.Event()
    opener = threading.Timer(2.0, gate.set)  # frees a result() that ignored its timeout
    with FunctionRuntime(WallClock(), sampler, max_workers=1) as rt:
        rt.register("held", lambda event, ctx: gate.wait() and event)
        handle = rt.invoke_async("held", "done")
        opener.start()
        try:
            with pytest.raises(TimeoutError):
                handle.result(timeout_s=0.01)
        finally:
            gate.set()
            opener.cancel()
        assert handle.result(timeout_s=5) == "done"


@pytest.mark.parametrize(("kwargs", "threads"), [({"max_workers": 2}, 2), ({}, 16)])
def test_wall_clock_async_invocations_run_on_at_most_max_workers_threads(
    sampler: Sampler, kwargs: dict[str, Any], threads: int
) -> None:
    """The pool has `max_workers` threads (16 by default): invocations past that many wait
    for a thread (here all are held until every one is submitted)."""
    gate = threading.Event()
    with FunctionRuntime(WallClock(), sampler, **kwargs) as rt:
        assert rt.max_workers == threads

        def held(event: Any, ctx: InvocationContext) -> int:
            gate.wait(timeout=10)
            return threading.get_ident()

        rt.register("held", held)
        handles = [rt.invoke_async("held", i) for i in range(threads + 2)]
        gate.set()
        idents = {h.result(timeout_s=10) for h in handles}
    assert len(idents) == threads


def test_close_waits_for_running_async_invocations(sampler: Sampler) -> None:
    gate = threading.Event()
    opener = threading.Timer(0.2, gate.set)
    with FunctionRuntime(WallClock(), sampler) as rt:
        rt.register("held", lambda event, ctx: gate.wait(timeout=10))
        handle = rt.invoke_async("held", None)
        opener.start()
    assert handle.done()  # leaving the block closed the runtime, which waited for it
    assert handle.result() is True
    virtual = FunctionRuntime(VirtualClock(), sampler)
    virtual.close()  # no pool on the virtual clock: nothing to wait for


@pytest.mark.parametrize(
    ("kwargs", "attribute", "value"),
    [
        ({"warm_instances": 10_000}, "warm_instances", 10_000),
        ({"max_workers": 1}, "max_workers", 1),
        ({"max_workers": 1024}, "max_workers", 1024),
    ],
)
def test_runtime_arguments_at_the_edges_of_their_range_are_accepted(
    sampler: Sampler, kwargs: dict[str, Any], attribute: str, value: int
) -> None:
    rt = FunctionRuntime(VirtualClock(), sampler, **kwargs)
    assert getattr(rt, attribute) == value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warm_instances": 10_001}, "bad warm_instances 10001 (accepted: an int in [0, 10000])"),
        ({"max_workers": 1025}, "bad max_workers 1025 (accepted: an int in [1, 1024])"),
    ],
)
def test_runtime_arguments_just_past_their_range_are_rejected(
    sampler: Sampler, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as err:
        FunctionRuntime(VirtualClock(), sampler, **kwargs)
    assert str(err.value) == message


def test_an_unknown_function_error_lists_every_registered_name(sampler: Sampler) -> None:
    rt = FunctionRuntime(VirtualClock(), sampler)
    with pytest.raises(ValueError) as none:
        rt.invoke("f", None)
    assert str(none.value) == "unknown function 'f' (accepted: none registered)"
    rt.register("b", work(0))
    rt.register("a", work(0))
    with pytest.raises(ValueError) as two:
        rt.invoke_async("f", None)
    assert str(two.value) == "unknown function 'f' (accepted: 'a', 'b')"


def test_handlers_and_handles_carry_the_function_name(sampler: Sampler) -> None:
    rt = FunctionRuntime(VirtualClock(), sampler)
    rt.register("named", lambda event, ctx: (ctx.function_name, ctx.request_id))
    assert rt.invoke("named", None) == ("named", "named#0")
    handle = rt.invoke_async("named", None)
    assert (handle.function_name, handle.request_id) == ("named", "named#1")
    assert handle.result() == ("named", "named#1")


def test_an_invocation_runs_on_the_clock_it_is_given(clock: VirtualClock, sampler: Sampler) -> None:
    rt = FunctionRuntime(clock, sampler)
    rt.register("f", work(50))
    other = VirtualClock(500.0)
    assert rt.invoke("f", 1, clock=other)["start"] == 500 + 10 + 100
    assert other.now_ms() == 500 + 10 + 100 + 50
    handle = rt.invoke_async("f", 2, clock=other)
    assert handle.submitted_ms == 660
    assert handle.completed_ms == 660 + 10 + 50
    assert clock.now_ms() == 0.0  # the runtime's own clock never moved


def test_the_nth_invocation_pays_the_draws_keyed_by_its_function_and_n() -> None:
    """Invocation n of function f pays ``draw("invoke", "fn", f, n)``, plus
    ``draw("cold_start", "fn", f, n)`` when it starts cold: the keying that fixes every
    committed baseline latency, whatever order invocations run in."""
    profile = LatencyProfile(name="noisy", invoke=Dist(10.0, 0.5), cold_start=Dist(100.0, 0.5))
    reference = Sampler(profile, seed=5)
    clock = VirtualClock()
    rt = FunctionRuntime(clock, Sampler(profile, seed=5))
    rt.register("f", work(0))
    rt.register("g", work(0))
    paid, expected = [], []
    for name, n in (("f", 0), ("g", 0), ("f", 1), ("g", 1)):
        start = clock.now_ms()
        rt.invoke(name, None)
        paid.append(clock.now_ms() - start)
        cold = reference.draw("cold_start", "fn", name, n) if n == 0 else 0.0
        expected.append(reference.draw("invoke", "fn", name, n) + cold)
    handle = rt.invoke_async("f", None)
    paid.append(handle.completed_ms - handle.submitted_ms)
    expected.append(reference.draw("invoke", "fn", "f", 2))
    assert paid == pytest.approx(expected, rel=1e-12)
    assert len(set(paid)) == len(paid)


class _FailingClock(VirtualClock):
    """A clock on which every charge fails (a platform error before the handler starts)."""

    def charge(self, ms: float) -> None:
        raise OSError("platform unavailable")


def test_an_invocation_failing_before_its_handler_starts_raises_its_error_and_bills_nothing(
    sampler: Sampler,
) -> None:
    rt = FunctionRuntime(VirtualClock(), sampler)
    ran: list[object] = []
    rt.register("f", lambda event, ctx: ran.append(event))
    with pytest.raises(OSError, match="platform unavailable"):
        rt.invoke("f", 1, clock=_FailingClock())
    assert ran == []
    assert rt.billed_ms == 0
    assert rt.counters.failures == 1


def test_instances_that_become_idle_at_the_same_instant_are_all_reused(
    clock: VirtualClock, sampler: Sampler
) -> None:
    """A warm and a cold instance that finish at the same time are both idle afterwards."""
    rt = FunctionRuntime(clock, sampler, warm_instances=1)

    def until(t_ms: float, ctx: InvocationContext) -> bool:
        ctx.clock.sleep_until(t_ms)
        return ctx.cold_start

    rt.register("f", until)
    first = [rt.invoke_async("f", 1000.0) for _ in range(2)]
    assert [h.result() for h in first] == [False, True]
    assert [h.completed_ms for h in first] == [1000.0, 1000.0]
    clock.sleep_until(2000.0)
    second = [rt.invoke_async("f", 3000.0) for _ in range(2)]
    assert [h.result() for h in second] == [False, False]
    assert rt.counters.cold_starts == 1
