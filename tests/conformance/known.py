"""Why an engine does not meet a requirement: one `Known` difference per kind, shared by the cases
it explains. Each names the symptom it stands for, so a case that fails for another reason is an
error rather than an expected failure (the pass table lists the reasons)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    """A known difference: the sentence for the table, and a regex the mismatches must contain."""

    reason: str
    symptom: str


RUNNER_DROPS_CRASHED_INVOCATION = Known(
    "runner 1.4.0 records no InvocationCompleted event for an invocation whose process crashed "
    "(it retries the invocation after 5 s), so AWS's InvocationCompleted{Error: Runtime.ExitError} "
    "is missing from the history",
    r"EventType: expected 'InvocationCompleted', got 'Step",
)
RUNNER_NO_RETRY_DETAILS_ON_SUCCESS = Known(
    "runner 1.4.0 gives a step that succeeds on a retry no RetryDetails (AWS reports "
    "CurrentAttempt on the StepSucceeded event)",
    r"StepSucceededDetails\.RetryDetails: key missing",
)
RUNNER_NO_CALLBACK_TIMEOUTS_IN_HISTORY = Known(
    "runner 1.4.0's CallbackStarted events carry no Timeout or HeartbeatTimeout (it keeps them "
    "only in the checkpoint update), while AWS's history shows both",
    r"CallbackStartedDetails\.(Heartbeat)?Timeout: key missing",
)
RUNNER_CHAINED_INVOKE_DETAILS = Known(
    "runner 1.4.0's ChainedInvokeStarted events carry no ExecutedVersion and no TenantId (AWS's "
    "carry both)",
    r"ChainedInvokeStartedDetails\.(ExecutedVersion|TenantId): key missing",
)
RUNNER_NO_STATE_ON_POLL = Known(
    "runner 1.4.0's StepSucceeded event for a wait_for_condition poll that goes on polling carries "
    "no Result (AWS's carries the polled state)",
    r"StepSucceededDetails\.Result\.Payload: key missing",
)
