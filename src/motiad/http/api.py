"""API steps as HTTP routes, served by a thin ASGI handler.

API routes are user code's hot path, so they skip the framework: one route
lookup, one body read, one pipe round trip, one response. Everything under
the reserved prefix goes to the quart app (workbench and its JSON API).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

import msgspec

from ..broker import Broker
from ..errors import ChildError, InvalidInput, MotiadError, RemoteError, StorageError
from ..protocol import ErrorCode
from ..protocol.messages import DEFAULT_MAX_LINE_BYTES, ApiRequest, ApiResult
from ..supervisor import InvocationTimeout
from ..tracing import new_id
from .access import Access

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


BodyEncoding = Literal["base64"]
BASE64: Final[BodyEncoding] = "base64"
"""``bodyEncoding`` of a request or response whose body is bytes, sent as a
base64 string (SPEC ``invoke.input``/``invoke.result``): JSON cannot hold bytes."""


def media_type(content_type: str) -> str:
    """``text/plain`` of ``Text/Plain; charset=utf-8``."""
    return content_type.split(";", 1)[0].strip().lower()


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


MAX_JSON_DEPTH = 256
"""Deepest nesting of arrays and objects a JSON body may have (400 beyond):
far past any real document, well inside what every decoder on the way handles
(msgspec stops near 1,000 levels, a Python step's recursion near 500); a 1 KB
body of brackets must not reach them (issue #19 D1, D7)."""


class TooDeep(ValueError):
    """A JSON body nests deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def check_depth(body: bytes) -> None:
    """Raise :class:`TooDeep` when the JSON ``body`` nests too deeply.

    Counting brackets (in C) settles almost every body at once; only one
    with more brackets than the limit is decoded and walked (its containers,
    not its characters)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    try:
        value = msgspec.json.decode(body)
    except RecursionError:
        raise TooDeep from None
    level: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while level:
        item, depth = level.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_JSON_DEPTH:
                    raise TooDeep
                level.append((child, depth + 1))


def parse_body(body: bytes, content_type: str) -> tuple[Any, BodyEncoding | None]:
    """The request body as the handler gets it, and its ``bodyEncoding``: one
    policy, Express's body parsers as Motia 0.17 installs them.

    No body: ``{}`` (body-parser's default). A JSON media type: the JSON, kept
    raw (validated, not decoded). ``application/x-www-form-urlencoded``: an
    object (a string per key, a list when a key repeats). ``text/*``: a string.
    Anything else, a missing Content-Type included, is bytes (base64 on the
    wire): only a JSON media type is parsed as JSON, because a cross-site
    ``fetch`` in ``no-cors`` mode can send any body without a Content-Type (or
    with a ``text/plain`` one) but never with a JSON one, which needs a preflight.

    Raises ``msgspec.DecodeError`` for a JSON body that is not valid JSON, and
    :class:`TooDeep` for one nested too deeply.
    """
    if not body:
        return msgspec.Raw(b"{}"), None
    media = media_type(content_type)
    if media == "application/json" or media.endswith("+json"):
        raw = msgspec.json.decode(body, type=msgspec.Raw)
        check_depth(body)
        return raw, None
    if media == "application/x-www-form-urlencoded":
        return query_params(body), None
    if media.startswith("text/"):
        try:
            return body.decode(_charset(content_type), "replace"), None
        except LookupError:  # a charset Python does not know
            return body.decode("utf-8", "replace"), None
    return base64.b64encode(body).decode("ascii"), BASE64


def query_params(query_string: bytes) -> dict[str, str | list[str]]:
    """Motia's shape: a string per key, a list of strings when a key repeats
    (a query string, or a form body, which has the same syntax)."""
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

    def __init__(self, broker: Broker, access: Access) -> None:
        self.broker = broker
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        trace_id = new_id()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        cors = self.access.cors_headers(headers.get("origin"), headers)
        match = self.broker.routes.match(method, path)
        if method == "OPTIONS" and (match is None or isinstance(match, list)):
            # Motia answers every OPTIONS no step serves as a preflight: 204
            await send({"type": "http.response.start", "status": 204, "headers": cors})
            await send({"type": "http.response.body", "body": b""})
            return
        if match is None:
            await _send_json(send, 404, {"error": f"no route for {method} {path}"}, trace_id, cors)
            return
        if isinstance(match, list):
            await _send_json(
                send,
                405,
                {"error": f"{method} is not allowed on {path}; allowed: {', '.join(match)}"},
                trace_id,
                [(b"allow", ", ".join(match).encode()), *cors],
            )
            return
        try:
            raw = await read_body(receive, self.broker.settings.max_body_bytes)
            body, encoding = parse_body(raw, headers.get("content-type", ""))
        except BodyTooLarge:
            limit = self.broker.settings.max_body_bytes
            problem = {"error": f"request body exceeds {limit} bytes"}
            await _send_json(send, 413, problem, trace_id, cors)
            return
        except msgspec.DecodeError as exc:
            problem = {"error": f"request body is not valid JSON: {exc}"}
            await _send_json(send, 400, problem, trace_id, cors)
            return
        except (RecursionError, TooDeep):
            problem = {"error": f"request body refused: {TooDeep()}"}
            await _send_json(send, 400, problem, trace_id, cors)
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
            problem = {
                "error": f"request body of {len(raw)} bytes is too large to hand to the step"
                f" once encoded (base64 or escapes; the protocol's lines hold"
                f" {DEFAULT_MAX_LINE_BYTES} bytes)"
            }
            await _send_json(send, 413, problem, trace_id, cors)
            return
        try:
            result = await self.broker.call_api(match.target, request, trace_id)
        except MotiadError as exc:
            status, payload = error_response(exc, trace_id)
            await _send_json(send, status, payload, trace_id, cors)
            return
        flaw = unsendable(result)
        if flaw is not None:
            # the handler's bug, told to its author; the client gets what a
            # failed handler gives (Node refuses such a response in Motia too)
            self.broker.logs.log(
                "error",
                f"{match.target.name} returned a response HTTP cannot carry: {flaw}",
                step=match.target.name,
                trace_id=trace_id,
            )
            payload = {"error": "Internal Server Error", "traceId": trace_id}
            await _send_json(send, 500, payload, trace_id, cors)
            return
        await _send_result(send, result, trace_id, cors)


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


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header name (RFC 9110 §5.6.2)."""
_FORBIDDEN_IN_VALUES = re.compile(r"[\r\n\x00]")


def unsendable(result: ApiResult) -> str | None:
    """What makes a handler's response impossible to send, or ``None``: a
    status outside 200-999, a header name that is no token, a header value
    with a line break or text that is not latin-1 (HTTP/1.1 headers are bytes)."""
    if not 200 <= result.status <= 999:
        return f"status {result.status} (expected 200 to 999)"
    for name, value in result.headers.items():
        if not _TOKEN.fullmatch(name):
            return f"header name {name!r} (letters, digits and !#$%&'*+-.^_`|~ only)"
        text = str(value)
        if _FORBIDDEN_IN_VALUES.search(text):
            return f"header {name}: {text!r:.80} has a line break or NUL"
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            return f"header {name}: {text!r:.80} is not latin-1 text (percent-encode it)"
    if result.body_encoding == BASE64:
        try:
            base64.b64decode(msgspec.json.decode(bytes(result.body), type=str), validate=True)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
            return "a body marked base64 that is not a base64 string"
    return None


_NO_BODY_STATUSES = frozenset({204, 304})
"""Responses that carry neither a body nor a Content-Length (RFC 9110 §8.6)."""
_TEXT_TYPE = "text/html; charset=utf-8"
_BYTES_TYPE = "application/octet-stream"
_JSON_TYPE = "application/json; charset=utf-8"


def response_body(result: ApiResult, content_type: str | None) -> tuple[bytes, str]:
    """The bytes to send and their Content-Type, as Express's ``res.send`` and
    ``res.json`` make them in Motia 0.17's API router: a string goes out as it
    is (``text/html``, or the type the handler set, with ``charset=utf-8``),
    bytes as they are (``application/octet-stream`` unless set), anything else
    as JSON."""
    raw = bytes(result.body)
    if result.body_encoding == BASE64:
        data = base64.b64decode(msgspec.json.decode(raw, type=str))
        return data, content_type or _BYTES_TYPE
    if raw.startswith(b'"'):
        text = msgspec.json.decode(raw, type=str).encode()
        if content_type is None:
            return text, _TEXT_TYPE
        if "charset=" not in content_type.lower():
            content_type += "; charset=utf-8"
        return text, content_type
    return raw, content_type or _JSON_TYPE


async def _send_result(
    send: Send, result: ApiResult, trace_id: str, cors: list[tuple[bytes, bytes]]
) -> None:
    own = {name.lower().encode("latin-1") for name in result.headers}
    # the handler's own CORS headers win, as res.setHeader does over Motia's
    headers = [(TRACE_HEADER, trace_id.encode()), *(h for h in cors if h[0] not in own)]
    content_type = None
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
