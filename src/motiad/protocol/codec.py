"""Encode and decode protocol lines. Pure: no I/O.

Decoding never raises for bad input: a line that is not a valid message is
returned as a :class:`Malformed` value carrying the error the peer should get,
so the reader loop that calls it survives anything (STYLE: bad input as values).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

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
    """A line that is not a valid message, and the error reply it deserves."""

    id: RequestId | None
    error: ErrorObject


Incoming = IncomingRequest | IncomingNotification | IncomingResponse | Malformed


class InvalidParams(Exception):
    """Params that do not fit the method; ``path`` is a JSON path like ``$.params.step``."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def to_error(self) -> ErrorObject:
        """The ``-32602`` error object for this failure."""
        return ErrorObject(ErrorCode.INVALID_PARAMS, self.message, {"path": self.path})


def decode_line(line: bytes) -> Incoming:
    """Classify one line (without its newline) as a message or a :class:`Malformed`."""
    if not line.isascii():  # msgspec does not validate UTF-8 inside strings
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Malformed(None, ErrorObject(ErrorCode.PARSE_ERROR, f"parse error: {exc}"))
    try:
        env = _envelope_decoder.decode(line)
    except msgspec.ValidationError as exc:
        return Malformed(None, ErrorObject(ErrorCode.INVALID_REQUEST, f"invalid request: {exc}"))
    except msgspec.DecodeError as exc:
        return Malformed(None, ErrorObject(ErrorCode.PARSE_ERROR, f"parse error: {exc}"))
    msg_id = None if env.id is msgspec.UNSET else env.id
    if env.jsonrpc != "2.0":
        return Malformed(
            msg_id,
            ErrorObject(ErrorCode.INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"'),
        )
    params = None if env.params is msgspec.UNSET else env.params
    if env.method is not msgspec.UNSET:
        if env.id is msgspec.UNSET:
            return IncomingNotification(env.method, params)
        if env.id is None:
            return Malformed(
                None,
                ErrorObject(ErrorCode.INVALID_REQUEST, 'invalid request: "id" must not be null'),
            )
        return IncomingRequest(env.id, env.method, params)
    has_result = env.result is not msgspec.UNSET
    has_error = env.error is not msgspec.UNSET
    if env.id is not msgspec.UNSET and has_result != has_error:
        return IncomingResponse(
            env.id,
            env.result if isinstance(env.result, msgspec.Raw) else None,
            env.error if isinstance(env.error, ErrorObject) else None,
        )
    return Malformed(
        msg_id,
        ErrorObject(
            ErrorCode.INVALID_REQUEST,
            'invalid request: expected "method", or "id" with exactly one of "result" and "error"',
        ),
    )


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
        if match is None:
            raise InvalidParams(text, where) from None
        raise InvalidParams(text[: match.start()], where + match.group("path")) from None
    except msgspec.DecodeError as exc:  # Raw is always valid JSON; kept for safety
        raise InvalidParams(str(exc), where) from None
    return value


def encode_request(msg_id: RequestId, method: str, params: Any) -> bytes:
    """One request line, newline included."""
    return _encoder.encode(Request(msg_id, method, params)) + b"\n"


def encode_notification(method: str, params: Any) -> bytes:
    """One notification line, newline included."""
    return _encoder.encode(Notification(method, params)) + b"\n"


def encode_result(msg_id: RequestId | None, result: Any) -> bytes:
    """One success response line, newline included."""
    return _encoder.encode(Response(msg_id, result)) + b"\n"


def encode_error(msg_id: RequestId | None, error: ErrorObject) -> bytes:
    """One error response line, newline included."""
    return _encoder.encode(ErrorResponse(msg_id, error)) + b"\n"
