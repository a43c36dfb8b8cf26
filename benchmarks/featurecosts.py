"""What the engine's gap to its pre-rewrite state consists of: each required feature's cost.

``python -m benchmarks side-by-side`` times five probes on the current tree and on
`sidebyside.REFERENCE` (the engine before the issue-7 rewrite). This benchmark itemises the gap
of the probes that miss there (the 4-step counter, one video run, the 10,000-chunk run; the
probes are side-by-side's own, `sidebyside.PROBES`): each probe runs on the reference, on the
current tree, on the current tree with one required feature switched off (each in turn), and
with all of them off. Every configuration runs in a fresh process, CPU time as side-by-side
measures it, in `ROUNDS` interleaved rounds whose order alternates (forward, then reversed).
A feature's cost in a round is the current time minus the time without it; the table gives its
median and range over the rounds, then the current tree's gap to the reference and the
all-off tree's ratio to the reference.

The switches exist only in this benchmark's probe processes: each is a monkeypatch applied
before the probe runs (`SWITCHES`; `durable_sim` has no flag for any of them). What each
replaces, and what it leaves:

- ``attribution`` (issue 9, time split in the rows): ``experiments.traced`` yields no trace, so
  no clock is observed and no breakdown is computed (the rows' time columns become NaN and
  ``billed_ms`` lacks the cold starts' INIT time). Left: the clocks' check for an observer.
- ``serdes`` (issue 7, fault 2: the SDK's serdes as the one codec): every operation module's
  ``round_trip``/``encode``/``decode`` is a plain-JSON stand-in as the reference journaled
  (compact ``json`` text; a JSON scalar returned as itself, anything else as its decoded
  text; a batch result as its ``to_dict``). Payload sizes change (``checkpoint_bytes``, costs).
- ``history`` (issue 7, the execution history export): no ``InvocationCompleted`` entry is
  recorded at an invocation's end, and a `MemoryJournal` keeps no history list. Left: the
  entries that carry each checkpoint's record to the journal. ``billed_ms`` (read from the
  history) becomes 0.
- ``ids`` (issue 7, the execution context's ARN and the history's request ids): AWS-shaped
  deterministic ids (a blake2b digest each) are replaced by one constant.
- ``lease`` (issue 8, one executor per execution): no owner id is made (a constant), and the
  run holds no lease object, so its writes are not fenced. Left: the journal's take of the
  lease when the execution opens.
- ``cores`` (issue 9, the machine model): CPU work books no core (`machine.Cpu.run` sleeps its
  duration, labelled compute, as on unlimited cores); times change where work queued.

Switches that a probe never reaches are not run for it (the counter runs no experiment, so
neither attribution nor the machine model). Run from a git checkout of the project:
``python -m benchmarks feature-costs``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.registry import Row, benchmark
from benchmarks.sidebyside import PROBES, REFERENCE, ROOT, _extract_reference, _measure
from durable_sim.rows import COST_COLUMNS, TIME_COLUMNS

AREA = f"feature costs vs {REFERENCE}"
ROUNDS = 7
#: The side-by-side probes this benchmark itemises: unit of the printed times, scale from s.
ITEMISED: dict[str, tuple[str, float]] = {
    "counter": ("us", 1e6),
    "video": ("us", 1e6),
    "fanout": ("ms", 1e3),
}


# -- the switches (each applied in a probe process only) -------------------------------------

#: Sets an attribute (``setattr``, or a test's ``monkeypatch.setattr``).
Patch = Callable[[Any, str, Any], None]


def _attribution_off(patch: Patch) -> None:
    import durable_sim.experiments as experiments

    @contextmanager
    def untraced(clock: Any) -> Iterator[None]:
        yield None

    patch(experiments, "traced", untraced)


def _serdes_off(patch: Patch) -> None:
    from aws_durable_execution_sdk_python.concurrency.models import BatchResult

    from durable_sim.durable.operation import callback, child, common, condition, invoke, step

    compact = json.JSONEncoder(separators=(",", ":"))
    scalars = (type(None), str, int, float, bool)

    def encode(value: Any, *_: Any) -> str:
        return compact.encode(value.to_dict() if type(value) is BatchResult else value)

    def decode(data: str | None, *_: Any) -> Any:
        return None if data is None else json.loads(data)

    def round_trip(value: Any, *_: Any) -> tuple[str, Any]:
        payload = encode(value)
        if type(value) in scalars:
            return payload, value
        if type(value) is BatchResult:
            return payload, BatchResult.from_dict(json.loads(payload))
        return payload, json.loads(payload)

    for module in (step, child, condition):
        patch(module, "round_trip", round_trip)
    for module in (common, condition, callback, invoke):
        patch(module, "decode", decode)
    patch(invoke, "encode", encode)


class _Unrecorded(list[Any]):
    """A history list that keeps nothing."""

    def append(self, entry: Any) -> None:
        pass

    def extend(self, entries: Any) -> None:
        pass


def _history_off(patch: Patch) -> None:
    from durable_sim.durable import runtime
    from durable_sim.durable.journal.memory import MemoryJournal

    def end_invocation(self: Any, began: float, request_id: str, error: Any = None) -> None:
        self._join_branches()
        self.invocation = None

    patch(runtime._Runner, "end_invocation", end_invocation)
    opened = MemoryJournal.open_execution

    def open_execution(self: MemoryJournal, execution_id: str, *args: Any, **kw: Any) -> Any:
        record = opened(self, execution_id, *args, **kw)
        self._executions[execution_id].history = _Unrecorded()
        return record

    patch(MemoryJournal, "open_execution", open_execution)


_FIXED_UUID = "00000000-0000-0000-0000-000000000000"


def _ids_off(patch: Patch) -> None:
    from durable_sim.durable import registry, runtime

    def fixed(*key: object) -> str:
        return _FIXED_UUID

    patch(registry, "deterministic_uuid", fixed)
    patch(runtime, "deterministic_uuid", fixed)


class _Unleased:
    """Stands for `HeldLease` with no lease: writes unfenced, nothing to check or stop."""

    __slots__ = ("lease",)

    def __init__(self, lease: Any) -> None:
        self.lease = None

    def check(self) -> None:
        pass

    def stop(self) -> None:
        return None


def _lease_off(patch: Patch) -> None:
    from durable_sim.durable import lease, runtime

    patch(lease, "new_owner_id", lambda: "owner")
    patch(runtime, "HeldLease", _Unleased)


def _cores_off(patch: Patch) -> None:
    from durable_sim.machine import COMPUTE, Cpu

    def run(self: Cpu, clock: Any, ms: float) -> None:
        clock.sleep_until(clock.now_ms() + ms, COMPUTE)

    patch(Cpu, "run", run)


@dataclass(frozen=True)
class Switch:
    """One required feature, the issue requiring it, how to switch it off, the probes that
    reach it, and the experiment row columns it defines (which may change when it is off)."""

    label: str
    off: Callable[[Patch], None]
    probes: frozenset[str]
    defines: frozenset[str] = frozenset()


_ALL = frozenset(ITEMISED)
_EXPERIMENTS = frozenset({"video", "fanout"})
_COSTS = frozenset(COST_COLUMNS)
SWITCHES: dict[str, Switch] = {
    "attribution": Switch(
        "time attribution (issue 9)",
        _attribution_off,
        _EXPERIMENTS,
        frozenset({*TIME_COLUMNS, "billed_ms"}) | _COSTS,
    ),
    "serdes": Switch(
        "SDK serdes round trip (issue 7, fault 2)",
        _serdes_off,
        _ALL,
        frozenset({"checkpoint_bytes"}) | _COSTS,
    ),
    "history": Switch(
        "AWS history entries (issue 7, history export)",
        _history_off,
        _ALL,
        frozenset({"billed_ms"}) | _COSTS,
    ),
    "ids": Switch("AWS deterministic ids (issue 7, ARN and request ids)", _ids_off, _ALL),
    "lease": Switch("lease: owner id, fenced writes (issue 8)", _lease_off, _ALL),
    "cores": Switch(
        "machine model's core booking (issue 9)",
        _cores_off,
        _EXPERIMENTS,
        frozenset({"time_ms", *TIME_COLUMNS, "billed_ms"}) | _COSTS,
    ),
}


def switch_off(names: list[str], patch: Patch = setattr) -> None:
    """Apply the monkeypatches of `SWITCHES` `names` in this process (before a probe runs),
    each through `patch` (``setattr``; a test passes one that undoes itself).

    Raises ValueError naming an unknown switch and the accepted ones."""
    unknown = sorted(set(names) - set(SWITCHES))
    if unknown:
        raise ValueError(f"unknown switches {unknown} (accepted: {sorted(SWITCHES)})")
    for name in names:
        SWITCHES[name].off(patch)


# -- measuring -------------------------------------------------------------------------------


def _measure_current(probe: str, off: list[str]) -> float:
    """Run `probe` on the current tree with `off` switched off, in a fresh interpreter; s."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.featurecosts", probe, *off],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"probe {probe} with {off} switched off failed:\n{out.stderr}")
    return float(json.loads(out.stdout.splitlines()[-1]))


def _spread(values: list[float]) -> tuple[float, str]:
    return statistics.median(values), f"range {min(values):.3g} to {max(values):.3g}"


def _probe_rows(probe: str, reference: Path) -> list[Row]:
    """The rows of one probe: `ROUNDS` interleaved rounds of every configuration."""
    name, unit = PROBES[probe][0], ITEMISED[probe][0]
    scale = ITEMISED[probe][1]
    switches = [s for s, switch in SWITCHES.items() if probe in switch.probes]
    configs: list[tuple[str, list[str]]] = [
        ("reference", []),
        ("current", []),
        *[(s, [s]) for s in switches],
        ("all off", switches),
    ]
    times: dict[str, list[float]] = {label: [] for label, _ in configs}
    for r in range(ROUNDS):
        for label, off in configs if r % 2 == 0 else configs[::-1]:
            seconds = (
                _measure(reference, probe) if label == "reference" else _measure_current(probe, off)
            )
            times[label].append(seconds * scale)
    rounds = range(ROUNDS)
    current, ref = times["current"], times["reference"]
    rows = []
    for label in ("reference", "current", "all off"):
        value, spread = _spread(times[label])
        what = "current, every feature off" if label == "all off" else label
        rows.append(Row(AREA, f"{name}: {what} (CPU, {spread})", value, unit, "-", None))
    for s in switches:
        cost = [current[i] - times[s][i] for i in rounds]
        value, spread = _spread(cost)
        rows.append(
            Row(AREA, f"{name}: cost of {SWITCHES[s].label} ({spread})", value, unit, "-", None)
        )
    every = [current[i] - times["all off"][i] for i in rounds]
    value, spread = _spread(every)
    rows.append(
        Row(AREA, f"{name}: cost of every feature together ({spread})", value, unit, "-", None)
    )
    gap = [current[i] - ref[i] for i in rounds]
    value, spread = _spread(gap)
    rows.append(Row(AREA, f"{name}: gap, current - reference ({spread})", value, unit, "-", None))
    for label in ("current", "all off"):
        ratio = [times[label][i] / ref[i] for i in rounds]
        value, spread = _spread(ratio)
        what = "current" if label == "current" else "every feature off"
        rows.append(Row(AREA, f"{name}: {what} / reference ({spread})", value, "x", "-", None))
    return rows


@benchmark("feature-costs")
def feature_costs() -> list[Row]:
    """Each itemised probe on the reference, the current tree, and the current tree with each
    required feature off and all off: `ROUNDS` interleaved rounds."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = _extract_reference(Path(tmp))
        for probe in ITEMISED:
            print(f"  probe {probe} ...", file=sys.stderr, flush=True)
            rows += _probe_rows(probe, reference)
    return rows


if __name__ == "__main__":
    switch_off(sys.argv[2:])
    print(json.dumps(PROBES[sys.argv[1]][3]()))
