"""API steps as HTTP routes, served by a thin ASGI handler.

API routes are user code's hot path, so they skip the framework: one route
lookup, one body read, one pipe round trip, one response. Everything under
the reserved prefix goes to the quart app (workbench and its JSON API).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import msgspec

from ..broker import Broker
from ..errors import ChildError, InvalidInput, MotiadError, RemoteError, StorageError
from ..protocol import ErrorCode
from ..protocol.messages import DEFAULT_MAX_LINE_BYTES, ApiRequest, ApiResult
from ..registry import BrokenFile
from ..request_stream import RequestBodyStream
from ..routes import Match
from ..signals import RequestSpan
from ..steps import Step
from ..supervisor import InvocationTimeout
from ..tracing import new_id
from .access import Access
from .bodies import TooDeep, parse_body, query_params, response_body, unsendable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TRACE_HEADER = b"x-trace-id"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_encode = msgspec.json.Encoder().encode


_ENCODED_LIMIT = DEFAULT_MAX_LINE_BYTES - 64 * 1024
"""Largest encoded request that fits one ``invoke`` line with room for its
envelope (step path, ids)."""
_ENCODED_CHECK_FROM = _ENCODED_LIMIT // 6
"""Bodies up to this size fit whatever their encoding (a JSON escape, the worst
case, is six bytes a byte): only larger ones are encoded to be measured."""


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


def error_response(exc: Exception, trace_id: str) -> tuple[int, dict[str, Any]]:
    """The one mapping from a failure to what an HTTP client sees.

    Never leaks a stack trace: the client gets the trace id, the log has the rest.
    """
    if isinstance(exc, InvalidInput):
        return 400, exc.payload(trace_id)
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


class ApiHandler:
    """ASGI callable serving every API step."""

    def __init__(self, broker: Broker, access: Access) -> None:
        self.broker = broker
        self.access = access
        self._cors = access.fixed_cors_headers(preflight=False)
        """Made once when they depend on nothing in the request (the default);
        shared: never mutated, only copied into each response's headers."""
        self._preflight_cors = access.fixed_cors_headers(preflight=True)
        """The same for ``OPTIONS`` answers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        span = scope.get("motiad.request_span")  # http.observed, when in front
        trace_id = span.trace_id if span is not None else new_id()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        preflight = method == "OPTIONS"
        cors = self._preflight_cors if preflight else self._cors
        if cors is None:
            cors = self.access.cors_headers(headers.get("origin"), headers, preflight=preflight)
        match = self.broker.routes.match(method, path)
        if preflight and (match is None or isinstance(match, list)):
            # Motia answers every OPTIONS no step serves as a preflight: 204
            await send({"type": "http.response.start", "status": 204, "headers": [*cors]})
            await send({"type": "http.response.body", "body": b""})
            return
        detail = f"{method} {path}"
        broken = None if isinstance(match, Match) else self.broker.broken_route(method, path)
        if broken is not None:  # a step that did not load: say why, not "no route"
            await self._refuse_broken(send, broken, detail, trace_id, cors, span)
            return
        if match is None:
            why = f"no route for {detail}" + _maybe_unread(self.broker.registry.unread())
            await self._refuse(send, "", detail, 404, why, trace_id, cors)
            return
        if isinstance(match, list):
            allowed = ", ".join(match)
            why = f"{method} is not allowed on {path}; allowed: {allowed}"
            extra = [(b"allow", allowed.encode()), *cors]
            await self._refuse(send, "", detail, 405, why, trace_id, extra)
            return
        step = match.target.name
        if span is not None:
            span.step, span.route = step, match.target.trigger.partition(" ")[2]
        if match.target.stream_body:
            await self._stream_body(scope, receive, send, match, headers, trace_id, cors)
            return
        try:
            raw = await read_body(receive, self.broker.settings.max_body_bytes)
            body, encoding = parse_body(raw, headers.get("content-type", ""))
        except BodyTooLarge:
            why = f"request body exceeds {self.broker.settings.max_body_bytes} bytes"
            await self._refuse(send, step, detail, 413, why, trace_id, cors)
            return
        except msgspec.DecodeError as exc:
            why = f"request body is not valid JSON: {exc}"
            await self._refuse(send, step, detail, 400, why, trace_id, cors)
            return
        except (RecursionError, TooDeep):
            why = f"request body refused: {TooDeep()}"
            await self._refuse(send, step, detail, 400, why, trace_id, cors)
            return
        request = ApiRequest(
            method,
            path,
            body,
            headers,
            match.path_params,
            query_params(scope["query_string"]),
            encoding,
        )
        if len(raw) > _ENCODED_CHECK_FROM and len(_encode(request)) > _ENCODED_LIMIT:
            why = (
                f"request body of {len(raw)} bytes is too large to hand to the step"
                f" once encoded (base64 or escapes; the protocol's lines hold"
                f" {DEFAULT_MAX_LINE_BYTES} bytes)"
            )
            await self._refuse(send, step, detail, 413, why, trace_id, cors)
            return
        await self._call(send, match.target, request, trace_id, span, cors)

    async def _stream_body(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: Match[Step],
        headers: dict[str, str],
        trace_id: str,
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        """A step that reads its body as a stream (``streamBody``, SPEC
        ``http.body-stream``): invoked at once, its body read as it asks."""
        limit = self.broker.settings.max_body_bytes
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            detail = f"{scope['method']} {scope['path']}"
            why = f"request body exceeds {limit} bytes"
            await self._refuse(send, match.target.name, detail, 413, why, trace_id, cors)
            return
        request = ApiRequest(
            scope["method"],
            scope["path"],
            None,
            headers,
            match.path_params,
            query_params(scope["query_string"]),
            body_stream=True,
        )
        body = RequestBodyStream(receive, limit, self.broker.body_streams)
        span = scope.get("motiad.request_span")
        await self._call(send, match.target, request, trace_id, span, cors, body)

    async def _call(
        self,
        send: Send,
        target: Step,
        request: ApiRequest,
        trace_id: str,
        span: RequestSpan | None,
        cors: list[tuple[bytes, bytes]],
        body: RequestBodyStream | None = None,
    ) -> None:
        """Invoke the step and answer with what it returned or streamed."""
        sink = _StreamedResponse(send, trace_id, cors)
        try:
            result = await self.broker.call_api(
                target,
                request,
                trace_id,
                sink,
                parent_id=span.span_id if span else None,
                caller_id=span.parent_id if span else None,
                body=body,
            )
        except MotiadError as exc:
            if sink.started:  # the status is sent: the body ends where the handler stopped
                await send({"type": "http.response.body", "body": b""})
                return
            status, payload = error_response(exc, trace_id)
            await _send_json(send, status, payload, trace_id, cors)
            return
        if sink.started:
            await send({"type": "http.response.body", "body": b""})
            return
        flaw = unsendable(result)
        if flaw is not None:
            # the handler's bug, told to its author; the client gets what a
            # failed handler gives (Node refuses such a response in Motia too)
            self.broker.logs.log(
                "error",
                f"{target.name} returned a response HTTP cannot carry: {flaw}",
                step=target.name,
                trace_id=trace_id,
            )
            payload = {"error": "Internal Server Error", "traceId": trace_id}
            await _send_json(send, 500, payload, trace_id, cors)
            return
        await _send_result(send, result, trace_id, cors)

    async def _refuse(
        self,
        send: Send,
        step: str,
        detail: str,
        status: int,
        why: str,
        trace_id: str,
        headers: list[tuple[bytes, bytes]],
        **extra: object,
    ) -> None:
        """Answer ``status`` before any handler ran, recording the refusal as a
        trace (the ``traceId`` the answer carries leads to it)."""
        self.broker.refused(step, detail, trace_id, status, why)
        payload = {"error": why, **extra, "traceId": trace_id}
        await _send_json(send, status, payload, trace_id, headers)

    async def _refuse_broken(
        self,
        send: Send,
        broken: BrokenFile,
        detail: str,
        trace_id: str,
        cors: list[tuple[bytes, bytes]],
        span: RequestSpan | None,
    ) -> None:
        """Answer 503 for the route of a step that does not load, naming its
        file, line and errors, until the file is fixed."""
        step = broken.step.name if broken.step and broken.step.name else ""
        if span is not None:
            span.step = step
        why = f"{step or broken.file} is broken: " + "; ".join(broken.messages)
        await self._refuse(
            send, step, detail, 503, why, trace_id, cors, file=broken.file, line=broken.line
        )


def _maybe_unread(files: list[str]) -> str:
    """The hint of a 404 while step files fail before their configs can be read."""
    if not files:
        return ""
    named = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return f" (maybe a step of {named}, which did not load before its config could be read)"


class _StreamedResponse:
    """The connection as a :class:`~motiad.response_stream.ResponseSink`: a
    handler's ``http.write`` chunks go out as they come (no Content-Length:
    chunked), each awaited until the server took it (backpressure)."""

    def __init__(self, send: Send, trace_id: str, cors: list[tuple[bytes, bytes]]) -> None:
        self._send = send
        self._trace_id = trace_id
        self._cors = cors
        self.started = False

    async def start(self, status: int, headers: Mapping[str, str]) -> None:
        """Send the head: the handler's headers, the trace id and CORS headers."""
        own = {name.lower().encode("latin-1") for name in headers}
        sent = [
            (TRACE_HEADER, self._trace_id.encode()),
            *(h for h in self._cors if h[0] not in own),
        ]
        for name, value in headers.items():
            if name.lower() != "content-length":  # the body's length is not known yet
                sent.append((name.encode("latin-1"), value.encode("latin-1")))
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": sent})

    async def write(self, chunk: bytes) -> None:
        """Send one chunk of the body."""
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})


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


_NO_BODY_STATUSES = frozenset({204, 304})
"""Responses that carry neither a body nor a Content-Length (RFC 9110 §8.6)."""


async def _send_result(
    send: Send, result: ApiResult, trace_id: str, cors: list[tuple[bytes, bytes]]
) -> None:
    content_type = None
    if not result.headers:  # the common case: nothing to merge
        headers = [(TRACE_HEADER, trace_id.encode()), *cors]
    else:
        own = {name.lower().encode("latin-1") for name in result.headers}
        # the handler's own CORS headers win, as res.setHeader does over Motia's
        headers = [(TRACE_HEADER, trace_id.encode()), *(h for h in cors if h[0] not in own)]
        for name, value in result.headers.items():
            lowered = name.lower()
            if lowered in ("content-length", "content-type"):
                if lowered == "content-type":
                    content_type = str(value)
                continue  # both computed below from the body actually sent
            headers.append((name.encode("latin-1"), str(value).encode("latin-1")))
    if result.status in _NO_BODY_STATUSES:
        body = b""
    else:
        body, sent_type = response_body(result, content_type)
        headers.append((b"content-type", sent_type.encode("latin-1")))
        # a length, not chunked framing: one send per response (see bench/README.md)
        headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": result.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
