"""Encode and decode protocol lines. Pure: no I/O.

Decoding never raises for bad input: a line that is not a valid message is
returned as a :class:`Malformed` value carrying the error the peer should get,
so the reader loop that calls it survives anything (ARCHITECTURE §11.4).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET

from .codes import ErrorCode
from .messages import (
    Envelope,
    ErrorObject,
    ErrorResponse,
    Notification,
    Request,
    RequestId,
    Response,
)

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_envelope_decoder = msgspec.json.Decoder(Envelope)
_PATH_IN_MESSAGE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


class IncomingRequest(msgspec.Struct, frozen=True):
    """A request from the peer; ``params`` not yet decoded."""

    id: RequestId
    method: str
    params: msgspec.Raw | None


class IncomingNotification(msgspec.Struct, frozen=True):
    """A notification from the peer; ``params`` not yet decoded."""

    method: str
    params: msgspec.Raw | None


class IncomingResponse(msgspec.Struct, frozen=True):
    """A response to one of our requests: ``result`` raw, or ``error``."""

    id: RequestId | None
    result: msgspec.Raw | None
    error: ErrorObject | None


class Malformed(msgspec.Struct, frozen=True):
    """A line that is not a valid message, and the error reply it deserves.

    ``reply`` is false for a malformed *response* (a line with ``result`` or
    ``error`` and no ``method``): answering responses is how two peers end up
    echoing errors at each other forever (SPEC ``rpc.no-reply-to-responses``),
    so those are only logged.
    """

    id: RequestId | None
    error: ErrorObject
    reply: bool = True


Incoming = IncomingRequest | IncomingNotification | IncomingResponse | Malformed


class InvalidParams(Exception):
    """Params that do not fit the method; ``path`` is a JSON path like ``$.params.step``."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def to_error(self) -> ErrorObject:
        """The ``-32602`` error object for this failure."""
        return ErrorObject(
            ErrorCode.INVALID_PARAMS, f"invalid params: {self.message}", {"path": self.path}
        )


def decode_line(line: bytes) -> Incoming:
    """Classify one line (without its newline) as a message or a :class:`Malformed`.

    The checks run in the order of SPEC ``rpc.error-order``: UTF-8 and JSON
    (``-32700``), then the JSON-RPC envelope (``-32600``); the method and its
    params are the caller's second stage (``-32601``, ``-32602``).
    """
    if not line.isascii():  # msgspec does not validate UTF-8 inside strings
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _undecodable(
                line,
                f"the line is not valid UTF-8 (byte 0x{line[exc.start]:02x} at offset"
                f" {exc.start}): text must be sent as UTF-8",
            )
    try:
        env = _envelope_decoder.decode(line)
    except msgspec.ValidationError:
        return _classify_invalid(line)
    except msgspec.DecodeError as exc:
        offset = lone_surrogate_at(line)
        if offset is not None:  # msgspec calls this "Input data was truncated"
            return _undecodable(
                line,
                f"a string holds half of a character ({line[offset : offset + 6].decode()} at"
                f" offset {offset}: a lone UTF-16 surrogate, as when an emoji is cut in half);"
                " its sender must replace it with U+FFFD",
            )
        return _parse_error(str(exc))
    except RecursionError:
        return _undecodable(line, _TOO_DEEP)
    if env.method is UNSET and (env.result is not UNSET or env.error is not UNSET):
        return _classify_response(env)
    msg_id = None if env.id is UNSET else env.id
    if env.jsonrpc != "2.0":
        return _invalid(msg_id, '"jsonrpc" must be "2.0"')
    if env.method is UNSET:
        return _invalid(msg_id, 'expected "method", or "id" with one of "result" and "error"')
    params = None if env.params is UNSET else env.params
    if env.id is UNSET:
        return IncomingNotification(env.method, params)
    if env.id is None:
        return _invalid(None, '"id" of a request must be an integer or a string, not null')
    return IncomingRequest(env.id, env.method, params)


_TOO_DEEP = "JSON nested too deeply"

_ESCAPE = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|(?P<lone>u[dD][89a-fA-F][0-9a-fA-F]{2})|.)"
)
"""Every escape of a JSON text, in order (each backslash starts one, so matching
from the left stays aligned); ``lone`` is a surrogate without its pair."""

_LEADING_ID = re.compile(
    rb'^[ \t]*\{[ \t]*"jsonrpc"[ \t]*:[ \t]*"2\.0"[ \t]*,[ \t]*"id"[ \t]*:[ \t]*'
    rb'(?P<id>-?[0-9]+|"[^"\\]*")[ \t]*,[ \t]*"(?P<kind>method|result|error)"'
)
"""The start of a message as every sender writes it (SPEC ``rpc.undecodable``)."""


def lone_surrogate_at(line: bytes) -> int | None:
    """The offset of the first string escape of a lone surrogate (``"\\ud83d"``
    alone) in ``line``, which SPEC ``framing.utf8`` forbids; ``None`` if none."""
    if b"\\u" not in line:
        return None
    for found in _ESCAPE.finditer(line):
        if found["lone"] is not None:
            return found.start()
    return None


def _undecodable(line: bytes, why: str) -> Malformed:
    """A line whose text (not its shape) cannot be decoded: tied to the id its
    start shows, so the request it is, or the one it answers, does not wait
    for a timeout (SPEC ``rpc.undecodable``); else ``id: null``."""
    found = _LEADING_ID.match(line)
    msg_id: RequestId | None = None
    if found is not None:
        with contextlib.suppress(msgspec.DecodeError):
            msg_id = _read_id(msgspec.json.decode(found["id"]))
    error = ErrorObject(ErrorCode.PARSE_ERROR, f"parse error: {why}")
    is_response = found is not None and found["kind"] != b"method"
    return Malformed(msg_id, error, reply=not is_response)


def _parse_error(why: str) -> Malformed:
    return Malformed(None, ErrorObject(ErrorCode.PARSE_ERROR, f"parse error: {why}"))


def _invalid(msg_id: RequestId | None, why: str, *, reply: bool = True) -> Malformed:
    return Malformed(
        msg_id, ErrorObject(ErrorCode.INVALID_REQUEST, f"invalid request: {why}"), reply
    )


def _classify_response(env: Envelope) -> Incoming:
    """A line shaped like a response: valid, or dropped unanswered."""
    msg_id = None if env.id is UNSET else env.id
    if env.jsonrpc != "2.0":
        return _invalid(msg_id, 'invalid response: "jsonrpc" must be "2.0"', reply=False)
    if env.result is not UNSET and env.error is not UNSET:
        return _invalid(msg_id, 'invalid response: both "result" and "error"', reply=False)
    if env.id is UNSET:
        return _invalid(None, 'invalid response: no "id"', reply=False)
    if isinstance(env.error, ErrorObject):
        return IncomingResponse(env.id, None, env.error)
    if env.id is None:
        return _invalid(None, 'invalid response: a result with "id": null', reply=False)
    return IncomingResponse(
        env.id, env.result if isinstance(env.result, msgspec.Raw) else None, None
    )


def _read_id(value: Any) -> RequestId | None:
    """An id SPEC ``rpc.ids`` allows (an integer or a string), else ``None``."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _classify_invalid(line: bytes) -> Malformed:
    """The slow path for JSON that does not fit the envelope: keep the id when
    it can be read, and never answer what looks like a response."""
    try:
        value = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        return _parse_error(str(exc))
    except RecursionError:
        return _parse_error(_TOO_DEEP)
    if not isinstance(value, dict):
        kind = "array (batches are not supported)" if isinstance(value, list) else "JSON value"
        return _invalid(None, f"expected a JSON object, got an {kind}")
    msg_id = _read_id(value.get("id"))
    try:
        _envelope_decoder.decode(line)
    except msgspec.ValidationError as exc:
        why = str(exc)
    else:  # pragma: no cover - only called when the envelope does not validate
        why = "malformed message"
    if "method" not in value and ("result" in value or "error" in value):
        return _invalid(msg_id, f"invalid response: {why}", reply=False)
    return _invalid(msg_id, why)


def decode_params(raw: msgspec.Raw | None, kind: type[T], *, where: str = "$.params") -> T:
    """Second stage: decode raw ``params`` (or a ``result``) into ``kind``.

    Raises :class:`InvalidParams` naming the offending field's JSON path.
    """
    data = raw if raw is not None else b"{}"
    try:
        value: T = msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH_IN_MESSAGE.search(text)
        message, path = (
            (text, where) if match is None else (text[: match.start()], where + match.group("path"))
        )
        missing = _MISSING_FIELD.match(message)
        if missing is not None:  # name the missing field itself, as SPEC rpc.bad-params asks
            path += "." + missing.group("field")
        raise InvalidParams(message, path) from None
    except (msgspec.DecodeError, RecursionError) as exc:  # Raw is valid JSON; kept for safety
        raise InvalidParams(str(exc), where) from None
    return value


def _line(encoded: bytes) -> bytes:
    """``encoded`` as one line. A raw JSON value carried through (a request body,
    an event's data) may hold newlines between its tokens; a valid JSON string
    never holds one, so each is whitespace and becomes a space (SPEC framing)."""
    if b"\n" in encoded:
        encoded = encoded.replace(b"\n", b" ")
    return encoded + b"\n"


def encode_request(msg_id: RequestId, method: str, params: Any) -> bytes:
    """One request line, newline included."""
    return _line(_encoder.encode(Request(msg_id, method, UNSET if params is None else params)))


def encode_notification(method: str, params: Any) -> bytes:
    """One notification line, newline included."""
    return _line(_encoder.encode(Notification(method, UNSET if params is None else params)))


def encode_result(msg_id: RequestId, result: Any) -> bytes:
    """One success response line, newline included."""
    return _line(_encoder.encode(Response(msg_id, result)))


def encode_error(msg_id: RequestId | None, error: ErrorObject) -> bytes:
    """One error response line, newline included."""
    return _line(_encoder.encode(ErrorResponse(msg_id, error)))
