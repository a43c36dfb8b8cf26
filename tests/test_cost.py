"""The cost model: the price table as data, dollars per run, sensitivity to assumed prices."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from durable_sim.baseline import FunctionRuntime, open_store
from durable_sim.clock import VirtualClock
from durable_sim.cost import (
    COMPONENTS,
    PRICE_NAMES,
    CostInputError,
    PriceTable,
    load_prices,
    price_sensitivity,
    run_cost,
    usage_from_phase_rows,
    with_costs,
)
from durable_sim.latency import ZERO, Sampler
from durable_sim.video import SourceSpec
from durable_sim.workloads import counter, video
from durable_sim.workloads.encoders import make_encoder

REPO = Path(__file__).resolve().parents[1]
PRICES = REPO / "data" / "prices" / "aws-us-east-1.yaml"
ZERO_ROW = dict.fromkeys(
    (
        "invocations",
        "billed_ms",
        "durable_operations",
        "checkpoint_bytes",
        "store_read_units",
        "store_write_units",
        "s3_put_requests",
        "s3_get_requests",
        "time_ms",
    ),
    0,
)


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return load_prices(PRICES)


def test_every_price_has_a_source_a_date_and_a_status(prices: PriceTable) -> None:
    assert sorted(prices.prices) == sorted(PRICE_NAMES)
    for price in prices.prices.values():
        assert price.source.startswith("https://aws.amazon.com/")
        assert price.read_on == "2026-11-29"
        assert price.status in ("confirmed", "assumed")
        assert price.evidence, f"{price.name}: no page read"
        if price.status == "confirmed":
            assert len(price.evidence) >= 2, f"{price.name}: confirmed by one page only"
    assert prices.assumed() == [
        "durable_data_written",
        "durable_data_retained",
        "dynamodb_write_request_unit",
        "dynamodb_read_request_unit",
        "s3_get_request",
    ]


def test_each_component_is_usage_times_price(prices: PriceTable) -> None:
    million = 1_000_000
    row = {
        **ZERO_ROW,
        "invocations": million,
        "billed_ms": 1000.0,
        "durable_operations": million,
        "checkpoint_bytes": 1024**3,
        "store_read_units": million,
        "store_write_units": million,
        "s3_put_requests": 1000,
        "s3_get_requests": 1000,
    }
    cost = run_cost(row, prices, memory_mb=1024, retention_days=14)
    expected = {
        "lambda_requests": 0.20,
        "lambda_compute": 0.0000166667,  # 1 s at 1 GB
        "durable_operations": 8.00,
        "durable_written": 0.25,
        "durable_retained": 0.15 * 14 * 24 / 730,  # 1 GB kept 14 days
        "dynamodb_reads": 0.125,
        "dynamodb_writes": 0.625,
        "s3_puts": 0.005,
        "s3_gets": 0.0004,
    }
    assert set(cost.components) == set(COMPONENTS) == set(expected)
    for name, usd in expected.items():
        assert cost.components[name] == pytest.approx(usd, rel=1e-12), name
    assert cost.total == pytest.approx(sum(expected.values()), rel=1e-12)


def test_memory_scales_compute_only(prices: PriceTable) -> None:
    row = {**ZERO_ROW, "invocations": 3, "billed_ms": 2500.0}
    small = run_cost(row, prices, memory_mb=128)
    big = run_cost(row, prices, memory_mb=1024)
    assert big.components["lambda_compute"] == pytest.approx(8 * small.components["lambda_compute"])
    assert big.components["lambda_requests"] == small.components["lambda_requests"]


def test_with_costs_adds_the_total_and_its_split(prices: PriceTable) -> None:
    rows = pd.DataFrame(
        [{**ZERO_ROW, "invocations": 5, "store_write_units": 4}, {**ZERO_ROW, "billed_ms": 10.0}]
    )
    out = with_costs(rows, prices, memory_mb=1769)
    parts = out[[f"cost_{c}_usd" for c in COMPONENTS]].sum(axis=1)
    assert out["cost_usd"].tolist() == pytest.approx(parts.tolist())
    assert "cost_usd" not in rows  # the input is not modified


def test_sensitivity_is_linear_in_each_assumed_price(prices: PriceTable) -> None:
    rows = pd.DataFrame(
        [
            {**ZERO_ROW, "group": "a", "invocations": 4, "store_write_units": 5},
            {**ZERO_ROW, "group": "b", "durable_operations": 7, "checkpoint_bytes": 4000},
        ]
    )
    frame = price_sensitivity(rows, prices, by=["group"], memory_mb=1024)
    assert set(frame["price"]) == set(prices.assumed())
    costed = with_costs(rows, prices, memory_mb=1024).set_index("group")
    writes = frame[(frame["group"] == "a") & (frame["price"] == "dynamodb_write_request_unit")]
    share = costed.loc["a", "cost_dynamodb_writes_usd"] / costed.loc["a", "cost_usd"]
    for _, r in writes.iterrows():
        assert r["share"] == pytest.approx(share)
        assert r["change"] == pytest.approx(share * (r["factor"] - 1))
    untouched = frame[(frame["group"] == "a") & (frame["price"] == "durable_data_written")]
    assert (untouched["change"] == 0).all()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in ZERO_ROW.items() if k != "billed_ms"}, r"row lacks \['billed_ms'\]"),
        ({**ZERO_ROW, "invocations": -1}, "bad invocations=-1"),
        ({**ZERO_ROW, "time_ms": math.nan}, "bad time_ms=nan"),
        ({**ZERO_ROW, "store_read_units": "3"}, "bad store_read_units='3'"),
    ],
)
def test_bad_rows_get_one_clear_error(
    prices: PriceTable, row: dict[str, object], message: str
) -> None:
    with pytest.raises(CostInputError, match=message):
        run_cost(row, prices, memory_mb=1024)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory_mb": 64}, r"memory_mb=64 \(accepted: an int in 128..10240\)"),
        ({"memory_mb": 1024, "retention_days": 91}, r"retention_days=91 \(accepted: .*1..90\)"),
    ],
)
def test_bad_options_are_refused(prices: PriceTable, options: dict[str, int], message: str) -> None:
    with pytest.raises(CostInputError, match=message):
        run_cost(ZERO_ROW, prices, **options)


def _table_with(tmp_path: Path, name: str, **changes: object) -> Path:
    doc = yaml.safe_load(PRICES.read_text(encoding="utf-8"))
    if changes:
        doc["prices"][name].update(changes)
    else:
        del doc["prices"][name]
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("lambda_request", {}, r"missing prices \['lambda_request'\]"),
        ("lambda_request", {"usd": -0.2}, r"lambda_request.usd=-0.2"),
        ("lambda_request", {"per": 0}, r"lambda_request.per=0"),
        ("s3_get_request", {"status": "guessed"}, r"s3_get_request.status='guessed'"),
        ("s3_get_request", {"source": "http://x"}, r"source='http://x' \(accepted: an https"),
        ("s3_get_request", {"read_on": "yesterday"}, r"read_on='yesterday'"),
    ],
)
def test_bad_price_tables_are_refused(
    tmp_path: Path, name: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(CostInputError, match=message):
        load_prices(_table_with(tmp_path, name, **changes))


def test_committed_phase_rows_get_their_usage(prices: PriceTable) -> None:
    rows = pd.concat(
        [
            pd.read_csv(REPO / "data" / "experiments" / name)
            for name in ("phase1_counter.csv", "phase2_video.csv")
        ],
        ignore_index=True,
    )
    used = usage_from_phase_rows(rows)
    counter_b = used[(used["phase"] == "counter") & (used["model"] == "baseline")].iloc[0]
    assert (counter_b["store_read_units"], counter_b["store_write_units"]) == (1, 4)
    video_d = used[(used["phase"] == "video") & (used["model"] == "durable")].iloc[0]
    assert video_d["s3_put_requests"] == 2 * 10 + 1 and video_d["s3_get_requests"] == 2 * 10 + 2
    assert (with_costs(used, prices, memory_mb=1769)["cost_usd"] > 0).all()
    with pytest.raises(CostInputError, match=r"phases \['actor'\]"):
        usage_from_phase_rows(rows.assign(phase="actor"))


def test_one_request_unit_per_store_call_holds_for_counter_and_video(tmp_path: Path) -> None:
    """`usage_from_phase_rows` counts one unit per call: true for these workloads' items."""
    sampler = Sampler(ZERO, 0)
    clock = VirtualClock()
    store = open_store("memory", clock=clock, sampler=sampler)
    with FunctionRuntime(clock, sampler) as runtime:
        counter.run_baseline_counter(runtime, store, counter_id="c")
    with FunctionRuntime(clock, sampler, max_workers=16) as runtime:
        encoder = make_encoder(
            "model",
            spec=SourceSpec(10, 30, 640, 360, 30),
            sampler=sampler,
            failure_probability=0.0,
            store_root=tmp_path,
        )
        video.run_baseline_video(
            runtime,
            store,
            encoder,
            job_id="j",
            source=encoder.source(),
            chunks=10,
            seed=0,
        )
    c = store.counters
    assert c.read_units == c.reads + c.queries
    assert c.write_units == c.writes + c.deletes
