"""The paper's two workloads, each as a durable workflow and as an explicit-state baseline.

`WORKLOADS` maps each workload's name to the `Workload` the experiment harness runs.
"""

from durable_sim.workloads.base import RunEnv, RunValues, Workload
from durable_sim.workloads.counter import COUNTER
from durable_sim.workloads.video import VIDEO

WORKLOADS: dict[str, Workload] = {w.name: w for w in (COUNTER, VIDEO)}

__all__ = ["COUNTER", "VIDEO", "WORKLOADS", "RunEnv", "RunValues", "Workload"]
