"""Cases of a child's end: ``shutdown`` and end of input (SPEC
`lifecycle.shutdown`, `lifecycle.stdin-eof`)."""

from __future__ import annotations

import contextlib

from ..checker import Case, Checker, event, expect, registrar
from ..session import CaseFailed

CASES: list[Case] = []
case = registrar(CASES)


@case(
    "lifecycle.shutdown",
    "shutdown: new invokes -32007, running ones finish, answer null, exit 0",
    "core",
)
async def _shutdown(checker: Checker) -> str:
    await checker.ready()
    step = checker.step("ConformanceConcurrent")
    async with checker.fresh() as session:
        await checker.initialize(session, [step])
        session.hold = lambda m: m.get("method") == "state.get"
        running = await session.invoke(step, event("conformance.concurrent"), {"key": "s"})
        get = await session.held_request("state.get", "the running handler's state.get")
        shutdown = await session.request("shutdown", {})
        refused = await session.invoke(step, event("conformance.concurrent"), {"key": "t"})
        await session.error(refused, -32007, "the answer to invoke after shutdown")
        ping = await session.request("ping", {})
        pong = await session.result(ping, "the answer to ping during the shutdown grace")
        expect(pong == {}, f"ping during the shutdown grace answered {pong!r}")
        await session.reply(get, None)
        await session.result(running, "the running invocation's result")
        expect(
            await session.result(shutdown, "the answer to shutdown") is None,
            "shutdown did not answer null",
        )
        code = await session.wait_exit()
        expect(code == 0, f"exited with code {code}")
    return ""


@case("lifecycle.stdin-eof", "end of stdin: the child exits within 5s, handlers running", "core")
async def _stdin_eof(checker: Checker) -> str:
    async with checker.fresh() as session:
        with contextlib.suppress(CaseFailed):
            if checker.handshake_failure is None and "ConformanceSlow" in checker.configs:
                await checker.initialize(session, [checker.step("ConformanceSlow")])
                await session.invoke(
                    checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}
                )
        await session.close_stdin()
        code = await session.wait_exit()
    return f"exit code {code}"
