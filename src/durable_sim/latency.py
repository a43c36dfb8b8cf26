"""Latency profiles: named, documented costs charged to the clock, and keyed sampling.

A draw is keyed by *what* it is for (e.g. ``("checkpoint", "exec-1", "3.2", 1)``), not by
*when* it happens: the same key always gives the same value for a seed, so results do not
depend on the order in which branches, threads or processes happen to run.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, fields

import numpy as np


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

    def sample(self, rng: np.random.Generator | None) -> float:
        if self.is_constant:
            return self.median_ms
        if rng is None:
            raise ValueError("a random Dist needs a generator")
        return self.median_ms * math.exp(self.sigma * float(rng.standard_normal()))

    def scaled(self, factor: float) -> Dist:
        """The same shape with the median multiplied by `factor` (e.g. per second of video)."""
        return Dist(self.median_ms * factor, self.sigma)


@dataclass(frozen=True)
class LatencyProfile:
    """Every cost the models charge. Concrete profiles document each number's source."""

    name: str
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
        return [f.name for f in fields(self) if f.name != "name"]


ZERO = LatencyProfile(name="zero")


def stable_key_hash(key: tuple[object, ...]) -> int:
    """A 64-bit hash of a key that is the same in every process and Python version."""
    text = "\x1f".join(str(part) for part in key).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


_ZEROS = np.zeros(4, dtype=np.uint64)


class Sampler:
    """Draws costs from a profile with one seeded generator per key.

    The generator of a key is Philox, a counter-based generator, keyed by ``(seed, key)`` and
    started at counter 0: every key has its own stream, whatever order keys are drawn in.
    """

    def __init__(self, profile: LatencyProfile, seed: int) -> None:
        self.profile = profile
        self.seed = int(seed)
        self._local = threading.local()  # one re-keyable generator per thread

    def rng(self, *key: object) -> np.random.Generator:
        """A new generator for `key`, for callers that keep it."""
        return np.random.Generator(np.random.Philox(key=self._key(key)))

    def _key(self, key: tuple[object, ...]) -> np.ndarray:
        # An exact uint64 array: a Python list with a hash above 2**63 would go through float64.
        return np.array([self.seed, stable_key_hash(key)], dtype=np.uint64)

    def _keyed(self, key: tuple[object, ...]) -> np.random.Generator:
        """This thread's generator, re-keyed to `key`: the stream of `rng(*key)`, 4x cheaper.

        For one immediate draw only: the next call re-keys it.
        """
        local = self._local
        if not hasattr(local, "generator"):
            local.bits = np.random.Philox(key=[self.seed, 0])
            local.generator = np.random.Generator(local.bits)
        local.bits.state = {
            "bit_generator": "Philox",
            "state": {
                "counter": _ZEROS,
                "key": np.array([self.seed, stable_key_hash(key)], np.uint64),
            },
            "buffer": _ZEROS,
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }
        generator: np.random.Generator = local.generator
        return generator

    def uniform(self, *key: object) -> float:
        """A uniform draw in [0, 1) for `key`."""
        return float(self._keyed(key).random())

    def draw(self, cost: str, *key: object, scale: float = 1.0) -> float:
        """Cost `cost` of the profile for the occurrence named by `key`, in ms."""
        dist: Dist = getattr(self.profile, cost)
        if scale != 1.0:
            dist = dist.scaled(scale)
        if dist.is_constant:
            return dist.median_ms
        return dist.sample(self._keyed((cost, *key)))


# The paper's setting: one machine, the official local runner for durable functions, an
# in-process key-value store, functions as local calls. Figures marked "calibrate" are medians
# measured on this kind of machine (2 cores) by `python -m benchmarks calibrate`, which times
# the official `DurableFunctionTestRunner` (aws-durable-execution-sdk-python-testing 1.4.0) and
# our real encoder (PyAV 18.1, libx264 veryfast, threads=1) on the paper's 10 s 640x360 clip.
PAPER_LOCAL = LatencyProfile(
    name="paper-local",
    # A local function call: no network hop; Python call overhead is below 0.01 ms.
    invoke=Dist(0.0),
    cold_start=Dist(0.0),
    # calibrate: 106-110 ms for an execution with no operations -- the runner's scheduling and
    # checkpoint-polling floor, paid once per invocation. Spread: runs ranged about +-5 %.
    durable_invoke=Dist(110.0, 0.05),
    # calibrate: 0.8 ms per extra checkpointed operation (a 10-branch map of no-op steps, 21
    # operations, over an empty execution). Spread: assumed.
    checkpoint=Dist(0.8, 0.2),
    step=Dist(0.0),
    replay_op=Dist(0.05),  # re-reading a journaled result: a dict lookup and a JSON decode
    resume=Dist(0.0),  # skip-time is on in the local runner: timers fire at once
    # In-process store: a locked dict or a local SQLite file, ~0.05 ms a call. Spread: assumed.
    kv_read=Dist(0.05, 0.2),
    kv_write=Dist(0.05, 0.2),
    kv_query=Dist(0.08, 0.2),
    # calibrate: validate (probe plus a full decode, to catch corrupt input) 313 ms; split (a
    # keyframe-aligned remux) 1.4 ms per second of video; encode 131 ms per second of video;
    # assemble (concatenation plus a verifying decode) 29 ms per second. Spread: assumed 0.1.
    validate=Dist(310.0, 0.1),
    split_per_s=Dist(1.4, 0.1),
    encode_per_s=Dist(130.0, 0.1),
    assemble_per_s=Dist(29.0, 0.1),
)

# The deployed setting: AWS Lambda with durable functions and DynamoDB.
AWS_LAMBDA = LatencyProfile(
    name="aws-lambda",
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
    # Same video work as paper-local: a Lambda with 1,769 MB has one full vCPU, about one core
    # of this machine.
    validate=PAPER_LOCAL.validate,
    split_per_s=PAPER_LOCAL.split_per_s,
    encode_per_s=PAPER_LOCAL.encode_per_s,
    assemble_per_s=PAPER_LOCAL.assemble_per_s,
)

PROFILES: dict[str, LatencyProfile] = {p.name: p for p in (ZERO, PAPER_LOCAL, AWS_LAMBDA)}


def get_profile(name: str) -> LatencyProfile:
    """A registered profile by name."""
    try:
        return PROFILES[name]
    except KeyError:
        accepted = ", ".join(repr(n) for n in sorted(PROFILES))
        raise ValueError(f"unknown latency profile {name!r} (accepted: {accepted})") from None
