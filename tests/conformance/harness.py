"""Run our handler for a requirement on one engine and compare what happened with the requirement.

What is compared, as AWS's own validator does (``validate.py`` of the wheel):

- the execution history, with AWS's `EventHistoryMatcher` (events matched by ``EventId``, ``{}``
  and ``'*'`` match anything, ``${NAME}`` binds on first use, ``${/re/}`` searches);
- the status, and for a succeeded execution the result, after one JSON decode;
- ``ExpectedLogs``, with AWS's `CloudWatchLogValidator`, over the messages the run logged through
  Python's `logging` (where AWS reads the function's CloudWatch stream).

``CallbackActions`` become a responder (`durable_sim.durable.Responder`, the same on both
engines): each callback is answered by the first unused action whose ``CallbackName`` matches its
name (``'*'``, the exact name, or ``${/re/}``); a heartbeat action sends a heartbeat and the
callback stays matchable; with no actions configured a callback is left open (the timeout
requirements). The success payload is ``json.dumps(Payload)``, as AWS's validator sends it, and
an action's ``Delay`` becomes the answer's ``after_s`` (on ``sim``: virtual seconds after the
callback's creation; ``aws-local`` only keeps their order).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from durable_sim import MemoryJournal, run_durable
from durable_sim.durable import CallbackAnswer, DurableRun, OperationRecord, export_history
from durable_sim.engines.aws_local import run_on_local_runner
from durable_sim.faults import SimulatedCrash

from .known import Known
from .requirements import Requirement, placeholder_context, requirements, suite_ids, wheel_module

ENGINES = ("sim", "aws-local")
ERROR_FIELDS = ("ErrorType", "ErrorMessage", "ErrorData", "StackTrace")
MAX_CRASHES = 5  # AWS's runner gives up on an execution after 5 failed invocations in a row
Handler = Callable[..., Any]


@dataclass(frozen=True)
class Case:
    """Our handler for one requirement, written from the requirement's description.

    - ``per_run``: ``handler`` is a factory called once per run for a fresh handler (for handlers
      that must remember across invocations what a crashed process did, as AWS's use a table).
    - ``functions``: durable functions the handler may ``context.invoke``, by name.
    - ``known``: engine -> the known difference that keeps it from conforming (the test is a strict
      xfail, and must fail with that difference's symptom).
    - ``real_time``: why aws-local must run on the wall clock for this requirement (its time
      skipping would fire a timer before an outside answer can arrive), or ``None``.
    """

    handler: Handler
    per_run: bool = False
    functions: Mapping[str, Handler] = field(default_factory=dict)
    known: Mapping[str, Known] = field(default_factory=dict)
    real_time: str | None = None


@dataclass(frozen=True)
class Observation:
    """What one run showed: status, decoded result, history events, logged messages."""

    status: str
    result: Any
    history: list[dict[str, Any]]
    logs: list[str]


class UnexpectedMismatchError(Exception):
    """A case declared to fail for one reason failed for another (an error, never an xfail)."""


class ScriptedResponder:
    """A requirement's ``CallbackActions`` as a responder (`durable_sim.durable.Responder`).

    Each action becomes a `CallbackAnswer` ``Delay`` seconds after the callback's creation;
    a callback no action matches is left open, and is an error if actions were configured.
    """

    def __init__(self, actions: list[dict[str, Any]], context: Any) -> None:
        self._actions = actions
        self._context = context
        self._used: set[int] = set()
        self.errors: list[str] = []

    def __call__(self, callback_id: str, record: OperationRecord) -> list[CallbackAnswer]:
        answers: list[CallbackAnswer] = []
        while True:
            index = self._match(record.name or "")
            if index is None:
                if self._actions and not answers:
                    self.errors.append(
                        f"no matching CallbackAction for callback {record.name!r} "
                        f"(id={callback_id})"
                    )
                return answers
            self._used.add(index)
            action = self._actions[index]
            payload = self._context.substitute(action.get("Payload"))
            after_s = float(action.get("Delay", 0))
            operation = str(action["Operation"]).lower()
            if operation == "heartbeat":
                answers.append(CallbackAnswer("heartbeat", after_s=after_s))
                continue
            if operation == "failure":
                error = {k: v for k, v in (payload or {}).items() if k in ERROR_FIELDS}
                answers.append(CallbackAnswer("failure", after_s=after_s, error=error))
            else:
                result = json.dumps(payload) if payload is not None else None
                answers.append(CallbackAnswer("success", after_s=after_s, result=result))
            return answers

    def _match(self, name: str) -> int | None:
        history = wheel_module("history")
        for i, action in enumerate(self._actions):
            if i in self._used:
                continue
            wanted = str(self._context.substitute(action["CallbackName"]))
            pattern = history.get_regex_pattern(wanted)
            if wanted in ("*", name) or (pattern is not None and pattern.search(name)):
                return i
        return None


@contextlib.contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Collect every message logged at INFO or above (the run's "CloudWatch stream")."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    root = logging.getLogger()
    handler = Collect(level=logging.INFO)
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        yield messages
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def observe(
    case: Case, req: Requirement, engine: str, context: Any
) -> tuple[Observation, list[str]]:
    """Run `case` on `engine` with the requirement's input and callback actions.

    Returns the observation and the responder's errors (callbacks no action matched).
    """
    event = context.substitute(req.spec.get("Input"))
    handler = case.handler() if case.per_run else case.handler
    responder = ScriptedResponder(list(req.spec.get("CallbackActions") or []), context)
    with captured_logs() as logs:
        if engine == "aws-local":
            run = run_on_local_runner(
                handler,
                event,
                responder=responder,
                functions=case.functions,
                skip_time=case.real_time is None,
            )
        else:
            run = run_sim(handler, event, responder, case.functions, req.id)
    return Observation(run.status, run.result, export_history(run), list(logs)), responder.errors


def run_sim(
    handler: Handler,
    event: Any,
    responder: ScriptedResponder,
    functions: Mapping[str, Handler],
    req_id: str,
) -> DurableRun:
    """Run on ``sim``; a crashed invocation (`SimulatedCrash`) is followed by the next one on
    the same journal, as the service re-invokes a function whose process died."""
    journal = MemoryJournal()
    for _ in range(MAX_CRASHES):
        try:
            return run_durable(
                handler,
                event,
                engine="sim",
                journal=journal,
                execution_id=f"conformance-{req_id}",
                responder=responder,
                functions=functions,
            )
        except SimulatedCrash:
            continue
    raise RuntimeError(f"{req_id}: the process crashed {MAX_CRASHES} times in a row")


def mismatches(req: Requirement, obs: Observation, context: Any) -> list[str]:
    """Every way `obs` departs from `req` (empty: it conforms), in AWS's validator's order."""
    expected_events = req.spec.get("ExpectedExecutionHistory") or []
    matcher = wheel_module("history").EventHistoryMatcher(context=context)
    errors = list(matcher.match(expected_events, obs.history).errors)
    expected = req.spec.get("ExpectedResult") or {}
    status = expected.get("ExecutionStatus")
    if status and obs.status != status:
        errors.append(f"expected ExecutionStatus={status!r}, got {obs.status!r}")
    elif obs.status == "SUCCEEDED" and "Result" in expected:
        wanted = context.substitute(expected["Result"])
        if obs.result != wanted:
            errors.append(f"expected Result={wanted!r}, got {obs.result!r}")
    expected_logs = req.spec.get("ExpectedLogs")
    if expected_logs:
        events = [{"message": m, "timestamp": i} for i, m in enumerate(obs.logs)]
        validator = wheel_module("cloudwatch").CloudWatchLogValidator()
        errors.extend(validator.validate(expected_logs, events, context=context).errors)
    return errors


def assert_conforms(req_id: str, case: Case, engine: str) -> None:
    """Run requirement `req_id`'s case on `engine`; fail listing every mismatch and the history."""
    req = requirements()[req_id]
    context = placeholder_context(req)
    try:
        obs, responder_errors = observe(case, req, engine, context)
        errors = responder_errors + mismatches(req, obs, context)
    except Exception as exc:  # an engine that cannot run the handler does not conform
        obs = Observation("ERROR", None, [], [])
        errors = [f"the run raised {type(exc).__name__}: {exc}"]
    known = case.known.get(engine)
    if errors and known is not None and not re.search(known.symptom, "\n".join(errors)):
        raise UnexpectedMismatchError(
            f"{req_id} on {engine} is declared to fail because {known.reason}, but fails with:\n  "
            + "\n  ".join(errors)
        )
    assert not errors, (
        f"{req_id} ({req.description}) on {engine}:\n  "
        + "\n  ".join(errors)
        + f"\nstatus {obs.status}, result {obs.result!r}; history:\n"
        + render(obs.history)
    )


def parameters(suite: str, cases: Mapping[str, Case]) -> list[Any]:
    """``(req_id, engine)`` test parameters for a suite, a strict xfail where a case declares a
    known difference (only `assert_conforms`'s mismatch counts, an error in the harness does not).
    A requirement without a case gets no parameters here; the coverage test reports it."""
    params = []
    for req_id in suite_ids(suite):
        case = cases.get(req_id)
        if case is None:
            continue
        for engine in ENGINES:
            known = case.known.get(engine)
            marks = (
                [pytest.mark.xfail(strict=True, raises=AssertionError, reason=known.reason)]
                if known is not None
                else []
            )
            params.append(pytest.param(req_id, engine, id=f"{req_id}-{engine}", marks=marks))
    return params


def render(events: list[dict[str, Any]]) -> str:
    """A compact listing of history events, for failure messages."""
    lines = []
    for e in events:
        ids = " ".join(f"{k}={e[k]}" for k in ("SubType", "Name", "Id", "ParentId") if k in e)
        lines.append(f"{e.get('EventId')} {e.get('EventType')} {ids}")
    return "\n".join(lines)
