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
    "ENGINES",
    "MODELS",
    "PHASES",
    "REQUIRED_COLUMNS",
    "STORE_OPS_PREFIX",
    "TIME_COLUMNS",
    "TIME_COMPONENTS",
    "time_column",
]
