"""The run-row schema: one row per run, written by the experiments, read by the analysis.

It lives below both so that each can name the columns without importing the other.
"""

MODELS: tuple[str, ...] = ("baseline", "durable")
#: The paper's phases (its Phase 1 and Phase 2), in its order. A row's ``phase`` is its
#: workload's (`durable_sim.workloads.Workload.phase`): a registered workload brings its own.
PHASES: tuple[str, ...] = ("counter", "video")
ENGINES: tuple[str, ...] = ("sim", "aws-local", "baseline")
STORE_OPS_PREFIX = "store_ops_"

#: What a run's end-to-end time is split into (see `durable_sim.attribution`), in this order.
TIME_COMPONENTS: tuple[str, ...] = (
    "invocation",
    "checkpoint",
    "replay",
    "store",
    "polling_slack",
    "compute",
    "queueing",
    "retry_backoff",
)


def time_column(component: str) -> str:
    """The row column holding `component`'s share of ``time_ms`` (ms), e.g. ``time_store_ms``."""
    if component not in TIME_COMPONENTS:
        raise ValueError(f"unknown time component {component!r} (accepted: {TIME_COMPONENTS})")
    return f"time_{component}_ms"


#: The attribution columns, in component order; they add up to ``time_ms`` on the virtual clock
#: and are empty (NaN) for wall-clock runs, whose time is not traced.
TIME_COLUMNS: tuple[str, ...] = tuple(time_column(c) for c in TIME_COMPONENTS)

#: A run's billable usage, which `durable_sim.cost` prices (units and sources there); a durable
#: run has no store request units, a baseline run no durable operations.
USAGE_COLUMNS: tuple[str, ...] = (
    "invocations",
    "billed_ms",
    "durable_operations",
    "checkpoint_bytes",
    "store_read_units",
    "store_write_units",
    "s3_put_requests",
    "s3_get_requests",
    "time_ms",
)

#: The parts a run's cost is split into, each one usage quantity times one price
#: (`durable_sim.cost.COMPONENTS` names the price of each).
COST_COMPONENTS: tuple[str, ...] = (
    "lambda_requests",
    "lambda_compute",
    "durable_operations",
    "durable_written",
    "durable_retained",
    "dynamodb_reads",
    "dynamodb_writes",
    "s3_puts",
    "s3_gets",
)


def cost_column(component: str) -> str:
    """The row column holding `component`'s dollars per run, e.g. ``cost_s3_puts_usd``."""
    if component not in COST_COMPONENTS:
        raise ValueError(f"unknown cost component {component!r} (accepted: {COST_COMPONENTS})")
    return f"cost_{component}_usd"


#: The cost columns, in component order, then the total ``cost_usd`` (US dollars per run).
COST_COLUMNS: tuple[str, ...] = (*(cost_column(c) for c in COST_COMPONENTS), "cost_usd")

#: Columns every row the experiment harness writes carries besides `REQUIRED_COLUMNS`: the
#: Lambda memory the run was priced at, the rest of its usage, and its cost. Rows saved before
#: the harness priced runs (e.g. a measured data set) lack them, so the analysis requires them
#: only where it reads costs.
PRICED_COLUMNS: tuple[str, ...] = (
    "memory_mb",
    "billed_ms",
    "durable_operations",
    "store_read_units",
    "store_write_units",
    "s3_put_requests",
    "s3_get_requests",
    *COST_COLUMNS,
)

#: Columns every run row carries (the `store_ops_*` split by kind is open-ended).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "phase",
    "model",
    "engine",
    "clock",
    "profile",
    "machine",
    "cores",
    "seed",
    "time_ms",
    "store_ops",
    "checkpoint_ops",
    "checkpoint_bytes",
    "invocations",
    "replays",
    "steps",
    "retries",
    "failed_steps",
    "final_value",
    "output_digest",
    "ok",
    *TIME_COLUMNS,
)

__all__ = [
    "COST_COLUMNS",
    "COST_COMPONENTS",
    "ENGINES",
    "MODELS",
    "PHASES",
    "PRICED_COLUMNS",
    "REQUIRED_COLUMNS",
    "STORE_OPS_PREFIX",
    "TIME_COLUMNS",
    "TIME_COMPONENTS",
    "USAGE_COLUMNS",
    "cost_column",
    "time_column",
]
