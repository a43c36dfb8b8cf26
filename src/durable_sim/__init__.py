"""durable_sim: durable execution vs explicit-state serverless workflows, reproducibly."""

from durable_sim.clock import Clock, VirtualClock, WallClock
from durable_sim.durable import (
    CallbackAnswer,
    CheckpointTooLargeError,
    DurableContext,
    DurableRun,
    ExecutionBusyError,
    FunctionRegistry,
    JournalCorruptError,
    JournalError,
    LeaseConfig,
    MemoryJournal,
    NonDeterminismError,
    PostgresJournal,
    SqliteJournal,
    export_history,
    export_history_from_journal,
    send_callback_failure,
    send_callback_heartbeat,
    send_callback_success,
)
from durable_sim.engines import run_durable
from durable_sim.errors import DurableSimError, DurableSimInterrupt
from durable_sim.faults import FaultPlan, InjectedFault, SimulatedCrash
from durable_sim.kernel import KERNEL_NAME
from durable_sim.latency import LatencyProfile, get_profile

__all__ = [
    "KERNEL_NAME",
    "CallbackAnswer",
    "CheckpointTooLargeError",
    "Clock",
    "DurableContext",
    "DurableRun",
    "DurableSimError",
    "DurableSimInterrupt",
    "ExecutionBusyError",
    "FaultPlan",
    "FunctionRegistry",
    "InjectedFault",
    "JournalCorruptError",
    "JournalError",
    "LatencyProfile",
    "LeaseConfig",
    "MemoryJournal",
    "NonDeterminismError",
    "PostgresJournal",
    "SimulatedCrash",
    "SqliteJournal",
    "VirtualClock",
    "WallClock",
    "export_history",
    "export_history_from_journal",
    "get_profile",
    "run_durable",
    "send_callback_failure",
    "send_callback_heartbeat",
    "send_callback_success",
]
