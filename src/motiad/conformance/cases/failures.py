"""Cases of the one rule for SDK failures (SPEC `invoke.sdk-failure`,
`rpc.undecodable`): whatever goes wrong inside a child while it handles an
invoke answers that invoke at once; nothing is left to the broker's timeout."""

from __future__ import annotations

import json

from ..checker import API, Case, Checker, api_input, expect, registrar

CASES: list[Case] = []
case = registrar(CASES)

DEPTH = 600
"""Levels of nesting in the echoed body: about 2 KB, what an HTTP body may carry,
past the json gem's default limit (100) and Python's recursion limit halved."""


@case("invoke.sdk-failure", f"{DEPTH} levels of JSON in an api body come back echoed", "core")
async def _deep_input(checker: Checker) -> str:
    session = await checker.ready()
    body: object = "bottom"
    for level in range(DEPTH):
        body = [body] if level % 2 else {"k": body}
    msg_id = await session.invoke(checker.step("ConformanceEcho"), API, api_input(body))
    result = await session.result(msg_id, f"the echo of {DEPTH} levels of JSON")
    expect(
        json.dumps((result.get("body") or {}).get("body")) == json.dumps(body),
        "the body came back changed",
    )
    return ""


@case(
    "rpc.undecodable",
    "a service answer that is not UTF-8 fails the handler's call, and the invoke, at once",
    "full",
)
async def _undecodable_answer(checker: Checker) -> str:
    session = await checker.ready()
    session.hold = lambda m: (
        m.get("method") == "emit" and m["params"].get("invocationId") == "inv-undecodable"
    )
    try:
        msg_id = await session.invoke(
            checker.step("ConformanceEmit"), API, api_input({}), invocation_id="inv-undecodable"
        )
        emit = await session.held_request("emit", "the emit")
    finally:
        session.hold = lambda _: False
    head = json.dumps({"jsonrpc": "2.0", "id": emit["id"]}, separators=(",", ":"))[:-1]
    await session.send_raw(head.encode() + b',"result":{"eventId":"\xff"}}\n')
    error = await session.error(msg_id, -32000, "the invoke whose emit got an unreadable answer")
    expect("message" in error, f"error {json.dumps(error)[:160]}")
    return ""
