"""Latency profiles: distribution validation and keyed, order-independent sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_budget import examples

from durable_sim.latency import ZERO, Dist, LatencyProfile, Sampler, get_profile, stable_key_hash


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"median_ms": -1.0}, "median_ms must be >= 0, got -1.0"),
        ({"median_ms": float("nan")}, "median_ms must be >= 0, got nan"),
        ({"median_ms": 1.0, "sigma": -0.1}, r"sigma must be in \[0, 3\], got -0.1"),
        ({"median_ms": 1.0, "sigma": 3.5}, r"sigma must be in \[0, 3\], got 3.5"),
    ],
)
def test_dist_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Dist(**kwargs)


def test_constant_dist_needs_no_generator_and_random_one_does() -> None:
    assert Dist(7.0).sample(None) == 7.0
    with pytest.raises(ValueError, match="a random Dist needs a generator"):
        Dist(7.0, 0.5).sample(None)
    assert Dist(4.0, 0.2).scaled(2.5) == Dist(10.0, 0.2)


PROFILE = LatencyProfile(name="t", checkpoint=Dist(10.0, 0.5), step=Dist(3.0))


def test_keyed_sampler_is_independent_of_call_order() -> None:
    keys = [("exec", str(i), attempt) for i in range(20) for attempt in (1, 2)]
    forward = Sampler(PROFILE, seed=11)
    backward = Sampler(PROFILE, seed=11)
    a = {k: forward.draw("checkpoint", *k) for k in keys}
    b = {k: backward.draw("checkpoint", *k) for k in reversed(keys)}
    assert a == b
    assert len(set(a.values())) == len(keys)  # distinct keys, distinct draws
    other_seed = Sampler(PROFILE, seed=12)
    assert other_seed.draw("checkpoint", *keys[0]) != a[keys[0]]


def test_every_draw_is_its_keys_own_stream_whatever_sampler_drew_before() -> None:
    """Samplers of one thread share one re-keyed generator: a draw equals the first normal of
    a fresh Philox keyed by (seed, key), whatever was drawn before, by any sampler."""
    samplers = [Sampler(PROFILE, seed) for seed in (0, 7, 2**63 + 5)]
    for i in range(30):
        sampler = samplers[i % 3]
        key = ("exec", str(i), i % 2)
        fresh = float(sampler.rng("checkpoint", *key).standard_normal())
        assert sampler.draw("checkpoint", *key) == 10.0 * math.exp(0.5 * fresh)
        assert sampler.uniform(*key) == float(sampler.rng(*key).random())


@settings(max_examples=examples(300), derandomize=True, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4),
    key=st.tuples(st.text(max_size=6), st.integers(-(2**70), 2**70)),
)
def test_a_keyed_draw_is_a_fresh_philox_for_any_seed_and_key(
    seeds: list[int], key: tuple[str, int]
) -> None:
    """The shared generator, re-keyed from plain ints, gives the stream of a Philox built from
    a uint64 array, for seeds and key hashes over the whole 64-bit range."""
    for seed in seeds:
        sampler = Sampler(PROFILE, seed)
        fresh = sampler.rng("checkpoint", *key)
        assert sampler.draw("checkpoint", *key) == 10.0 * math.exp(
            0.5 * float(fresh.standard_normal())
        )
        assert sampler.uniform(*key) == float(sampler.rng(*key).random())


def test_a_scaled_draw_is_the_draw_of_the_scaled_distribution() -> None:
    sampler = Sampler(PROFILE, seed=3)
    for scale in (0.5, 2.0, 3.3):
        z = float(sampler.rng("checkpoint", "k").standard_normal())
        expected = PROFILE.checkpoint.scaled(scale).median_ms * math.exp(0.5 * z)
        assert sampler.draw("checkpoint", "k", scale=scale) == expected
    assert sampler.draw("checkpoint", "k", scale=0.0) == 0.0
    with pytest.raises(ValueError, match=r"median_ms must be >= 0, got -10\.0"):
        sampler.draw("checkpoint", "k", scale=-1.0)
    with pytest.raises(ValueError, match="median_ms must be >= 0, got nan"):
        sampler.draw("step", "k", scale=float("nan"))


def test_sampler_draws_follow_the_distribution() -> None:
    sampler = Sampler(PROFILE, seed=0)
    draws = np.array([sampler.draw("checkpoint", i) for i in range(4000)])
    assert np.median(draws) == pytest.approx(10.0, rel=0.05)
    assert sampler.draw("step", "anything") == 3.0
    assert sampler.draw("step", "x", scale=2.0) == 6.0


def test_stable_key_hash_is_fixed() -> None:
    assert stable_key_hash(("a", 1)) == stable_key_hash(("a", 1))
    assert stable_key_hash(("a", 1)) != stable_key_hash(("a", 2))
    assert stable_key_hash(("a", 1)) == int.from_bytes(
        __import__("hashlib").blake2b(b"a\x1f1", digest_size=8).digest(), "little"
    )


def test_get_profile() -> None:
    assert get_profile("zero") is ZERO
    with pytest.raises(
        ValueError, match=r"latency profile 'nope' is unknown \(accepted: \[.*'zero'\]\)"
    ):
        get_profile("nope")


def test_scenarios_name_their_machines() -> None:
    from durable_sim.latency import AWS_LAMBDA, PAPER_LOCAL

    assert (PAPER_LOCAL.machine.kind, PAPER_LOCAL.machine.cores) == ("host", 2)
    assert (AWS_LAMBDA.machine.kind, AWS_LAMBDA.machine.concurrency_limit) == ("lambda", 1000)
    assert "machine" not in PAPER_LOCAL.cost_names()


def test_a_calibration_replaces_medians_spreads_and_cores() -> None:
    from durable_sim.latency import PAPER_LOCAL, with_calibration

    tuned = with_calibration(
        PAPER_LOCAL, {"encode_per_s": 70.0, "encode_per_s_sigma": 0.3, "cores": 4, "load_1m": 9}
    )
    assert tuned.encode_per_s == Dist(70.0, 0.3)
    assert tuned.validate == PAPER_LOCAL.validate and tuned.machine.cores == 4
    with pytest.raises(ValueError, match=r"bad calibrated validate = -1.0 ms"):
        with_calibration(PAPER_LOCAL, {"validate": -1.0})


@pytest.mark.parametrize("sigma", [-1.0, 3.5, float("nan")])
def test_a_calibrated_spread_out_of_range_names_its_cost(sigma: float) -> None:
    """A spread outside [0, 3] names the figure it came from (formerly "sigma must be in
    [0, 3], got -1.0", which named no cost: `durable-sim run --costs checkpoint_sigma=-1`)."""
    from durable_sim.latency import PAPER_LOCAL, with_calibration

    with pytest.raises(ValueError) as refused:
        with_calibration(PAPER_LOCAL, {"checkpoint_sigma": sigma})
    assert str(refused.value) == f"bad calibrated checkpoint_sigma = {sigma!r} (accepted: 0 to 3)"
