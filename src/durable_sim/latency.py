"""Latency profiles: named, documented costs charged to the clock, and keyed sampling.

A draw is keyed by *what* it is for (e.g. ``("checkpoint", "exec-1", "3.2", 1)``), not by
*when* it happens: the same key always gives the same value for a seed, so results do not
depend on the order in which branches, threads or processes happen to run.

A profile is a scenario's costs plus its `Machine` (`durable_sim.machine`): the cores on which
the CPU-bound part of those costs (validate, split, encode, assemble) contends. Profiles are
looked up by name in `PROFILES`, where `register_profile` (or an installed package's entry
point) adds new ones beside the built-ins.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from durable_sim.clock import note_charge
from durable_sim.machine import Machine
from durable_sim.registry import Registry


@dataclass(frozen=True)
class Dist:
    """A latency distribution in milliseconds: log-normal with a median and a shape.

    ``sigma == 0`` is a constant (no random draw is made). Log-normal because service
    latencies are positive and right-skewed.
    """

    median_ms: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if not self.median_ms >= 0:
            raise ValueError(f"median_ms must be >= 0, got {self.median_ms}")
        if not 0 <= self.sigma <= 3:
            raise ValueError(f"sigma must be in [0, 3], got {self.sigma}")

    @property
    def is_constant(self) -> bool:
        return self.sigma == 0 or self.median_ms == 0

    def sample(self, rng: np.random.Generator | None, scale: float = 1.0) -> float:
        """One draw in ms of this distribution `scaled` by `scale` (>= 0; e.g. the seconds of
        video a per-second cost is paid for): ``median_ms * scale * exp(sigma * z)``, `z` a
        standard normal from `rng`.

        A constant result draws nothing (`rng` may be None); a random one raises `ValueError`
        without a generator, and so does a scale that makes the median negative.
        """
        median = self.median_ms
        if scale != 1.0:
            median *= scale
            if not median >= 0:
                raise ValueError(f"median_ms must be >= 0, got {median}")
        if self.sigma == 0 or median == 0:
            return median
        if rng is None:
            raise ValueError("a random Dist needs a generator")
        return median * math.exp(self.sigma * float(rng.standard_normal()))

    def scaled(self, factor: float) -> Dist:
        """The same shape with the median multiplied by `factor` (e.g. per second of video)."""
        return Dist(self.median_ms * factor, self.sigma)


#: The machine of a profile that names none: a host with one core.
ONE_CORE = Machine("host", 1)


@dataclass(frozen=True)
class LatencyProfile:
    """Every cost the models charge. Concrete profiles document each number's source."""

    name: str
    machine: Machine = ONE_CORE
    # Function platform
    invoke: Dist = Dist()  # per function invocation (warm)
    cold_start: Dist = Dist()  # extra on the first invocation of a function
    # Durable runtime
    durable_invoke: Dist = Dist()  # per durable invocation: the service's orchestration of it
    checkpoint: Dist = Dist()  # per checkpoint write made by the durable runtime
    step: Dist = Dist()  # per executed step, SDK overhead beyond its checkpoint
    replay_op: Dist = Dist()  # per journaled operation returned during a replay
    resume: Dist = Dist()  # from a suspension's due time to the re-invocation
    # Key-value store (baseline)
    kv_read: Dist = Dist()
    kv_write: Dist = Dist()
    kv_query: Dist = Dist()
    # Video work, per second of video handled
    validate: Dist = Dist()
    split_per_s: Dist = Dist()
    encode_per_s: Dist = Dist()
    assemble_per_s: Dist = Dist()

    def cost_names(self) -> list[str]:
        """The names of the profile's costs (every `Dist` field), in declaration order."""
        return [f.name for f in fields(self) if f.name not in ("name", "machine")]

    @functools.cached_property
    def zero_costs(self) -> frozenset[str]:
        """The costs that are always zero (constant, median 0): nothing to draw or charge.
        Worked out once per profile (every run asks, and hashing a profile is not cheap)."""
        return frozenset(
            name
            for name in self.cost_names()
            if getattr(self, name).is_constant and getattr(self, name).median_ms == 0
        )


ZERO = LatencyProfile(name="zero")


def stable_key_hash(key: tuple[object, ...]) -> int:
    """A 64-bit hash of a key that is the same in every process and Python version."""
    text = "\x1f".join(map(str, key)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


_ZEROS = (0, 0, 0, 0)


class _Scratch(threading.local):
    """One re-keyable Philox generator per thread, shared by every `Sampler` of the thread.

    `Sampler._keyed` sets its whole state (key, counter 0, empty buffer) before each draw, so
    nothing carries from one draw to the next. Sharing it saves every new sampler (one per run)
    the construction of a Philox, which gathers OS entropy for a seed sequence it never uses.
    The state holds plain ints (each below 2**64), which numpy's setter reads as uint64 several
    times faster than numpy array items.
    """

    def __init__(self) -> None:
        self.bits = np.random.Philox(key=[0, 0])
        self.generator = np.random.Generator(self.bits)
        self.key = [0, 0]
        self.state: Any = {  # numpy's Philox state layout
            "bit_generator": "Philox",
            "state": {"counter": _ZEROS, "key": self.key},
            "buffer": _ZEROS,
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }


_SCRATCH = _Scratch()


class Sampler:
    """Draws costs from a profile with one seeded generator per key.

    The generator of a key is Philox, a counter-based generator, keyed by ``(seed, key)`` and
    started at counter 0: every key has its own stream, whatever order keys are drawn in.
    """

    def __init__(self, profile: LatencyProfile, seed: int) -> None:
        self.profile = profile
        self.seed = int(seed)

    def rng(self, *key: object) -> np.random.Generator:
        """A new generator for `key`, for callers that keep it."""
        return np.random.Generator(np.random.Philox(key=self._key(key)))

    def _key(self, key: tuple[object, ...]) -> np.ndarray:
        # An exact uint64 array: a Python list with a hash above 2**63 would go through float64.
        return np.array([self.seed, stable_key_hash(key)], dtype=np.uint64)

    def _keyed(self, key: tuple[object, ...]) -> np.random.Generator:
        """This thread's scratch generator, re-keyed to `key`: the stream of `rng(*key)`, at a
        fraction of the cost. For one immediate draw only: the next call re-keys it.
        """
        scratch = _SCRATCH
        scratch.key[0] = self.seed  # the state setter copies the values (no aliasing)
        scratch.key[1] = stable_key_hash(key)
        scratch.bits.state = scratch.state
        generator: np.random.Generator = scratch.generator
        return generator

    def uniform(self, *key: object) -> float:
        """A uniform draw in [0, 1) for `key`."""
        return float(self._keyed(key).random())

    def draw(self, cost: str, *key: object, scale: float = 1.0) -> float:
        """Cost `cost` of the profile for the occurrence named by `key`, in ms, `scaled` by
        `scale` (see `Dist.sample`)."""
        dist: Dist = getattr(self.profile, cost)
        constant = dist.sigma == 0 or dist.median_ms * scale == 0
        ms = dist.sample(None if constant else self._keyed((cost, *key)), scale)
        note_charge(cost, ms)
        return ms


# The paper's setting: one machine, the official local runner for durable functions, an
# in-process key-value store, functions as local calls. Figures marked "calibrate" are medians
# measured on this machine by `python -m benchmarks calibrate` (load average 1-6 from other
# users: the CPU-work figures are CPU time, which such load barely moves), timing the
# official `DurableFunctionTestRunner` (aws-durable-execution-sdk-python-testing 1.4.0) and our
# real encoder (PyAV 18.1, libx264 veryfast, threads=1) on the paper's 10 s 640x360 clip.
PAPER_LOCAL = LatencyProfile(
    name="paper-local",
    # calibrate: this host has 2 cores (its CPU affinity); every run's CPU work shares them.
    machine=Machine("host", cores=2),
    # calibrate: a local function call through the baseline runtime, 0.003-0.014 ms.
    invoke=Dist(0.01),
    cold_start=Dist(0.0),  # a local function has no instance to start
    # calibrate: 104-107 ms for an execution with no operations, of which only 3-5 ms is CPU
    # time: the rest is the SDK's checkpoint batcher noticing the end of the invocation, which it
    # polls for every 0.1 s (`_STOP_SIGNAL_POLL_SECONDS` in aws_durable_execution_sdk_python
    # 3.0.0, state.py). Paid once per invocation; spread +-5 % over repeats.
    durable_invoke=Dist(106.0, 0.05),
    # calibrate: 0.3-0.8 ms per extra checkpointed operation (a 10-branch map of no-op steps,
    # 21 operations, over an empty execution). Spread: assumed.
    checkpoint=Dist(0.5, 0.2),
    step=Dist(0.0),
    replay_op=Dist(0.05),  # re-reading a journaled result: a dict lookup and a JSON decode
    resume=Dist(0.0),  # skip-time is on in the local runner: timers fire at once
    # calibrate: in-process memory-store calls: get 0.006-0.016 ms, put 0.02 ms, query of ten
    # items 0.05-0.06 ms. Spread: assumed.
    kv_read=Dist(0.01, 0.2),
    kv_write=Dist(0.02, 0.2),
    kv_query=Dist(0.05, 0.2),
    # calibrate, CPU time (medians of the calibration committed with the measured data,
    # data/measured/calibration.csv, taken on an otherwise idle host, load 1.0; earlier runs
    # under load 1-6 gave 154-170 ms, 0.9-1.1, 81-97 and 13-15): validate (probe plus a full
    # decode, to catch corrupt input) 152.9 ms; split (a keyframe-aligned remux) 0.85 ms per
    # second of video; encode 78.7 ms per second of video (every 1 s chunk of the clip, three
    # times); assemble (concatenation plus a verifying decode) 12.8 ms per second. Spreads: the
    # standard deviation of ln(CPU time) in the same calibration: 0.010 over repeats (validate),
    # 0.011 (assemble), 0.03 (split), 0.044 (encode, across the clip's chunks).
    validate=Dist(152.9, 0.01),
    split_per_s=Dist(0.85, 0.03),
    encode_per_s=Dist(78.7, 0.044),
    assemble_per_s=Dist(12.8, 0.011),
)

# The deployed setting: AWS Lambda with durable functions and DynamoDB.
AWS_LAMBDA = LatencyProfile(
    name="aws-lambda",
    # One execution environment per invocation with 1 vCPU (a 1,769 MB function: "at 1,769 MB,
    # a function has the equivalent of one vCPU", AWS Lambda Developer Guide, "Configure Lambda
    # function memory"), and the default account limit of 1,000 concurrent executions ("Lambda
    # function scaling", same guide).
    machine=Machine("lambda", cores=1, concurrency_limit=1000),
    # Warm invocation overhead of Lambda's Invoke API within a region: ~10-20 ms (published
    # measurements, e.g. Wang et al., "Peeking Behind the Curtains of Serverless Platforms",
    # USENIX ATC 2018); median 15 ms.
    invoke=Dist(15.0, 0.3),
    # Python cold start of a small function: ~250 ms (AWS Lambda documentation: from under
    # 100 ms to over 1 s; small Python packages sit at the low end).
    cold_start=Dist(250.0, 0.3),
    # The durable service's re-invocation of a suspended execution is a Lambda invoke.
    durable_invoke=Dist(15.0, 0.3),
    # Python SDK >= 2.0.1: ~41 ms per checkpointed step (the SDK's synchronous checkpoint call).
    checkpoint=Dist(41.0, 0.2),
    step=Dist(0.0),
    replay_op=Dist(0.05),
    resume=Dist(0.0),
    # DynamoDB: "single-digit millisecond" reads and writes (AWS product documentation).
    kv_read=Dist(4.0, 0.3),
    kv_write=Dist(6.0, 0.3),
    kv_query=Dist(6.0, 0.3),
    # Same CPU work as paper-local: one vCPU is about one core of this machine.
    validate=PAPER_LOCAL.validate,
    split_per_s=PAPER_LOCAL.split_per_s,
    encode_per_s=PAPER_LOCAL.encode_per_s,
    assemble_per_s=PAPER_LOCAL.assemble_per_s,
)

#: Every latency profile by name: the built-ins (`ZERO`, `PAPER_LOCAL`, `AWS_LAMBDA`), yours
#: (`register_profile`), and installed packages' entry points in the group
#: ``durable_sim.profiles`` (each naming a `LatencyProfile`, e.g.
#: ``my-lab = my_package.profiles:MY_LAB``). See `durable_sim.registry`.
PROFILES: Registry[LatencyProfile] = Registry(
    "latency profile", LatencyProfile, group="durable_sim.profiles"
)
PROFILES.register(ZERO, builtin=True)
PROFILES.register(PAPER_LOCAL, builtin=True)
PROFILES.register(AWS_LAMBDA, builtin=True)


def register_profile(profile: LatencyProfile, *, replace: bool = False) -> LatencyProfile:
    """Register `profile` (its costs and its `Machine`) under its name and return it; then a
    spec's ``profile`` and ``durable-sim run --profile`` accept the name. Registered at the top
    level of an importable module, it reaches spawned worker processes (``jobs > 1``); in a
    notebook cell, it runs with ``jobs=1`` (see `durable_sim.registry`).

    Raises `durable_sim.registry.RegistryError` for a value that is not a `LatencyProfile`, a
    bad name, or a name registered elsewhere unless `replace` (the built-ins never).
    """
    return PROFILES.register(profile, replace=replace, stacklevel=2)


#: The costs a calibration (`python -m benchmarks.calibrate`) measures, and ``cores``.
CALIBRATED: tuple[str, ...] = (
    "cores",
    "durable_invoke",
    "checkpoint",
    "invoke",
    "kv_read",
    "kv_write",
    "kv_query",
    "validate",
    "split_per_s",
    "encode_per_s",
    "assemble_per_s",
)


def with_calibration(profile: LatencyProfile, figures: Mapping[str, float]) -> LatencyProfile:
    """`profile` with the calibrated figures applied: the median (ms) of each cost in
    `CALIBRATED` that `figures` holds, its spread from ``"<cost>_sigma"`` if given, and the
    machine's cores from ``"cores"``. Other costs, spreads and keys stay as they are (a
    calibration also reports informational figures).

    Raises `ValueError` for a negative or non-finite median, a sigma outside [0, 3], or a bad
    core count.
    """
    changes: dict[str, object] = {}
    if "cores" in figures:
        changes["machine"] = replace(profile.machine, cores=int(figures["cores"]))
    for cost in CALIBRATED[1:]:
        sigma_key = f"{cost}_sigma"
        if cost not in figures and sigma_key not in figures:
            continue
        dist: Dist = getattr(profile, cost)
        median = float(figures.get(cost, dist.median_ms))
        if not math.isfinite(median) or median < 0:
            raise ValueError(f"bad calibrated {cost} = {median!r} ms (accepted: finite, >= 0)")
        sigma = float(figures.get(sigma_key, dist.sigma))
        if not 0 <= sigma <= 3:
            raise ValueError(f"bad calibrated {sigma_key} = {sigma!r} (accepted: 0 to 3)")
        changes[cost] = Dist(median, sigma)
    return replace(profile, **changes)  # type: ignore[arg-type]


def get_profile(name: str) -> LatencyProfile:
    """The profile registered as `name` (an installed entry point is loaded on first use).
    Raises `durable_sim.registry.UnknownNameError` (a `ValueError`) listing the accepted names."""
    return PROFILES[name]
