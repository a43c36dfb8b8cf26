"""Latency profiles: named, documented costs charged to the clock, and keyed sampling.

A draw is keyed by *what* it is for (e.g. ``("checkpoint", "exec-1", "3.2", 1)``), not by
*when* it happens: the same key always gives the same value for a seed, so results do not
depend on the order in which branches, threads or processes happen to run.
"""

from __future__ import annotations

import hashlib
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
        return float(self.median_ms * np.exp(self.sigma * rng.standard_normal()))

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


class Sampler:
    """Draws costs from a profile with one seeded generator per key."""

    def __init__(self, profile: LatencyProfile, seed: int) -> None:
        self.profile = profile
        self.seed = int(seed)

    def rng(self, *key: object) -> np.random.Generator:
        return np.random.default_rng([self.seed, stable_key_hash(key)])

    def draw(self, cost: str, *key: object, scale: float = 1.0) -> float:
        """Cost `cost` of the profile for the occurrence named by `key`, in ms."""
        dist: Dist = getattr(self.profile, cost)
        if scale != 1.0:
            dist = dist.scaled(scale)
        if dist.is_constant:
            return dist.median_ms
        return dist.sample(self.rng(cost, *key))


PROFILES: dict[str, LatencyProfile] = {ZERO.name: ZERO}


def get_profile(name: str) -> LatencyProfile:
    """A registered profile by name."""
    try:
        return PROFILES[name]
    except KeyError:
        accepted = ", ".join(repr(n) for n in sorted(PROFILES))
        raise ValueError(f"unknown latency profile {name!r} (accepted: {accepted})") from None
