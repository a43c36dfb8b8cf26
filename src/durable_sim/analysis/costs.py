"""Cost tables: the price table with its sources, dollars per run by component, sensitivity.

Reads rows that carry their cost (``cost_usd`` and ``cost_<component>_usd`` columns: every row
the experiment harness writes, or `durable_sim.cost.with_costs`'s) and the frames
`PriceTable.frame` and `price_sensitivity` return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from durable_sim.analysis.prose import Sentence, direction, number
from durable_sim.analysis.schema import require_columns
from durable_sim.analysis.tables import Table
from durable_sim.cost import COMPONENTS

COMPONENT_LABELS: dict[str, str] = {
    "lambda_requests": "Lambda requests",
    "lambda_compute": "Lambda GB-s",
    "durable_operations": "Durable ops",
    "durable_written": "Durable written",
    "durable_retained": "Durable retained",
    "dynamodb_reads": "DynamoDB reads",
    "dynamodb_writes": "DynamoDB writes",
    "s3_puts": "S3 PUTs",
    "s3_gets": "S3 GETs",
}


def prices_table(prices: pd.DataFrame) -> Table:
    """The price table as read: price, amount, unit, status, source and the day it was read."""
    require_columns(prices, ["price", "usd", "per", "unit", "status", "source", "read_on"])
    return Table(
        "prices",
        "Prices used by the cost model (US East, on-demand), with their sources.",
        prices.reset_index(drop=True),
        {
            "price": "Price",
            "usd": "USD",
            "per": "Per",
            "unit": "Unit",
            "status": "Status",
            "source": "Source",
            "read_on": "Read on",
        },
        {
            "price": "s",
            "usd": ".10g",
            "per": ".0f",
            "unit": "s",
            "status": "s",
            "source": "s",
            "read_on": "s",
        },
    )


def cost_table(rows: pd.DataFrame, by: Sequence[str], name: str = "costs") -> Table:
    """Mean dollars per run of each group, in total and by component."""
    columns = [f"cost_{c}_usd" for c in COMPONENTS]
    require_columns(rows, [*by, "cost_usd", *columns])
    frame = rows.groupby(list(by), sort=True)[["cost_usd", *columns]].mean().reset_index()
    frame.insert(len(by), "runs", rows.groupby(list(by), sort=True).size().to_numpy())
    headers = {**{b: b.capitalize() for b in by}, "runs": "Runs", "cost_usd": "USD/run"}
    headers.update({f"cost_{c}_usd": COMPONENT_LABELS[c] for c in COMPONENTS})
    formats = {b: "s" for b in by}
    formats.update({c: ".3g" for c in headers if c not in by})
    formats["runs"] = "d"
    return Table(name, "Mean cost per run (USD), by component.", frame, headers, formats)


def sensitivity_table(frame: pd.DataFrame, by: Sequence[str]) -> Table:
    """The cost's relative change when one assumed price is scaled (`price_sensitivity`)."""
    require_columns(frame, [*by, "price", "factor", "cost_usd", "scaled_cost_usd", "change"])
    headers = {
        **{b: b.capitalize() for b in by},
        "price": "Assumed price",
        "factor": "Factor",
        "cost_usd": "USD/run",
        "scaled_cost_usd": "Scaled USD/run",
        "change": "Change",
    }
    formats = {b: "s" for b in by}
    formats.update(
        {
            "price": "s",
            "factor": ".2f",
            "cost_usd": ".3g",
            "scaled_cost_usd": ".3g",
            "change": ".2%",
        }
    )
    return Table(
        "cost_sensitivity",
        "Cost per run with one assumed price halved or doubled.",
        frame.reset_index(drop=True),
        headers,
        formats,
    )


#: How the sentences name each cost component.
COMPONENT_NOUNS: dict[str, str] = {
    "lambda_requests": "Lambda requests",
    "lambda_compute": "Lambda compute",
    "durable_operations": "durable operations",
    "durable_written": "durable data written",
    "durable_retained": "durable data retained",
    "dynamodb_reads": "DynamoDB reads",
    "dynamodb_writes": "DynamoDB writes",
    "s3_puts": "S3 PUTs",
    "s3_gets": "S3 GETs",
}


def _largest(row: pd.Series) -> str:
    name = max(COMPONENTS, key=lambda c: float(row[f"cost_{c}_usd"]))
    share = float(row[f"cost_{name}_usd"]) / float(row["cost_usd"])
    return f"{COMPONENT_NOUNS[name]} ({number(100 * share, 0)} %)"


def cost_sentences(costs: pd.DataFrame) -> list[Sentence]:
    """Per scenario (``profile``) and phase of `costs` (`cost_table`'s frame, grouped by profile,
    phase and model), whether a durable run costs more than, less than or as much as a baseline
    run (to a tenth of a µUSD), and each one's biggest component (its share). Keys
    ``cost_<profile>_<phase>``; a phase whose runs have no cost (an engine that hides some
    usage) gets no sentence."""
    require_columns(
        costs, ["profile", "phase", "model", "cost_usd", *(f"cost_{c}_usd" for c in COMPONENTS)]
    )
    sentences = []
    for (profile, phase), group in costs.groupby(["profile", "phase"], sort=True):
        by_model = group.set_index("model")
        if set(by_model.index) != {"baseline", "durable"}:
            continue
        d, b = by_model.loc["durable"], by_model.loc["baseline"]
        micro_d, micro_b = 1e6 * float(d["cost_usd"]), 1e6 * float(b["cost_usd"])
        if not (math.isfinite(micro_d) and math.isfinite(micro_b)):
            continue  # a run whose engine hides some usage has no cost
        diff = micro_d - micro_b
        text = (
            f"In the {profile} scenario a durable {phase} run costs {number(micro_d, 2)} µUSD, "
            f"{direction(diff, 'cost')} a baseline run's {number(micro_b, 2)} µUSD; the durable "
            f"run's biggest item is {_largest(d)}, the baseline run's {_largest(b)}."
        )
        sentences.append(Sentence(f"cost_{profile}_{phase}", text, {"diff": diff, "kind": "cost"}))
    return sentences
