"""Cases of streamed HTTP: a response written chunk by chunk (SPEC
``http.stream``) and a request body read as a stream (``http.body-stream``).

The checker plays the HTTP edge: it holds every ``http.write`` and
``http.read`` and answers each by hand, so it sees whether the child waits for
an answer before it sends the next (backpressure) and can cut a body short.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..checker import API, Case, Checker, api_input, expect, registrar
from ..session import CaseFailed, Session

CASES: list[Case] = []
case = registrar(CASES)

_HTTP = ("http.write", "http.read")


def _held_for(invocation_id: str) -> Any:
    return lambda m: m.get("method") in _HTTP and m["params"].get("invocationId") == invocation_id


async def _none_more(session: Session, method: str, what: str) -> None:
    """No further ``method`` request is held: a ping sent now is answered first
    (the child reads and writes in order), with none beside it."""
    ping = await session.request("ping", {})
    await session.result(ping, f"a ping sent while {what}")
    early = [r for r in session.held if r["method"] == method]
    expect(not early, f"{method} sent while {what}: {json.dumps(early[:1])[:160]}")


def _chunk(write: dict[str, Any]) -> bytes:
    params = write["params"]
    chunk = str(params.get("chunk", ""))
    if params.get("encoding") == "base64":
        return base64.b64decode(chunk)
    return chunk.encode()


@case(
    "http.stream",
    "a streamed response: status and headers first, each chunk once the last was answered",
    "full",
)
async def _response_stream(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceHttpStream")
    session.hold = _held_for("inv-http-stream")
    try:
        msg_id = await session.invoke(
            step,
            API,
            api_input({"chunks": ["data: one\n\n", "data: two\n\n"]}),
            invocation_id="inv-http-stream",
        )
        chunks: list[bytes] = []
        for n in range(3):
            write = await session.held_request("http.write", f"http.write #{n + 1} of 3")
            params = write["params"]
            if n == 0:
                expect(params.get("status") == 201, f"the first write's status {params!r:.160}")
                headers = params.get("headers") or {}
                expect(
                    headers.get("x-conformance") == "stream",
                    f"the first write's headers {headers}",
                )
            chunks.append(_chunk(write))
            await _none_more(session, "http.write", f"http.write #{n + 1} waits for its answer")
            await session.reply(write, None)
    finally:
        session.hold = lambda _: False
    result = await session.result(msg_id, "the streamed response's invocation")
    wanted = [b"data: one\n\n", b"data: two\n\n", b"\x00\xff"]
    expect(chunks == wanted, f"chunks {chunks!r:.200}, expected {wanted!r}")
    expect(isinstance(result, dict), f"result {json.dumps(result)[:120]}")
    return ""


async def _read_body(
    session: Session,
    step: str,
    invocation_id: str,
    pieces: list[bytes],
    *,
    cut: str | None = None,
) -> Any:
    """Invoke ConformanceBodyStream with a streamed body and answer its
    ``http.read`` requests with ``pieces`` (the last with ``done``; with
    ``cut``, an error instead); returns the invoke's request id."""
    request = {**api_input(None), "bodyStream": True}
    request["headers"] = {"content-type": "application/octet-stream"}
    msg_id = await session.invoke(step, API, request, invocation_id=invocation_id)
    for n, piece in enumerate(pieces):
        read = await session.held_request("http.read", f"http.read #{n + 1}")
        await _none_more(session, "http.read", f"http.read #{n + 1} waits for its answer")
        last = n == len(pieces) - 1
        answer: dict[str, Any] = {"chunk": base64.b64encode(piece).decode(), "done": False}
        if last and cut is not None:
            answer = {"chunk": "", "done": True, "error": cut}
        elif last:
            answer["done"] = True
        await session.reply(read, answer)
    return msg_id


@case(
    "http.body-stream",
    "a body read as a stream: one http.read at a time, every piece, to the one marked done",
    "full",
)
async def _body_stream(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceBodyStream")
    pieces = [bytes(range(10)), b"\xff" * 70_000, b"tail", b""]
    session.hold = _held_for("inv-body-stream")
    try:
        msg_id = await _read_body(session, step, "inv-body-stream", pieces)
    finally:
        session.hold = lambda _: False
    result = await session.result(msg_id, "the body stream fixture's result")
    body = (result or {}).get("body") or {}
    whole = b"".join(pieces)
    expect(body.get("bytes") == len(whole), f"bytes {body.get('bytes')}, expected {len(whole)}")
    expect(body.get("hex") == whole[:16].hex(), f"hex {body.get('hex')!r}")
    chunks = body.get("chunks")
    expect(
        isinstance(chunks, int) and 1 <= chunks <= 3,
        f"chunks {chunks!r}: the handler got neither the pieces nor one body",
    )
    return ""


@case(
    "http.body-stream",
    "a body cut short fails the handler's read, and the invoke with -32000",
    "full",
)
async def _body_cut(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceBodyStream")
    session.hold = _held_for("inv-body-cut")
    try:
        msg_id = await _read_body(
            session, step, "inv-body-cut", [b"abc", b""], cut="the client closed the connection"
        )
    finally:
        session.hold = lambda _: False
    try:
        error = await session.error(msg_id, -32000, "the answer to an invoke whose body was cut")
    except CaseFailed as exc:
        raise CaseFailed(f"{exc} (the handler must not see a cut body as complete)") from None
    message = str((error.get("data") or {}).get("message", ""))
    expect(
        "the client closed the connection" in message,
        f"ErrorInfo message {message!r} does not carry the broker's reason",
    )
    return ""
