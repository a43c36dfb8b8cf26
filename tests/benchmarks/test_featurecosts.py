"""The feature-costs benchmark's switches: each really switches its feature off (the feature's
code is never called), and changes nothing its feature does not define."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import pandas as pd
import pytest

from benchmarks import featurecosts, sidebyside
from durable_sim import run_durable
from durable_sim.attribution import Trace
from durable_sim.durable import codec, lease, registry, runtime
from durable_sim.experiments import ExperimentSpec, run_experiment
from durable_sim.machine import Calendar

#: Functions that only the feature runs: none may be called once it is switched off.
WITNESSES: dict[str, list[Callable[..., Any]]] = {
    "attribution": [Trace.advanced, Trace.breakdown],
    "serdes": [codec.round_trip, codec.encode, codec.decode],
    "history": [runtime._Runner.end_invocation],
    "ids": [registry.deterministic_uuid],
    "lease": [lease.new_owner_id],
    "cores": [Calendar.book],
}

VIDEO = ExperimentSpec.parse(
    {"workload": "video", "model": "durable", "runs": 2, "chunks": 10, "video_seconds": 10}
)


def _counter() -> tuple[str, Any]:
    run = run_durable(sidebyside._counter, {})
    return run.status, run.result


def _video() -> pd.DataFrame:
    return run_experiment(VIDEO)


def _calls(codes: set[CodeType], func: Callable[[], Any]) -> tuple[int, Any]:
    """Calls of functions whose code is in `codes` while `func` runs (greenlets included);
    and what `func` returned."""
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call" and frame.f_code in codes:
            count += 1

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        result = func()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return count, result


def test_every_switch_has_witnesses() -> None:
    assert set(WITNESSES) == set(featurecosts.SWITCHES)


@pytest.mark.parametrize("name", sorted(featurecosts.SWITCHES))
def test_switch_turns_its_feature_off(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    switch = featurecosts.SWITCHES[name]
    codes = {func.__code__ for func in WITNESSES[name]}
    probes = {"counter": _counter, "video": _video}
    reached = [probe for probe in probes if probe in switch.probes]
    before = {probe: _calls(codes, probes[probe]) for probe in reached}
    assert all(calls > 0 for calls, _ in before.values()), before
    featurecosts.switch_off([name], monkeypatch.setattr)
    after = {probe: _calls(codes, probes[probe]) for probe in reached}
    assert all(calls == 0 for calls, _ in after.values()), after
    if "counter" in reached:
        assert after["counter"][1] == before["counter"][1] == ("SUCCEEDED", 2)
    if "video" in reached:
        rows_before, rows_after = before["video"][1], after["video"][1]
        assert list(rows_after.columns) == list(rows_before.columns)
        kept = [c for c in rows_before.columns if c not in switch.defines]
        pd.testing.assert_frame_equal(rows_after[kept], rows_before[kept])
        assert bool(rows_after["ok"].all())


def test_every_switch_together_keeps_the_probes_results(monkeypatch: pytest.MonkeyPatch) -> None:
    featurecosts.switch_off(sorted(featurecosts.SWITCHES), monkeypatch.setattr)
    assert _counter() == ("SUCCEEDED", 2)
    assert bool(_video()["ok"].all())


def test_an_unknown_switch_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown switches \['tracing'\] \(accepted: \["):
        featurecosts.switch_off(["tracing"])
