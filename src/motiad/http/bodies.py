"""Bodies as Motia's Express app handles them: a request body as the handler
gets it (body-parser's json, urlencoded and text parsers), a response body as
``res.send``/``res.json`` send it, and what HTTP cannot carry."""

from __future__ import annotations

import base64
import re
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

import msgspec

from ..protocol.messages import ApiResult

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
