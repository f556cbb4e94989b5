"""API steps as HTTP routes, served by a thin ASGI handler.

API routes are user code's hot path, so they skip the framework: one route
lookup, one body read, one pipe round trip, one response. Everything under
the reserved prefix goes to the quart app (workbench and its JSON API).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from ..broker import Broker
from ..errors import ChildError, InvalidInput, MotiadError, RemoteError, StorageError
from ..protocol import ErrorCode
from ..protocol.messages import ApiRequest, ApiResult
from ..supervisor import InvocationTimeout
from ..tracing import new_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TRACE_HEADER = b"x-trace-id"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_encode = msgspec.json.Encoder().encode


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


def error_response(exc: Exception, trace_id: str) -> tuple[int, dict[str, Any]]:
    """The one mapping from a failure to what an HTTP client sees.

    Never leaks a stack trace: the client gets the trace id, the log has the rest.
    """
    if isinstance(exc, InvalidInput):
        issues = [{"path": path, "message": message} for path, message in exc.issues]
        return 400, {"error": exc.message, "issues": issues, "traceId": trace_id}
    if isinstance(exc, RemoteError) and exc.code == ErrorCode.HANDLER_FAILED:
        return 500, {"error": "Internal Server Error", "traceId": trace_id}
    if isinstance(exc, InvocationTimeout):
        return 504, {"error": "the step did not answer in time", "traceId": trace_id}
    if isinstance(exc, ChildError | StorageError):
        return 503, {"error": "the step is unavailable; try again", "traceId": trace_id}
    return 500, {"error": "Internal Server Error", "traceId": trace_id}


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; raises :class:`BodyTooLarge` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_body(body: bytes, content_type: str) -> msgspec.Raw | str:
    """JSON bodies stay raw (validated, not decoded); others are handed over as text.

    Raises ``msgspec.DecodeError`` for a JSON body that is not valid JSON.
    """
    if not body:
        return msgspec.Raw(b"null")
    media = content_type.split(";", 1)[0].strip().lower()
    if not media or media == "application/json" or media.endswith("+json"):
        return msgspec.json.decode(body, type=msgspec.Raw)
    return body.decode("utf-8", "replace")


def query_params(query_string: bytes) -> dict[str, str | list[str]]:
    """Motia's shape: a string per key, a list of strings when a key repeats."""
    params: dict[str, str | list[str]] = {}
    if not query_string:
        return params
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        existing = params.get(key)
        if existing is None:
            params[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            params[key] = [existing, value]
    return params


class ApiHandler:
    """ASGI callable serving every API step."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        span = scope.get("motiad.request_span")  # http.observed, when in front
        trace_id = span.trace_id if span is not None else new_id()
        match = self.broker.routes.match(method, path)
        if match is None:
            await _send_json(send, 404, {"error": f"no route for {method} {path}"}, trace_id)
            return
        if isinstance(match, list):
            await _send_json(
                send,
                405,
                {"error": f"{method} is not allowed on {path}; allowed: {', '.join(match)}"},
                trace_id,
                [(b"allow", ", ".join(match).encode())],
            )
            return
        if span is not None:
            span.step, span.route = match.target.name, match.target.trigger.partition(" ")[2]
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        try:
            body = parse_body(
                await read_body(receive, self.broker.settings.max_body_bytes),
                headers.get("content-type", ""),
            )
        except BodyTooLarge:
            limit = self.broker.settings.max_body_bytes
            await _send_json(send, 413, {"error": f"request body exceeds {limit} bytes"}, trace_id)
            return
        except msgspec.DecodeError as exc:
            await _send_json(
                send, 400, {"error": f"request body is not valid JSON: {exc}"}, trace_id
            )
            return
        request = ApiRequest(
            method, path, body, headers, match.path_params, query_params(scope["query_string"])
        )
        try:
            result = await self.broker.call_api(
                match.target, request, trace_id, parent_id=span.span_id if span else None
            )
        except MotiadError as exc:
            status, payload = error_response(exc, trace_id)
            await _send_json(send, status, payload, trace_id)
            return
        await _send_result(send, result, trace_id)


async def _send_json(
    send: Send,
    status: int,
    payload: Any,
    trace_id: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = _encode(payload)
    headers = [
        *_JSON_HEADERS,
        (b"content-length", b"%d" % len(body)),
        (TRACE_HEADER, trace_id.encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_result(send: Send, result: ApiResult, trace_id: str) -> None:
    headers = [(TRACE_HEADER, trace_id.encode())]
    content_type = None
    for name, value in result.headers.items():
        lowered = name.lower()
        if lowered == "content-length":
            continue  # computed below from the body actually sent
        if lowered == "content-type":
            content_type = str(value)
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    body = bytes(result.body)
    if content_type is None:
        headers.append(_JSON_HEADERS[0])
    elif "json" not in content_type and body.startswith(b'"'):
        body = msgspec.json.decode(body, type=str).encode()  # text bodies go out as text
    # a length, not chunked framing: one send per response (see bench/README.md)
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": result.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
