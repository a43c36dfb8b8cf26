"""The cost model: the price table as data, dollars per run, sensitivity to assumed prices."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_sim.cost import (
    COMPONENTS,
    MB_PER_VCPU,
    PRICE_NAMES,
    CostInputError,
    PriceTable,
    lambda_memory_mb,
    load_prices,
    price_sensitivity,
    run_cost,
    with_costs,
)
from durable_sim.rows import COST_COMPONENTS, USAGE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
PRICES = REPO / "data" / "prices" / "aws-us-east-1.yaml"
ZERO_ROW = dict.fromkeys(USAGE_COLUMNS, 0)


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
    costed = with_costs(rows, prices, memory_mb=1024)
    frame = price_sensitivity(costed, prices, by=["group"])
    assert set(frame["price"]) == set(prices.assumed())
    by_group = costed.set_index("group")
    writes = frame[(frame["group"] == "a") & (frame["price"] == "dynamodb_write_request_unit")]
    share = by_group.loc["a", "cost_dynamodb_writes_usd"] / by_group.loc["a", "cost_usd"]
    for _, r in writes.iterrows():
        assert r["share"] == pytest.approx(share)
        assert r["change"] == pytest.approx(share * (r["factor"] - 1))
    untouched = frame[(frame["group"] == "a") & (frame["price"] == "durable_data_written")]
    assert (untouched["change"] == 0).all()


usage_values = st.fixed_dictionaries(
    {column: st.integers(0, 10**6) | st.floats(0, 1e7, allow_nan=False) for column in USAGE_COLUMNS}
)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    rows=st.lists(usage_values, min_size=1, max_size=4),
    name=st.sampled_from(PRICE_NAMES),
    factor=st.floats(0.01, 100),
    memory=st.integers(128, 10_240),
)
def test_sensitivity_equals_pricing_again_with_the_scaled_price(
    rows: list[dict[str, float]], name: str, factor: float, memory: int
) -> None:
    """Scaling one price in the cost columns (no re-pricing) gives what re-pricing gives."""
    prices = load_prices(PRICES)
    frame = pd.DataFrame(rows).assign(group="g")
    costed = with_costs(frame, prices, memory_mb=memory)
    (result,) = price_sensitivity(
        costed, prices, by=["group"], names=[name], factors=[factor]
    ).itertuples()
    again = with_costs(frame, prices.scaled(name, factor), memory_mb=memory)["cost_usd"].mean()
    assert result.scaled_cost_usd == pytest.approx(again, rel=1e-9, abs=1e-15)
    assert result.cost_usd == pytest.approx(costed["cost_usd"].mean(), rel=1e-12, abs=1e-18)


def test_sensitivity_needs_priced_rows_and_known_prices(prices: PriceTable) -> None:
    rows = pd.DataFrame([{**ZERO_ROW, "group": "a"}])
    with pytest.raises(CostInputError, match=r"rows lack \['cost_usd'"):
        price_sensitivity(rows, prices, by=["group"])
    costed = with_costs(rows, prices, memory_mb=1024)
    with pytest.raises(CostInputError, match=r"unknown prices \['lambda_gb_hour'\]"):
        price_sensitivity(costed, prices, by=["group"], names=["lambda_gb_hour"])
    with pytest.raises(CostInputError, match=r"bad factors \[0\]"):
        price_sensitivity(costed, prices, by=["group"], factors=[0])


def test_components_are_the_row_schema_s(prices: PriceTable) -> None:
    assert tuple(COMPONENTS) == COST_COMPONENTS
    assert sorted(COMPONENTS.values()) == sorted(PRICE_NAMES)


@pytest.mark.parametrize(("vcpus", "memory"), [(1, 1769), (2, 3538), (5, 8845), (6, 10_240)])
def test_lambda_memory_gives_the_vcpus(vcpus: int, memory: int) -> None:
    assert lambda_memory_mb(vcpus) == memory == min(MB_PER_VCPU * vcpus, 10_240)


@pytest.mark.parametrize("vcpus", [0, -1, 1.5, True])
def test_lambda_memory_refuses_bad_vcpus(vcpus: object) -> None:
    with pytest.raises(CostInputError, match=rf"bad vcpus={vcpus!r} \(accepted: an int >= 1\)"):
        lambda_memory_mb(vcpus)  # type: ignore[arg-type]


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


def test_a_price_given_twice_is_refused(tmp_path: Path) -> None:
    text = PRICES.read_text(encoding="utf-8")
    assert text.count("\nprices:\n") == 1
    twice = tmp_path / "prices.yaml"
    twice.write_text(text.replace("\nprices:\n", "\nprices:\n  s3_get_request: {}\n"), "utf-8")
    with pytest.raises(CostInputError, match=r"key 's3_get_request' given twice"):
        load_prices(twice)


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
