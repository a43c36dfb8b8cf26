"""Dollars per run: a run row's billable usage priced from a price table kept as data.

Pure functions over row values; the prices live in ``data/prices/*.yaml`` (`load_prices`), each
with its source, the pages read and the day they were read, and a status: ``confirmed`` or
``assumed``. A run's cost is a sum of usage x price terms, so it is linear in every price; the
report shows its sensitivity to each assumed price (`price_sensitivity`).

What a row must carry (`USAGE_COLUMNS`), per run:

======================  ====================================================================
column                  meaning (unit)
======================  ====================================================================
``invocations``         Lambda invocations, each one billed request
``billed_ms``           summed duration of those invocations (ms), billed per GB-second at
                        the function's memory size
``durable_operations``  operations in the durable execution's journal (0 for the baseline)
``checkpoint_bytes``    payload bytes the durable runtime checkpointed (results, errors):
                        "data written", and retained for the run's duration plus the
                        retention period
``store_read_units``    DynamoDB read request units (``StoreCounters.read_units``)
``store_write_units``   DynamoDB write request units (``StoreCounters.write_units``)
``s3_put_requests``     S3 PUT requests (chunks and results written)
``s3_get_requests``     S3 GET requests (chunks read)
``time_ms``             the run's end-to-end time (ms): how long its journal is kept before
                        the retention period starts
======================  ====================================================================

The experiment harness prices every run it makes (`durable_sim.experiments`): the rows carry
these columns and the cost columns (`durable_sim.rows.COST_COLUMNS`).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd
import yaml

from durable_sim import yamlfile
from durable_sim.errors import DurableSimError
from durable_sim.rows import COST_COMPONENTS, USAGE_COLUMNS, cost_column

STATUSES: tuple[str, ...] = ("confirmed", "assumed")
#: Prices the cost model uses; a price table must define each of them.
PRICE_NAMES: tuple[str, ...] = (
    "lambda_request",
    "lambda_gb_second",
    "durable_operation",
    "durable_data_written",
    "durable_data_retained",
    "dynamodb_read_request_unit",
    "dynamodb_write_request_unit",
    "s3_put_request",
    "s3_get_request",
)
#: The cost components, each the product of one usage quantity and one price.
COMPONENTS: dict[str, str] = {
    "lambda_requests": "lambda_request",
    "lambda_compute": "lambda_gb_second",
    "durable_operations": "durable_operation",
    "durable_written": "durable_data_written",
    "durable_retained": "durable_data_retained",
    "dynamodb_reads": "dynamodb_read_request_unit",
    "dynamodb_writes": "dynamodb_write_request_unit",
    "s3_puts": "s3_put_request",
    "s3_gets": "s3_get_request",
}
GB = 1024**3
#: Hours in the month AWS bills storage by (GB-month = a GB kept 730 hours).
HOURS_PER_MONTH = 730.0
#: Lambda memory sizes, MB (AWS Lambda quotas: 128 MB to 10,240 MB in 1 MB steps).
MEMORY_RANGE_MB = (128, 10_240)
#: Memory that gives a function one vCPU: "At 1,769 MB, a function has the equivalent of one
#: vCPU" (AWS Lambda Developer Guide, "Configure Lambda function memory",
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
MB_PER_VCPU = 1769
#: Retention of a closed durable execution, days (DurableConfig RetentionPeriodInDays: 1-90,
#: default 14; https://docs.aws.amazon.com/lambda/latest/api/API_DurableConfig.html).
RETENTION_RANGE_DAYS = (1, 90)
DEFAULT_RETENTION_DAYS = 14


if tuple(COMPONENTS) != COST_COMPONENTS:  # one list of components, in the row schema's order
    raise AssertionError(f"COMPONENTS {tuple(COMPONENTS)} != rows.COST_COMPONENTS")


def lambda_memory_mb(vcpus: int) -> int:
    """The Lambda memory size that gives `vcpus` vCPUs (`MB_PER_VCPU` each), capped at the
    largest size (10,240 MB, about six vCPUs). Raises `CostInputError` for `vcpus` < 1."""
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
        raise CostInputError(f"bad vcpus={vcpus!r} (accepted: an int >= 1)")
    return min(MB_PER_VCPU * vcpus, MEMORY_RANGE_MB[1])


class CostInputError(DurableSimError, ValueError):
    """A bad price table, memory size, retention or row; the message names the bad value."""


@dataclass(frozen=True)
class Price:
    """One price: `usd` per `per` units of `unit`, with where it comes from."""

    name: str
    usd: float
    per: float
    unit: str
    status: Literal["confirmed", "assumed"]
    source: str
    read_on: str
    evidence: tuple[tuple[str, str], ...] = ()
    note: str = ""

    @property
    def per_unit(self) -> float:
        """Dollars for one unit."""
        return self.usd / self.per


@dataclass(frozen=True)
class PriceTable:
    """A region's prices by name."""

    region: str
    currency: str
    prices: Mapping[str, Price]

    def __getitem__(self, name: str) -> Price:
        return self.prices[name]

    def assumed(self) -> list[str]:
        """Names of the prices marked ``assumed``, in table order."""
        return [n for n, p in self.prices.items() if p.status == "assumed"]

    def scaled(self, name: str, factor: float) -> PriceTable:
        """The same table with price `name` multiplied by `factor` (> 0)."""
        if name not in self.prices:
            raise CostInputError(f"unknown price {name!r} (accepted: {sorted(self.prices)})")
        if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
            raise CostInputError(f"bad factor {factor!r} (accepted: a finite number > 0)")
        old = self.prices[name]
        new = {**self.prices, name: Price(**{**vars(old), "usd": old.usd * factor})}
        return PriceTable(self.region, self.currency, new)

    def frame(self) -> pd.DataFrame:
        """One row per price: name, price per unit, unit, status, source, read_on."""
        return pd.DataFrame(
            [
                {
                    "price": p.name,
                    "usd": p.usd,
                    "per": p.per,
                    "unit": p.unit,
                    "status": p.status,
                    "source": p.source,
                    "read_on": p.read_on,
                }
                for p in self.prices.values()
            ]
        )


def _bad(path: Path, what: str) -> CostInputError:
    return CostInputError(f"bad price table {str(path)!r}: {what}")


def _price(path: Path, name: str, raw: object) -> Price:
    if not isinstance(raw, Mapping):
        raise _bad(path, f"price {name!r} must be a mapping, got {raw!r}")
    required = ("usd", "per", "unit", "status", "source", "read_on")
    missing = [k for k in required if k not in raw]
    if missing:
        raise _bad(path, f"price {name!r} lacks {missing} (required: {list(required)})")
    usd, per = raw["usd"], raw["per"]
    for key, value in (("usd", usd), ("per", per)):
        if not (isinstance(value, int | float) and not isinstance(value, bool)):
            raise _bad(path, f"{name}.{key}={value!r} (accepted: a number)")
        if not (math.isfinite(value) and value >= 0) or (key == "per" and value == 0):
            raise _bad(path, f"{name}.{key}={value!r} (accepted: finite, >= 0; per > 0)")
    if raw["status"] not in STATUSES:
        raise _bad(path, f"{name}.status={raw['status']!r} (accepted: {list(STATUSES)})")
    read_on = raw["read_on"]
    if not isinstance(read_on, dt.date):
        raise _bad(path, f"{name}.read_on={read_on!r} (accepted: a date, YYYY-MM-DD)")
    source = str(raw["source"])
    if not source.startswith("https://"):
        raise _bad(path, f"{name}.source={source!r} (accepted: an https:// URL)")
    evidence = tuple((str(e["url"]), str(e["says"])) for e in raw.get("evidence", ()))
    return Price(
        name=name,
        usd=float(usd),
        per=float(per),
        unit=str(raw["unit"]),
        status=raw["status"],
        source=source,
        read_on=read_on.isoformat(),
        evidence=evidence,
        note=str(raw.get("note", "")),
    )


def load_prices(path: str | Path) -> PriceTable:
    """Read a price table (YAML: ``region``, ``currency``, ``prices``; see data/prices/).

    Raises `CostInputError` naming the file and the bad entry: a missing or unknown price, a
    negative or non-numeric amount, an unknown status, a source that is not an https URL. The
    parsed table is remembered by the file's content (the harness reads it for every spec).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(path, f"cannot read it ({exc})") from None
    return _parse_prices(str(path), data)


@functools.lru_cache(maxsize=16)
def _parse_prices(name: str, data: bytes) -> PriceTable:
    path = Path(name)
    try:
        doc = yamlfile.load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _bad(path, f"cannot read it ({exc})") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("prices"), Mapping):
        raise _bad(path, "expected a mapping with 'region', 'currency' and 'prices'")
    if doc.get("currency") != "USD":
        raise _bad(path, f"currency={doc.get('currency')!r} (accepted: 'USD')")
    prices = {str(n): _price(path, str(n), raw) for n, raw in doc["prices"].items()}
    missing = [n for n in PRICE_NAMES if n not in prices]
    unknown = [n for n in prices if n not in PRICE_NAMES]
    if missing or unknown:
        raise _bad(path, f"missing prices {missing}, unknown prices {unknown}")
    return PriceTable(str(doc.get("region", "")), "USD", MappingProxyType(prices))


def _check_options(memory_mb: object, retention_days: object) -> None:
    low, high = MEMORY_RANGE_MB
    if not (isinstance(memory_mb, int) and not isinstance(memory_mb, bool)) or not (
        low <= memory_mb <= high
    ):
        raise CostInputError(f"bad memory_mb={memory_mb!r} (accepted: an int in {low}..{high})")
    low, high = RETENTION_RANGE_DAYS
    if not (isinstance(retention_days, int) and not isinstance(retention_days, bool)) or not (
        low <= retention_days <= high
    ):
        raise CostInputError(
            f"bad retention_days={retention_days!r} (accepted: an int in {low}..{high})"
        )


def usage(
    values: Mapping[str, Any], *, memory_mb: int, retention_days: int = DEFAULT_RETENTION_DAYS
) -> dict[str, float]:
    """The billable quantity of each component (`COMPONENTS`) for one row's values.

    Compute is GB-seconds (``billed_ms`` x memory); retention is GB-months (checkpointed bytes
    kept for ``time_ms`` plus `retention_days`). Raises `CostInputError` for a missing,
    non-numeric or negative value.
    """
    _check_options(memory_mb, retention_days)
    missing = [c for c in USAGE_COLUMNS if c not in values]
    if missing:
        raise CostInputError(f"row lacks {missing} (a costed row carries {list(USAGE_COLUMNS)})")
    v: dict[str, float] = {}
    for column in USAGE_COLUMNS:
        raw = values[column]
        number = float(raw) if isinstance(raw, numbers.Real) and not isinstance(raw, bool) else None
        if number is None or not math.isfinite(number) or number < 0:
            raise CostInputError(f"bad {column}={raw!r} (accepted: a finite number >= 0)")
        v[column] = number
    kept_hours = v["time_ms"] / 3_600_000.0 + 24.0 * retention_days
    return {
        "lambda_requests": v["invocations"],
        "lambda_compute": v["billed_ms"] / 1000.0 * memory_mb / 1024.0,
        "durable_operations": v["durable_operations"],
        "durable_written": v["checkpoint_bytes"] / GB,
        "durable_retained": v["checkpoint_bytes"] / GB * kept_hours / HOURS_PER_MONTH,
        "dynamodb_reads": v["store_read_units"],
        "dynamodb_writes": v["store_write_units"],
        "s3_puts": v["s3_put_requests"],
        "s3_gets": v["s3_get_requests"],
    }


@dataclass(frozen=True)
class CostBreakdown:
    """A run's cost in dollars, by component (`COMPONENTS`), and the total."""

    components: Mapping[str, float]

    @property
    def total(self) -> float:
        return float(sum(self.components.values()))


def run_cost(
    values: Mapping[str, Any],
    prices: PriceTable,
    *,
    memory_mb: int,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> CostBreakdown:
    """Dollars for one run row: each component's usage times its price (see `usage`)."""
    quantities = usage(values, memory_mb=memory_mb, retention_days=retention_days)
    return CostBreakdown({c: quantities[c] * prices[COMPONENTS[c]].per_unit for c in COMPONENTS})


def with_costs(
    rows: pd.DataFrame,
    prices: PriceTable,
    *,
    memory_mb: int,
    retention_days: int = DEFAULT_RETENTION_DAYS,
) -> pd.DataFrame:
    """`rows` with ``cost_usd`` and one ``cost_<component>_usd`` column per component added."""
    costs = [
        run_cost(values, prices, memory_mb=memory_mb, retention_days=retention_days)
        for values in rows.to_dict("records")
    ]
    out = rows.copy()
    for component in COMPONENTS:
        out[cost_column(component)] = [c.components[component] for c in costs]
    out["cost_usd"] = [c.total for c in costs]
    return out


def price_sensitivity(
    rows: pd.DataFrame,
    prices: PriceTable,
    *,
    by: Sequence[str],
    names: Sequence[str] | None = None,
    factors: Sequence[float] = (0.5, 2.0),
) -> pd.DataFrame:
    """Mean cost per run of each group of priced `rows` (columns `by`) with each price scaled.

    `rows` carry the cost columns (`with_costs`, or the experiment harness's rows). A run's cost
    is linear in every price, so scaling price p by f changes it by ``(f - 1)`` times p's
    component: no run is priced again. One row per group, price (`names`, default the table's
    ``assumed`` ones) and factor (> 0): ``cost_usd`` at the table's prices, ``scaled_cost_usd``,
    ``change`` (relative) and ``share`` (the price's part of the cost, so ``change = share x
    (factor - 1)``). Raises `CostInputError` for a missing column, an unknown price or a bad
    factor.
    """
    names = list(prices.assumed() if names is None else names)
    of_price = {price: component for component, price in COMPONENTS.items()}
    unknown = [n for n in names if n not in of_price]
    if unknown:
        raise CostInputError(f"unknown prices {unknown} (accepted: {list(of_price)})")
    bad = [f for f in factors if not (isinstance(f, int | float) and math.isfinite(f) and f > 0)]
    if bad:
        raise CostInputError(f"bad factors {bad} (accepted: finite numbers > 0)")
    columns = ["cost_usd", *(cost_column(of_price[n]) for n in names)]
    missing = [c for c in [*by, *columns] if c not in rows]
    if missing:
        raise CostInputError(f"rows lack {missing} (price them first: with_costs)")
    means = rows.groupby(list(by), sort=True)[columns].mean()
    records = []
    for name in names:
        part = cost_column(of_price[name])
        for factor in factors:
            for key, group in means.iterrows():
                keys = key if isinstance(key, tuple) else (key,)
                cost, component = float(group["cost_usd"]), float(group[part])
                share = component / cost if cost > 0 else float("nan")
                records.append(
                    {
                        **dict(zip(by, keys, strict=True)),
                        "price": name,
                        "factor": float(factor),
                        "cost_usd": cost,
                        "scaled_cost_usd": cost + (factor - 1.0) * component,
                        "change": share * (factor - 1.0) + 0.0,
                        "share": share + 0.0,
                    }
                )
    return pd.DataFrame(records)
