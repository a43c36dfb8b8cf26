"""durable_sim: durable execution vs explicit-state serverless workflows, reproducibly."""

from durable_sim.clock import Clock, VirtualClock, WallClock
from durable_sim.durable import (
    CheckpointTooLargeError,
    DurableContext,
    DurableRun,
    JournalCorruptError,
    MemoryJournal,
    NonDeterminismError,
    SqliteJournal,
    complete_callback,
)
from durable_sim.engines import run_durable
from durable_sim.errors import DurableSimError, DurableSimInterrupt
from durable_sim.faults import FaultPlan, InjectedFault, SimulatedCrash
from durable_sim.kernel import KERNEL_NAME
from durable_sim.latency import LatencyProfile, get_profile

__all__ = [
    "KERNEL_NAME",
    "CheckpointTooLargeError",
    "Clock",
    "DurableContext",
    "DurableRun",
    "DurableSimError",
    "DurableSimInterrupt",
    "FaultPlan",
    "InjectedFault",
    "JournalCorruptError",
    "LatencyProfile",
    "MemoryJournal",
    "NonDeterminismError",
    "SimulatedCrash",
    "SqliteJournal",
    "VirtualClock",
    "WallClock",
    "complete_callback",
    "get_profile",
    "run_durable",
]
