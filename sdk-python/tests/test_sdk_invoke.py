"""``invoke``: handler signatures, results, failures, timeouts and cancellation (SPEC §2.2)."""

from __future__ import annotations

import pytest
from sdk_harness import event_trigger, spawn_child, step


def test_an_api_handler_reads_its_request_by_attribute_and_by_key() -> None:
    """SPEC `invoke.input`, `invoke.context`: the request, and the invocation's traceId."""
    with spawn_child() as child:
        child.initialize([step("api_echo_step")])
        request_id = child.invoke(
            step("api_echo_step"),
            {"type": "api"},
            {"method": "POST", "path": "/echo", "body": {"text": "héllo"}, "headers": {}},
            trace_id="trace-7",
        )
        result = child.result(request_id)

    assert result == {
        "status": 201,
        "body": {
            "text": "héllo",
            "same": "héllo",
            "method": "POST",
            "traceId": "trace-7",
            "traceparent": None,
        },
        "headers": {"x-echo": "1"},
    }


def test_the_handler_gets_the_invocations_traceparent() -> None:
    """SPEC `invoke.traceparent`: handed over unchanged, for the handler's own calls."""
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with spawn_child() as child:
        child.initialize([step("api_echo_step")])
        request_id = child.invoke(
            step("api_echo_step"),
            {"type": "api"},
            {"method": "POST", "path": "/echo", "body": {"text": "x"}, "headers": {}},
            traceparent=traceparent,
        )
        result = child.result(request_id)

    assert result["body"]["traceparent"] == traceparent


def test_a_missing_request_attribute_is_an_attribute_error() -> None:
    with spawn_child() as child:
        child.initialize([step("api_echo_step")])
        request_id = child.invoke(step("api_echo_step"), {"type": "api"}, {"body": {"explode": 1}})
        error = child.error(request_id)

    assert error["code"] == -32000
    assert error["data"]["type"] == "AttributeError"
    assert "'missing'" in error["data"]["message"]


def test_a_cron_handler_gets_only_the_context() -> None:
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        request_id = child.invoke(step("tick_step"), {"type": "cron"}, trace_id="cron-trace")
        assert child.result(request_id) is None
        log = child.notification("log")

    assert log["params"]["fields"] == {"traceId": "cron-trace"}


def test_a_handler_exception_is_a_retryable_handler_failure() -> None:
    """SPEC `invoke.handler-error`."""
    with spawn_child() as child:
        child.initialize([step("failing_step")])
        request_id = child.invoke(step("failing_step"), event_trigger(), {"kind": "plain"})
        error = child.error(request_id)

    assert error["code"] == -32000
    data = error["data"]
    assert data["type"] == "ValueError"
    assert data["message"] == "bad input"
    assert data["stack"].startswith("Traceback")
    assert "failing_step.py" in data["stack"]
    assert data["retryable"] is True


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [("permanent", "NonRetryableError"), ("declined", "PaymentDeclined")],
)
def test_a_failure_marked_permanent_is_not_retryable(kind: str, error_type: str) -> None:
    """SPEC `invoke.handler-error`: NonRetryableError, or any ``retryable = False``."""
    with spawn_child() as child:
        child.initialize([step("failing_step")])
        request_id = child.invoke(step("failing_step"), event_trigger(), {"kind": kind})
        data = child.error(request_id)["data"]

    assert data["type"] == error_type
    assert data["retryable"] is False


def test_a_handler_over_its_budget_is_cancelled_and_answered_timed_out() -> None:
    """SPEC `invoke.timeout`."""
    with spawn_child() as child:
        child.initialize([step("slow_step")])
        request_id = child.invoke(step("slow_step"), event_trigger(), {}, timeout_ms=50)
        assert child.error(request_id)["code"] == -32001
        child.ping()


def test_cancel_stops_a_running_handler_and_answers_cancelled() -> None:
    """SPEC `invoke.cancel`."""
    with spawn_child() as child:
        child.initialize([step("slow_step")])
        request_id = child.invoke(step("slow_step"), event_trigger(), {})
        child.notify("$/cancel", {"id": 424242})  # unknown: ignored
        child.notify("$/cancel", {"id": request_id})
        assert child.error(request_id)["code"] == -32002
        child.ping()


def test_cancel_of_a_finished_invocation_sends_nothing_more() -> None:
    """SPEC `invoke.cancel`, `rpc.answer-once`: a finished one keeps its one answer."""
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        request_id = child.invoke(step("tick_step"), {"type": "cron"})
        assert child.result(request_id) is None
        child.notify("$/cancel", {"id": request_id})
        child.ping()
        # Lines are served in order: a second answer would have come before the pong.
        assert [m for m in child.unread() if m.get("id") == request_id] == []


def test_an_unknown_step_is_refused() -> None:
    """SPEC `invoke.unknown-step`."""
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        request_id = child.invoke(step("slow_step"), event_trigger(), {})
        assert child.error(request_id)["code"] == -32003


def test_before_initialize_invoke_is_refused_and_ping_answered() -> None:
    """SPEC `lifecycle.before-initialize`: nothing runs before the handshake."""
    with spawn_child() as child:
        request_id = child.invoke(step("tick_step"), {"type": "cron"})
        assert child.error(request_id)["code"] == -32600
        child.ping()


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [("no-status", "InvalidApiResponse"), ("not-json", "TypeError")],
)
def test_an_api_result_the_wire_cannot_carry_is_a_permanent_handler_failure(
    kind: str, error_type: str
) -> None:
    """SPEC `invoke.result`: -32000, not retryable (the same code fails the same way)."""
    with spawn_child() as child:
        child.initialize([step("bad_result_step")])
        request_id = child.invoke(
            step("bad_result_step"), {"type": "api"}, {"body": {"kind": kind}}
        )
        error = child.error(request_id)

    assert error["code"] == -32000
    assert error["data"]["type"] == error_type
    assert error["data"]["retryable"] is False
