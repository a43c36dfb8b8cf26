"""The actor workload: lost updates where they must be zero and where they must not be."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_sim.workloads.actor import (
    VARIANTS,
    ActorSpec,
    ActorSpecError,
    actor_rows,
    journal_growth,
    run_actor,
)


def _spec(**values: object) -> ActorSpec:
    return ActorSpec.parse({"variant": "durable", **values})


def test_naive_read_modify_write_loses_updates_under_contention() -> None:
    row = run_actor(_spec(variant="rmw", clients=8, messages=10)).row
    assert row["acknowledged"] == 80
    assert row["lost_updates"] > 0
    assert row["final_value"] == 80 - row["lost_updates"]
    assert row["conflicts"] == 0  # nothing tells the clients: the loss is silent
    assert not row["ok"]


@pytest.mark.parametrize("variant", ["durable", "cas", "add"])
def test_variants_that_promise_no_loss_lose_nothing_under_contention(variant: str) -> None:
    row = run_actor(_spec(variant=variant, clients=8, messages=5)).row
    assert row["acknowledged"] == row["final_value"] == 40
    assert row["lost_updates"] == row["failed_messages"] == 0
    assert row["ok"]


def test_contention_shows_up_as_conflicts_and_retries() -> None:
    cas = run_actor(_spec(variant="cas", clients=16, messages=5)).row
    durable = run_actor(_spec(variant="durable", clients=16, messages=5)).row
    add = run_actor(_spec(variant="add", clients=16, messages=5)).row
    assert cas["conflicts"] == cas["store_conditional_failures"] > 0
    assert cas["retries"] == cas["conflicts"]
    assert durable["conflicts"] > 0 and durable["retries"] == durable["conflicts"]
    assert add["conflicts"] == add["retries"] == 0
    assert add["store_ops"] == 1 + 80  # the create, then one atomic add per message


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    variant=st.sampled_from(VARIANTS),
    clients=st.integers(1, 6),
    messages=st.integers(1, 4),
    think_ms=st.sampled_from([0.0, 5.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_final_value_accounts_for_every_acknowledged_message(
    variant: str, clients: int, messages: int, think_ms: float, seed: int
) -> None:
    spec = _spec(variant=variant, clients=clients, messages=messages, think_ms=think_ms, seed=seed)
    row = run_actor(spec).row
    assert row["acknowledged"] + row["failed_messages"] == clients * messages
    assert row["failed_messages"] == 0  # 1,000 attempts with backoff always get through here
    if variant == "rmw":
        assert 0 <= row["lost_updates"] < row["acknowledged"]  # never over-counts
        if clients == 1:
            assert row["lost_updates"] == 0  # one client never races itself
    else:
        assert row["lost_updates"] == 0
        assert row["final_value"] == row["acknowledged"] == row["handled"]


def test_runs_are_deterministic_and_seeds_change_the_interleaving() -> None:
    spec = _spec(variant="durable", clients=4, messages=3)
    first, again = run_actor(spec), run_actor(spec)
    assert first.row == again.row and first.latencies_ms == again.latencies_ms
    other = run_actor(_spec(variant="durable", clients=4, messages=3, seed=1))
    assert other.latencies_ms != first.latencies_ms


def test_durable_actor_journals_three_operations_per_message() -> None:
    row = run_actor(_spec(clients=2, messages=4)).row
    n = row["handled"] + 1  # the stop message is a callback too
    assert row["handled"] == 8
    assert row["journal_callbacks"] == row["journal_steps"] == row["journal_contexts"] == n
    assert row["durable_operations"] == 3 * n
    assert row["checkpoint_ops"] > 0 and row["checkpoint_bytes"] > 0
    assert row["store_ops_mailbox_publish"] == n  # one address per callback
    assert row["store_ops_mailbox_lookup"] >= n  # at least one lookup per delivery


def test_journal_growth_is_three_operations_per_message() -> None:
    growth = journal_growth(_spec(clients=1, messages=20, think_ms=1000.0))
    ops, messages = list(growth["operations"]), list(growth["messages"])
    # A message delivered while the actor runs is taken in the same resumption (the service
    # re-checks its callbacks before ending an invocation PENDING), so a row may take two.
    assert messages[0] == 0 and messages[-1] == 21
    assert messages == sorted(set(messages))  # strictly increasing
    assert ops[:-1] == [3 * (m + 1) for m in messages[:-1]]  # done so far + the open receive
    assert ops[-1] == 3 * messages[-1]  # the stop message closed the last receive
    assert (growth["journal_bytes"].diff().dropna() > 0).all()
    replay = growth["replayed_operations"].to_numpy()
    assert replay[0] == 0 and (replay[1:] == growth["operations"].to_numpy()[:-1]).all()


def test_journal_growth_needs_the_durable_variant() -> None:
    with pytest.raises(ActorSpecError, match=r"'rmw'.*accepted: 'durable'"):
        journal_growth(_spec(variant="rmw"))


def test_rows_stack_one_per_spec() -> None:
    rows = actor_rows([_spec(variant=v, clients=2, messages=2) for v in VARIANTS])
    assert list(rows["run_id"]) == [0, 1, 2, 3]
    assert list(rows["variant"]) == list(VARIANTS)
    assert set(rows["model"]) == {"durable", "baseline"}
    with pytest.raises(ActorSpecError, match="none given"):
        actor_rows([])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"clients": 0}, "clients=0"),
        ({"messages": 0}, "messages=0"),
        ({"variant": "lock"}, "variant='lock'"),
        ({"profile": "moon"}, "profile 'moon' is unknown"),
        ({"backoff_base_ms": 50.0, "backoff_cap_ms": 10.0}, "cap >= base"),
        ({"think_ms": -1.0}, "think_ms=-1.0"),
    ],
)
def test_bad_specs_get_one_clear_error(values: dict[str, object], message: str) -> None:
    with pytest.raises(ActorSpecError, match=message) as info:
        _spec(**values)
    assert "\n" not in str(info.value)
