"""Cases of ``invoke``: results, handler errors, cancel, timeouts, unknown steps
and ids, and many invocations at once (SPEC §3.2, `rpc.concurrent`)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from ...protocol.messages import ErrorInfo
from ..checker import API, Case, Checker, api_input, event, expect, registrar
from ..session import CaseFailed

CONCURRENT_INVOCATIONS = 20


CASES: list[Case] = []
case = registrar(CASES)


@case("invoke.result", "api echo: the handler's {status, body, headers} is the result", "core")
async def _echo(checker: Checker) -> str:
    session = await checker.ready()
    body = {"text": "héllo", "n": [1, 2]}
    msg_id = await session.invoke(
        checker.step("ConformanceEcho"), API, api_input(body), trace_id="trace-echo"
    )
    result = await session.result(msg_id, "the echo result")
    expect(
        isinstance(result, dict) and result.get("status") == 200,
        f"result {json.dumps(result)[:160]}",
    )
    expect(result.get("headers") == {"x-conformance": "echo"}, f"headers {result.get('headers')}")
    echoed = result.get("body") or {}
    expect(
        echoed.get("body") == body,
        f"body {json.dumps(echoed.get('body'))[:120]} is not the request body",
    )
    expect(echoed.get("queryParams") == {"q": "1"}, f"queryParams {echoed.get('queryParams')}")
    return ""


@case("ids.opaque", "the handler's context carries the invoke's traceId unchanged", "core")
async def _trace_id(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceEcho"), API, api_input({}), trace_id="trace-42"
    )
    result = await session.result(msg_id, "the echo result")
    seen = (result.get("body") or {}).get("traceId")
    expect(seen == "trace-42", f"the handler saw traceId {seen!r}, expected 'trace-42'")
    return ""


@case("invoke.traceparent", "the handler's context carries the invoke's traceparent", "full")
async def _traceparent(checker: Checker) -> str:
    session = await checker.ready()
    for sent in ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None):
        msg_id = await session.invoke(
            checker.step("ConformanceEcho"), API, api_input({}), traceparent=sent
        )
        result = await session.result(msg_id, "the echo result")
        seen = (result.get("body") or {}).get("traceparent", "(none)")
        expect(seen == sent, f"the handler saw traceparent {seen!r}, expected {sent!r}")
    return ""


@case("invoke.result", "an event invocation's result is null", "core")
async def _event_result(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 1}
    )
    result = await session.result(msg_id, "the result of a short slow invocation")
    expect(result is None, f"result {json.dumps(result)[:120]}, expected null")
    return ""


@case("invoke.handler-error", "a handler exception: -32000 with a retryable ErrorInfo", "core")
async def _throws(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceThrows"), event("conformance.throws"), {}
    )
    error = await session.error(msg_id, -32000, "the throws fixture's answer")
    info = _error_info(error)
    expect(info.type == "ConformanceError", f"data.type {info.type!r}, expected 'ConformanceError'")
    expect(info.message == "conformance failure", f"data.message {info.message!r}")
    expect(info.retryable is True, "data.retryable is not true")
    return ""


@case("invoke.handler-error", "a non-retryable failure: retryable false", "core")
async def _throws_permanent(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceThrowsPermanent"), event("conformance.permanent"), {}
    )
    error = await session.error(msg_id, -32000, "the permanent fixture's answer")
    info = _error_info(error)
    expect(info.message == "permanent failure", f"data.message {info.message!r}")
    expect(info.retryable is False, "data.retryable is not false")
    return ""


def _error_info(error: dict[str, Any]) -> ErrorInfo:
    try:
        return msgspec.convert(error.get("data"), ErrorInfo)
    except msgspec.ValidationError as exc:
        raise CaseFailed(f"data is not an ErrorInfo: {exc}") from None


@case("invoke.cancel", "$/cancel stops a handler that honours it: -32002", "core")
async def _cancel(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}
    )
    await session.quiet("a running slow invocation")  # it has started
    await session.notify("$/cancel", {"id": msg_id})
    await session.error(msg_id, -32002, "the answer to the cancelled invocation")
    return ""


@case("invoke.cancel", "$/cancel of a handler that ignores it still gets an answer", "core")
async def _cancel_ignored(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceIgnoresCancel"), event("conformance.stubborn"), {"ms": 1500}
    )
    await session.quiet("a running stubborn invocation")
    await session.notify("$/cancel", {"id": msg_id})
    answer = await session.response(msg_id, "an answer to the cancelled invocation")
    code = (answer.get("error") or {}).get("code")
    expect("result" in answer or code == -32002, f"answered {json.dumps(answer)[:160]}")
    return "answered -32002" if code == -32002 else "answered with its result"


@case("invoke.cancel", "$/cancel of an unknown or finished id is ignored", "core")
async def _cancel_unknown(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 1}
    )
    await session.result(msg_id, "the short slow invocation's result")
    await session.notify("$/cancel", {"id": msg_id})
    await session.notify("$/cancel", {"id": "conformance-never-sent"})
    await session.quiet("$/cancel of finished and unknown ids")
    return ""


@case("invoke.timeout", "a handler over timeoutMs is answered -32001", "full")
async def _timeout(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}, timeout_ms=200
    )
    await session.error(msg_id, -32001, "the answer to a slow invocation with timeoutMs 200")
    return ""


@case(
    "invoke.timeout",
    "the budget counts from receipt: an invoke behind a running one still times out",
    "full",
)
async def _timeout_from_receipt(checker: Checker) -> str:
    session = await checker.ready()
    slow = checker.step("ConformanceSlow")
    first = await session.invoke(slow, event("conformance.slow"), {"ms": 60000})
    # A child that queues invocations (SPEC §8) runs this one only after the first:
    # counted from receipt, its budget is spent while it waits.
    second = await session.invoke(slow, event("conformance.slow"), {"ms": 60000}, timeout_ms=200)
    await session.error(second, -32001, "the answer to an invoke with timeoutMs 200 behind another")
    await session.notify("$/cancel", {"id": first})
    await session.error(first, -32002, "the answer to the first, cancelled")
    return ""


@case("rpc.bad-params", "several bad fields: -32602 naming one of them", "full")
async def _several_bad_fields(checker: Checker) -> str:
    session = await checker.ready()
    params = {
        "step": checker.step("ConformanceEcho"),
        "trigger": "api",
        "input": api_input({}),
        "traceId": 7,
        "invocationId": "conformance-bad-fields",
        "attempt": 1,
        "timeoutMs": None,
    }
    msg_id = await session.request("invoke", params)
    error = await session.error(msg_id, -32602, "the answer to an invoke with two bad fields")
    path = (error.get("data") or {}).get("path")
    bad = ("$.params.trigger", "$.params.traceId")
    expect(path in bad, f"data.path is {path!r}, expected one of {', '.join(bad)}")
    return ""


@case("invoke.unknown-step", "invoke of a step never loaded gets -32003", "full")
async def _unknown_step(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        str(checker.project / "steps" / "missing.step.none"), API, api_input({})
    )
    await session.error(msg_id, -32003, "the answer to invoke of an unknown step")
    return ""


@case("invoke.unknown-step", "invoke of a noop step gets -32003", "full")
async def _noop_invoke(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(checker.step("ConformanceNoop"), API, api_input({}))
    await session.error(msg_id, -32003, "the answer to invoke of a noop step")
    return ""


@case("invoke.duplicate-id", "an invoke reusing the id of a running one gets -32600", "full")
async def _duplicate_id(checker: Checker) -> str:
    session = await checker.ready()
    slow = checker.step("ConformanceSlow")
    await session.invoke(slow, event("conformance.slow"), {"ms": 60000}, msg_id="conformance-dup")
    await session.quiet("a running slow invocation")
    await session.invoke(slow, event("conformance.slow"), {"ms": 1}, msg_id="conformance-dup")
    await session.error("conformance-dup", -32600, "the answer to the duplicate")
    await session.notify("$/cancel", {"id": "conformance-dup"})
    await session.error("conformance-dup", -32002, "the answer to the first, cancelled")
    return ""


@case(
    "invoke.duplicate-id",
    "the id of an invocation answered -32002 is free again, its handler still running",
    "full",
)
async def _id_free_after_cancel(checker: Checker) -> str:
    session = await checker.ready()
    stubborn, echo = checker.step("ConformanceIgnoresCancel"), checker.step("ConformanceEcho")
    msg_id = "conformance-reused"
    await session.invoke(stubborn, event("conformance.stubborn"), {"ms": 1500}, msg_id=msg_id)
    await session.quiet("a running stubborn invocation")
    await session.notify("$/cancel", {"id": msg_id})
    answer = await session.response(msg_id, "the answer to the cancelled stubborn invocation")
    code = (answer.get("error") or {}).get("code")
    expect(code == -32002, f"answered {json.dumps(answer)[:160]}, expected -32002 at once")
    await session.invoke(echo, API, api_input({"again": True}), msg_id=msg_id)
    result = await session.result(msg_id, "the answer to an invoke reusing the cancelled id")
    expect((result.get("body") or {}).get("body") == {"again": True}, f"result {result}")
    return ""


@case(
    "rpc.concurrent",
    f"{CONCURRENT_INVOCATIONS} invocations run at once, answered in any order",
    "full",
)
async def _concurrent(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceConcurrent")
    session.hold = lambda m: (
        m.get("method") == "state.get" and str(m["params"].get("key", "")).startswith("c-")
    )
    try:
        ids = [
            await session.invoke(
                step, event("conformance.concurrent"), {"key": f"c-{n}"}, invocation_id=f"inv-c-{n}"
            )
            for n in range(CONCURRENT_INVOCATIONS)
        ]
        gets = [
            await session.held_request(
                "state.get",
                f"state.get #{n + 1} of {CONCURRENT_INVOCATIONS} (all start before any ends)",
            )
            for n in range(CONCURRENT_INVOCATIONS)
        ]
    finally:
        session.hold = lambda _: False
    owners = {g["params"]["invocationId"] for g in gets}
    expect(
        owners == {f"inv-c-{n}" for n in range(CONCURRENT_INVOCATIONS)},
        f"state.get came for {sorted(owners)[:4]}…",
    )
    for get in reversed(gets):
        await session.reply(get, None)
    for msg_id in reversed(ids):
        result = await session.result(msg_id, f"the answer to invocation {msg_id}")
        expect(result is None, f"invocation {msg_id} answered {result!r}")
    return ""


@case(
    "rpc.concurrent",
    "replies to the child's requests out of order reach the right handlers",
    "full",
)
async def _out_of_order(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceEmit")
    session.hold = lambda m: (
        m.get("method") == "emit" and m["params"].get("invocationId") in ("inv-o1", "inv-o2")
    )
    try:
        first = await session.invoke(step, API, api_input({"n": 1}), invocation_id="inv-o1")
        emit1 = await session.held_request("emit", "the first emit")
        second = await session.invoke(step, API, api_input({"n": 2}), invocation_id="inv-o2")
        emit2 = await session.held_request("emit", "the second emit")
    finally:
        session.hold = lambda _: False
    await session.reply(emit2, {"eventId": "ev-for-" + emit2["params"]["invocationId"]})
    await session.reply(emit1, {"eventId": "ev-for-" + emit1["params"]["invocationId"]})
    got_second = (
        (await session.result(second, "the second emit's result")).get("body", {}).get("eventId")
    )
    got_first = (
        (await session.result(first, "the first emit's result")).get("body", {}).get("eventId")
    )
    expect(
        (got_first, got_second) == ("ev-for-inv-o1", "ev-for-inv-o2"),
        f"handlers got {got_first!r} and {got_second!r}: answers were matched by order, not id",
    )
    return ""
