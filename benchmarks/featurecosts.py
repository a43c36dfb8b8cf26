"""What the engine's gap to its pre-rewrite state consists of: each required feature's cost.

``python -m benchmarks side-by-side`` times five probes on the current tree and on
`sidebyside.REFERENCE` (the engine before the issue-7 rewrite). This benchmark itemises the gap
of the probes that miss there (the 4-step counter, one video run, the 10,000-chunk run; the
probes are side-by-side's own, `sidebyside.PROBES`): each probe runs on the reference, on the
current tree, on the current tree with one required feature switched off (each in turn), and
with all of them off. Every configuration runs in a fresh process, CPU time as side-by-side
measures it, in interleaved rounds (`ITEMISED`) whose order alternates (forward, then
reversed). A feature's cost in a round is the current time minus the time without it; the table
gives its median and range over the rounds, the current tree's gap to the reference, and the
all-off tree's ratio to the reference. A negative cost means the run is faster with the feature
than with its stand-in.

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
  recorded at an invocation's end, and a `MemoryJournal` keeps no history list (its no-op
  ``append``/``extend`` are Python calls, a few tens of ns dearer than the list's: the saving
  is slightly understated). Left: the entries that carry each checkpoint's record to the
  journal. ``billed_ms`` (read from the history) becomes 0.
- ``ids`` (issue 7, the execution context's ARN and the history's request ids): AWS-shaped
  deterministic ids (a blake2b digest each) are replaced by one constant.
- ``lease`` (issue 8, one executor per execution): no owner id is made (host name, process id
  and random bytes: system calls); a constant stands for it. Left: the lease a
  `MemoryJournal` takes at the execution's opening and the epoch comparison on each write
  (no stand-in is cheaper: a run without a lease writes as an outside party, which checks each
  append for a woken execution).
- ``cores`` (issue 9, the machine model): CPU work books no core (`machine.Cpu.run` sleeps its
  duration, labelled compute): unlimited cores, as the reference modelled. This changes the
  schedule, not only the cost: map branches that queued for a core now run at the same
  instants, and a branch whose time moved while an equal-time sibling waits hands control to
  the coordinator instead of keeping its turn. So the experiment probes also run with every
  feature off but this one (``same schedule``).

Switches that a probe never reaches are not run for it (the counter runs no experiment, so
neither attribution nor the machine model). Run from a git checkout of the project:
``python -m benchmarks feature-costs``.
"""

from __future__ import annotations

import json
import statistics
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
#: The side-by-side probes this benchmark itemises: unit of the printed times, its scale from
#: seconds, and the rounds (more for the counter, whose fresh processes differ by a few us).
ITEMISED: dict[str, tuple[str, float, int]] = {
    "counter": ("us", 1e6, 15),
    "video": ("us", 1e6, 7),
    "fanout": ("ms", 1e3, 5),
}
ALL_OFF = "every feature off"
SAME_SCHEDULE = "every feature off but the core booking (same schedule)"


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


def _lease_off(patch: Patch) -> None:
    from durable_sim.durable import lease

    patch(lease, "new_owner_id", lambda: "owner")


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
    #: False if switching it off changes what the simulation does, not only its cost.
    same_schedule: bool = True


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
    "lease": Switch("lease owner id (issue 8)", _lease_off, _ALL),
    "cores": Switch(
        "machine model's core booking (issue 9; off: unlimited cores, as the reference)",
        _cores_off,
        _EXPERIMENTS,
        frozenset({"time_ms", *TIME_COLUMNS, "billed_ms"}) | _COSTS,
        same_schedule=False,
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
    return _measure(ROOT / "src", probe, "benchmarks.featurecosts", *off)


def _spread(values: list[float]) -> tuple[float, str]:
    return statistics.median(values), f"range {min(values):.3g} to {max(values):.3g}"


def _probe_rows(probe: str, reference: Path) -> list[Row]:
    """The rows of one probe: its rounds (`ITEMISED`) of every configuration, interleaved."""
    name = PROBES[probe][0]
    unit, scale, rounds = ITEMISED[probe]
    switches = [s for s, switch in SWITCHES.items() if probe in switch.probes]
    same = [s for s in switches if SWITCHES[s].same_schedule]
    configs: dict[str, list[str]] = {"reference": [], "current": []}
    configs.update({s: [s] for s in switches})
    configs[ALL_OFF] = switches
    if same != switches:
        configs[SAME_SCHEDULE] = same
    order = list(configs)
    times: dict[str, list[float]] = {label: [] for label in order}
    for r in range(rounds):
        for label in order if r % 2 == 0 else order[::-1]:
            seconds = (
                _measure(reference, probe)
                if label == "reference"
                else _measure_current(probe, configs[label])
            )
            times[label].append(seconds * scale)

    def row(what: str, values: list[float], unit: str) -> Row:
        median, spread = _spread(values)
        return Row(AREA, f"{name}: {what} ({spread})", median, unit, "-", None)

    current, ref = times["current"], times["reference"]
    rows = [row("reference, CPU", ref, unit), row("current, CPU", current, unit)]
    rows.append(row("gap, current - reference", _minus(current, ref), unit))
    rows.append(row("current / reference", _over(current, ref), "x"))
    for s in switches:
        cost = _minus(current, times[s])
        rows.append(row(f"cost of {SWITCHES[s].label}", cost, unit))
    for label in (ALL_OFF, SAME_SCHEDULE):
        if label in times:
            rows.append(row(f"cost of {label}", _minus(current, times[label]), unit))
            rows.append(row(f"{label} / reference", _over(times[label], ref), "x"))
    return rows


def _minus(a: list[float], b: list[float]) -> list[float]:
    """Each round's difference."""
    return [x - y for x, y in zip(a, b, strict=True)]


def _over(a: list[float], b: list[float]) -> list[float]:
    """Each round's ratio."""
    return [x / y for x, y in zip(a, b, strict=True)]


@benchmark("feature-costs")
def feature_costs() -> list[Row]:
    """Each itemised probe on the reference, the current tree, and the current tree with each
    required feature off and all off, in interleaved rounds."""
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
