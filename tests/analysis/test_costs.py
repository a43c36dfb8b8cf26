"""Cost tables: means per group by component, the price table, the sensitivity table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from durable_sim.analysis import to_markdown
from durable_sim.analysis.costs import (
    cost_sentences,
    cost_table,
    prices_table,
    sensitivity_table,
)
from durable_sim.analysis.prose import contradictions
from durable_sim.cost import COMPONENTS, load_prices, price_sensitivity, with_costs

PRICES = Path(__file__).resolve().parents[2] / "data" / "prices" / "aws-us-east-1.yaml"


def _rows() -> pd.DataFrame:
    zero = {
        "invocations": 0,
        "billed_ms": 0.0,
        "durable_operations": 0,
        "checkpoint_bytes": 0,
        "store_read_units": 0,
        "store_write_units": 0,
        "s3_put_requests": 0,
        "s3_get_requests": 0,
        "time_ms": 0.0,
    }
    return pd.DataFrame(
        [
            {**zero, "model": "baseline", "invocations": 5, "store_write_units": 4},
            {**zero, "model": "baseline", "invocations": 7, "store_write_units": 4},
            {**zero, "model": "durable", "invocations": 1, "durable_operations": 4},
        ]
    )


def test_cost_table_means_per_group() -> None:
    prices = load_prices(PRICES)
    table = cost_table(with_costs(_rows(), prices, memory_mb=1024), by=("model",))
    frame = table.frame.set_index("model")
    assert list(frame["runs"]) == [2, 1]
    assert frame.loc["baseline", "cost_lambda_requests_usd"] == pytest.approx(6 * 0.2e-6)
    assert frame.loc["durable", "cost_durable_operations_usd"] == pytest.approx(4 * 8e-6)
    parts = frame[[f"cost_{c}_usd" for c in COMPONENTS]].sum(axis=1)
    assert (abs(parts - frame["cost_usd"]) < 1e-15).all()


def test_price_and_sensitivity_tables_render() -> None:
    prices = load_prices(PRICES)
    text = to_markdown(prices_table(prices.frame()))
    assert "assumed" in text and "https://aws.amazon.com/lambda/pricing/" in text
    sens = price_sensitivity(with_costs(_rows(), prices, memory_mb=1024), prices, by=["model"])
    rendered = to_markdown(sensitivity_table(sens, by=("model",)))
    assert "dynamodb_write_request_unit" in rendered and "%" in rendered


def test_cost_sentences_say_which_model_costs_more_and_its_biggest_item() -> None:
    """The durable counter row: 4 durable operations at 8 µUSD and one request (0.2 µUSD), 32.2
    µUSD; the baseline: 6 requests and 4 writes, 1.2 + 2.5 = 3.7 µUSD."""
    prices = load_prices(PRICES)
    rows = with_costs(_rows(), prices, memory_mb=1024).assign(profile="aws-lambda", phase="video")
    (sentence,) = cost_sentences(cost_table(rows, by=("profile", "phase", "model")).frame)
    assert sentence.key == "cost_aws-lambda_video"
    assert sentence.text.startswith(
        "In the aws-lambda scenario a durable video run costs 32.20 µUSD, more than a baseline "
        "run's 3.70 µUSD; the durable run's biggest item is durable operations (99 %), the "
        "baseline run's DynamoDB writes (68 %)."
    )
    assert not contradictions(sentence)
    cheaper = rows.assign(cost_usd=rows["cost_usd"].where(rows["model"] == "baseline", 1e-6))
    (flipped,) = cost_sentences(cost_table(cheaper, by=("profile", "phase", "model")).frame)
    assert "less than a baseline run's" in flipped.text and not contradictions(flipped)
    unknown = rows.assign(cost_usd=rows["cost_usd"].where(rows["model"] == "baseline"))
    assert cost_sentences(cost_table(unknown, by=("profile", "phase", "model")).frame) == []
