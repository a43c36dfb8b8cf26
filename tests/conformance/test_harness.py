"""The checks themselves: deterministic inputs, and every kind of mismatch is caught."""

from __future__ import annotations

import string
from typing import Any

from .harness import Observation, ScriptedResponder, mismatches
from .requirements import placeholder_context, requirements


def passing_history(req_id: str, context: Any) -> list[dict[str, Any]]:
    """The requirement's expected events made concrete: bound variables substituted, unbound
    placeholders kept as literal text (bound on first use, consistent after), wildcards filled."""

    def concrete(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: concrete(v) for k, v in value.items()}
        if isinstance(value, list):
            return [concrete(v) for v in value]
        if value == "*":
            return "anything"
        return context.substitute(value) if isinstance(value, str) else value

    return [concrete(e) for e in requirements()[req_id].spec["ExpectedExecutionHistory"]]


def test_generated_variables_are_fixed_per_requirement() -> None:
    req = requirements()["1-7"]
    first, again = placeholder_context(req), placeholder_context(req)
    value = first.get("INPUT_1")
    assert value == again.get("INPUT_1")
    assert len(value) == 8 and set(value) <= set(string.ascii_lowercase + string.digits)
    assert value != placeholder_context(requirements()["1-17"]).get("INPUT_1")


def test_a_conforming_observation_has_no_mismatch_and_each_departure_is_named() -> None:
    req = requirements()["1-2"]  # a named step that greets its input
    context = placeholder_context(req)
    history = passing_history("1-2", context)
    good = Observation("SUCCEEDED", "Hello, World!", history, [])
    assert mismatches(req, good, placeholder_context(req)) == []

    renamed = [dict(e, Name="other") if "Name" in e else e for e in history]
    wrong = {
        "history": Observation("SUCCEEDED", "Hello, World!", renamed, []),
        "status": Observation("FAILED", None, history, []),
        "result": Observation("SUCCEEDED", "Hello!", history, []),
        "missing event": Observation("SUCCEEDED", "Hello, World!", history[:-1], []),
    }
    found = {kind: mismatches(req, obs, placeholder_context(req)) for kind, obs in wrong.items()}
    assert "Name: expected 'custom_step_name', got 'other'" in found["history"][0]
    assert found["status"] == ["expected ExecutionStatus='SUCCEEDED', got 'FAILED'"]
    assert found["result"] == ["expected Result='Hello, World!', got 'Hello!'"]
    assert found["missing event"] == ["No actual event found for EventId=4"]


def test_expected_logs_are_counted() -> None:
    req = requirements()["3-17"]  # the child body logs the input once, not again on replay
    context = placeholder_context(req)
    history = passing_history("3-17", context)
    line = f"child body runs for {context.get('INPUT_1')}"
    once = Observation("SUCCEEDED", context.get("INPUT_1"), history, [line])
    twice = Observation("SUCCEEDED", context.get("INPUT_1"), history, [line, line])
    assert mismatches(req, once, placeholder_context(req)) == []
    assert (
        "expected exactly 1 match(es), got 2" in mismatches(req, twice, placeholder_context(req))[0]
    )


def test_callback_actions_become_answers_in_aws_order() -> None:
    req = requirements()["4-5"]  # a heartbeat, then a success one second after
    context = placeholder_context(req)
    responder = ScriptedResponder(req.spec["CallbackActions"], context)

    class Record:
        name = context.get("CB_NAME")

    answers = responder("id-1", Record())  # type: ignore[arg-type]
    assert [(a.kind, a.after_s, a.result) for a in answers] == [
        ("heartbeat", 0.0, None),
        ("success", 1.0, f'"{context.get("CB_PAYLOAD")}"'),
    ]
    assert responder("id-2", Record()) == []  # every action is used once
    assert responder.errors == [
        f"no matching CallbackAction for callback {Record.name!r} (id=id-2)"
    ]
