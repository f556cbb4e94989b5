"""API middleware (Motia's ``config["middleware"]``): run in the child around
the handler, in order; the broker sees only their names."""

from __future__ import annotations

from typing import Any

from sdk_harness import Child, spawn_child, step

PROTECTED = step("middleware_step")


def request(headers: dict[str, str], **query: str) -> dict[str, Any]:
    return {
        "method": "GET",
        "path": "/protected",
        "body": None,
        "headers": headers,
        "pathParams": {},
        "queryParams": query,
    }


def call(child: Child, headers: dict[str, str], invocation_id: str, **query: str) -> Any:
    return child.response(
        child.invoke(
            PROTECTED, {"type": "api"}, request(headers, **query), invocation_id=invocation_id
        )
    )


def logs_of(child: Child, invocation_id: str) -> list[str]:
    """Messages logged for one invocation and read so far (logs precede the answer)."""
    return [
        message["params"]["message"]
        for message in child.unread()
        if message.get("method") == "log" and message["params"].get("invocationId") == invocation_id
    ]


def test_the_broker_gets_the_middleware_names_and_a_bad_list_is_a_load_error() -> None:
    with spawn_child() as child:
        entries = child.initialize([PROTECTED, step("bad_middleware_step")])["steps"]

    assert entries[0]["config"]["middleware"] == ["log_request", "auth", "misbehave"]
    error = entries[1]["error"]
    assert error["type"] == "MiddlewareError"
    assert "config['middleware'][0] in" in error["message"]
    assert "must be a function, not str" in error["message"]


def test_middleware_runs_in_order_around_the_handler_and_may_change_req_and_response() -> None:
    with spawn_child() as child:
        child.initialize([PROTECTED])
        response = call(child, {"authorization": "Bearer ok"}, "ok")

        assert response["result"] == {
            "status": 200,
            "body": {"user": "alice"},
            "headers": {"x-logged": "yes"},
        }
        assert logs_of(child, "ok") == ["before", "handler ran"]


def test_a_middleware_that_answers_without_next_skips_the_handler() -> None:
    with spawn_child() as child:
        child.initialize([PROTECTED])
        response = call(child, {}, "no-token")

        assert response["result"] == {
            "status": 401,
            "body": {"error": "Unauthorized"},
            "headers": {"x-logged": "yes"},
        }
        assert logs_of(child, "no-token") == ["before"]


def test_a_middleware_that_raises_fails_the_invocation_like_a_handler() -> None:
    with spawn_child() as child:
        child.initialize([PROTECTED])
        error = call(child, {"authorization": "Bearer ok"}, "boom", mode="throw")["error"]

    assert error["code"] == -32000
    assert error["data"]["type"] == "ValueError"
    assert error["data"]["message"] == "middleware exploded"


def test_calling_next_twice_or_returning_nothing_is_a_clear_failure() -> None:
    with spawn_child() as child:
        child.initialize([PROTECTED])
        twice = call(child, {"authorization": "Bearer ok"}, "twice", mode="twice")["error"]
        nothing = call(child, {"authorization": "Bearer ok"}, "nothing", mode="nothing")["error"]

    assert twice["data"]["type"] == "MiddlewareError"
    assert twice["data"]["message"] == "middleware misbehave called next() more than once"
    assert nothing["data"]["message"] == (
        "middleware misbehave returned NoneType: return a response, or the result of `await next()`"
    )
    assert nothing["data"]["retryable"] is False


def test_a_refusal_reaches_the_chain_in_place_of_the_handler() -> None:
    """SPEC `invoke.refusal`: the body failed bodySchema; middleware still runs
    first (a 401 wins), and next() gives the broker's 400, not the handler's run."""
    refusal = {"status": 400, "body": {"error": "bad body", "issues": [], "traceId": "t"}}
    with spawn_child() as child:
        child.initialize([PROTECTED])
        trigger = {"type": "api", "refusal": refusal}
        member = request({"authorization": "Bearer ok"})
        refused = child.response(child.invoke(PROTECTED, trigger, member, invocation_id="in"))
        assert refused["result"] == {**refusal, "headers": {"x-logged": "yes"}}
        assert logs_of(child, "in") == ["before"]  # the handler did not run
        stranger = child.response(child.invoke(PROTECTED, trigger, request({}), invocation_id="x"))
        assert stranger["result"]["status"] == 401
        bad = child.response(child.invoke(PROTECTED, {"type": "api", "refusal": 5}, member))
        assert bad["error"]["code"] == -32602


def test_a_base64_body_reaches_the_handler_as_bytes_and_bytes_go_back_as_base64() -> None:
    """SPEC `invoke.input` and `invoke.result`: ``bodyEncoding: "base64"``."""
    with spawn_child() as child:
        child.initialize([step("bytes_step")])
        request_id = child.invoke(
            step("bytes_step"), {"type": "api"}, {"body": "AP8=", "bodyEncoding": "base64"}
        )
        result = child.result(request_id)

    assert result == {"status": 200, "body": "AP8A/w==", "bodyEncoding": "base64"}
