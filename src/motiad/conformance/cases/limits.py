"""Cases of the line limit a child must keep when it sends (SPEC
`framing.max-line.send`); the incoming limit is checked by vectors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from ..checker import API, Case, Checker, api_input, expect, registrar
from ..session import Session

SMALL_MAX_LINE = 4096
"""The line limit of the session that checks over-long lines: small enough to
cross cheaply, large enough for a handshake with two fixture steps."""


CASES: list[Case] = []
case = registrar(CASES)


@contextlib.asynccontextmanager
async def _small_limit(checker: Checker) -> AsyncIterator[Session]:
    """A fresh child initialized with ``maxLineBytes`` 4096 and two fixtures."""
    files = [checker.step("ConformanceEcho"), checker.step("ConformanceEmit")]
    async with checker.fresh(SMALL_MAX_LINE) as session:
        await checker.initialize(session, files, maxLineBytes=SMALL_MAX_LINE)
        yield session


@case("framing.max-line.send", "a result over maxLineBytes is answered -32005 with its id", "full")
async def _result_too_long(checker: Checker) -> str:
    await checker.ready()
    async with _small_limit(checker) as session:
        msg_id = await session.invoke(
            checker.step("ConformanceEcho"), API, api_input({"pad": SMALL_MAX_LINE + 100})
        )
        await session.error(msg_id, -32005, "the answer to an echo whose result is too long")
        expect(not session.violations, f"the child {session.violations[:1]}")
    return ""


@case("framing.max-line.send", "an emit over maxLineBytes is not sent; the handler fails", "full")
async def _emit_too_long(checker: Checker) -> str:
    await checker.ready()
    async with _small_limit(checker) as session:
        msg_id = await session.invoke(
            checker.step("ConformanceEmit"), API, api_input({"pad": SMALL_MAX_LINE + 100})
        )
        answer = await session.response(msg_id, "the answer to an emit too long to send")
        expect("error" in answer, f"answered {json.dumps(answer)[:120]}")
        expect(not session.violations, f"the child {session.violations[:1]}")
    return ""


MIN_MAX_LINE = 1024
"""The smallest ``maxLineBytes`` the broker sends."""


@case(
    "framing.max-line.send",
    "an error still over the limit once cut to 1024 characters is cut further, whole characters",
    "full",
)
async def _error_cut_further(checker: Checker) -> str:
    await checker.ready()
    # An unknown method whose name is 4-byte characters: the request fits the limit
    # exactly, an answer that repeats the name (as most do) cannot, although its
    # message is under 1024 characters. One that does not repeat it fits anyway.
    msg_id = "conformance-cut"
    head, tail = b'{"jsonrpc":"2.0","id":"' + msg_id.encode() + b'","method":"', b'"}'
    method = "\U0001d11e" * ((MIN_MAX_LINE - len(head) - len(tail)) // 4)
    async with checker.fresh(MIN_MAX_LINE) as session:
        await checker.initialize(session, [], maxLineBytes=MIN_MAX_LINE)
        await session.send_raw(head + method.encode() + tail + b"\n")
        error = await session.error(msg_id, -32601, "the answer to a long unknown method")
        message = str(error.get("message", ""))
        expect("\ufffd" not in message, f"the message was cut inside a character: {message!r}")
        expect(not session.violations, f"the child {session.violations[:1]}")
    return ""
