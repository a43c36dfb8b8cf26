"""The run-row schema: one row per run, written by the experiments, read by the analysis.

It lives below both so that each can name the columns without importing the other.
"""

MODELS: tuple[str, ...] = ("baseline", "durable")
PHASES: tuple[str, ...] = ("counter", "video")
ENGINES: tuple[str, ...] = ("sim", "aws-local", "baseline")
STORE_OPS_PREFIX = "store_ops_"

#: Columns every run row carries (the `store_ops_*` split by kind is open-ended).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "phase",
    "model",
    "engine",
    "clock",
    "profile",
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
)

__all__ = ["ENGINES", "MODELS", "PHASES", "REQUIRED_COLUMNS", "STORE_OPS_PREFIX"]
