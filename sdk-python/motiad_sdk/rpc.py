"""JSON-RPC 2.0 over lines: classifying what comes in, correlating what goes out.

:func:`classify` is pure and total: every line becomes a value (a request, a
notification, a response, an :class:`Invalid` to answer or an :class:`Ignored`
to drop), never an exception, so the reader loop cannot die on bad input
(SPEC `framing.bad-line`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Final

from .errors import BrokerError, BrokerGoneError
from .framing import LineWriter
from .protocol import JsonObject, LineTooLongError, RequestId, encode_message
from .tables import DEFAULT_MAX_LINE_BYTES, MAX_ERROR_MESSAGE_CHARS, ErrorCode


@dataclass(frozen=True, slots=True)
class Request:
    """A request from the broker; it must be answered. ``params`` is as sent
    (``{}`` when absent): the runner checks it is an object once it knows the
    method (SPEC `rpc.error-order`)."""

    id: RequestId
    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification from the broker; it is never answered."""

    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class Response:
    """The broker's answer to one of our requests: ``error`` set, or ``result``."""

    id: RequestId
    result: Any
    error: BrokerError | None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that must be answered with an error instead of being served."""

    id: RequestId | None
    code: ErrorCode
    message: str
    data: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A line that is dropped unanswered (SPEC `rpc.no-reply-to-responses`):
    a malformed response, or the broker's report of a line it could not read."""

    reason: str


Incoming = Request | Notification | Response | Invalid | Ignored


def _read_id(value: Any) -> RequestId | None:
    """The id when SPEC `rpc.ids` allows it (an integer or a string; ``bool`` is no int)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _no_constants(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (SPEC `framing.bad-line`)."""
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)
"""Built once: ``json.loads`` with an option builds a decoder on every call."""


_LEADING_ID: Final = re.compile(
    rb'^[ \t]*\{[ \t]*"jsonrpc"[ \t]*:[ \t]*"2\.0"[ \t]*,[ \t]*"id"[ \t]*:[ \t]*'
    rb'(?P<id>-?[0-9]+|"[^"\\]*")[ \t]*,[ \t]*"(?P<kind>method|result|error)"'
)
"""The start of a message as every sender writes it (SPEC `rpc.undecodable`)."""


def _undecodable(line: bytes, why: str) -> Incoming:
    """A line that cannot be decoded: answered, or failing our request, by the
    id its start shows (SPEC `rpc.undecodable`); else ``-32700`` with ``id: null``."""
    message = f"parse error: {why}"
    found = _LEADING_ID.match(line)
    if found is None:
        return Invalid(None, ErrorCode.PARSE_ERROR, message)
    try:
        request_id: RequestId = json.loads(found["id"])
    except ValueError:  # not UTF-8 inside the quotes
        return Invalid(None, ErrorCode.PARSE_ERROR, message)
    if found["kind"] == b"method":
        return Invalid(request_id, ErrorCode.PARSE_ERROR, message)
    return Response(
        request_id,
        None,
        BrokerError(ErrorCode.PARSE_ERROR, f"the broker's answer could not be read: {why}"),
    )


def classify(line: bytes) -> Incoming:
    """What one line is, checked in the order of SPEC `rpc.error-order`."""
    try:
        message = _DECODER.decode(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _undecodable(line, f"the line is not valid UTF-8 (byte {exc.start})")
    except ValueError as exc:  # JSONDecodeError, NaN: the line's shape, not its text
        return Invalid(None, ErrorCode.PARSE_ERROR, f"parse error: {exc}")
    except RecursionError:
        return _undecodable(line, "JSON nested too deeply for this SDK")
    if not isinstance(message, dict):
        kind = type(message).__name__
        return Invalid(None, ErrorCode.INVALID_REQUEST, f"invalid request: a JSON {kind}")
    request_id = _read_id(message.get("id"))
    if "method" not in message and ("result" in message or "error" in message):
        return _classify_response(message, request_id)
    if message.get("jsonrpc") != "2.0":
        return Invalid(
            request_id, ErrorCode.INVALID_REQUEST, 'invalid request: jsonrpc is not "2.0"'
        )
    if "method" not in message:
        return Invalid(
            request_id, ErrorCode.INVALID_REQUEST, "invalid request: no method, result or error"
        )
    method = message["method"]
    if not isinstance(method, str):
        return Invalid(
            request_id, ErrorCode.INVALID_REQUEST, "invalid request: method must be a string"
        )
    params = message.get("params", {})
    if "id" not in message:
        return Notification(method, params)
    if request_id is None:
        return Invalid(
            None, ErrorCode.INVALID_REQUEST, "invalid request: id must be an int or string"
        )
    return Request(request_id, method, params)


def _classify_response(message: JsonObject, request_id: RequestId | None) -> Incoming:
    """A line shaped like a response: resolved when its id is valid, else dropped;
    never answered either way (SPEC `rpc.no-reply-to-responses`)."""
    if message.get("jsonrpc") != "2.0":
        return Ignored('a response whose jsonrpc is not "2.0"')
    if "error" not in message:
        if request_id is None:
            return Ignored("a result without a valid id")
        return Response(request_id, message["result"], None)
    error = message["error"]
    code = error.get("code") if isinstance(error, dict) else None
    well_formed = (
        isinstance(code, int)
        and not isinstance(code, bool)
        and isinstance(error.get("message"), str)
        and "result" not in message
    )
    if request_id is None:
        what = error.get("message") if well_formed else repr(error)[:200]
        return Ignored(f"the broker could not read a line we sent: {what}")
    if well_formed and isinstance(code, int):
        broker_error = BrokerError(code, error["message"], error.get("data"))
    else:  # fail the call rather than leave it waiting
        broker_error = BrokerError(
            ErrorCode.INTERNAL_ERROR, "the broker sent a malformed error", error
        )
    return Response(request_id, None, broker_error)


class Peer:
    """Our side of the conversation: sends, and matches answers to our requests.

    Lives on the event loop thread; other threads reach it through
    ``loop.call_soon_threadsafe`` or ``asyncio.run_coroutine_threadsafe``.
    """

    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._gone = False
        self.max_line_bytes = DEFAULT_MAX_LINE_BYTES
        """The limit for lines we send; ``initialize`` sets it (SPEC `framing.max-line`)."""

    def send(self, message: JsonObject) -> None:
        """Encode ``message`` once and write it as one line.

        Raises ``TypeError``/``ValueError`` (including
        :class:`~motiad_sdk.protocol.LineTooLongError`) when it cannot be sent.
        """
        self._writer.write(encode_message(message, self.max_line_bytes))

    def respond(self, request_id: RequestId, result: Any) -> None:
        """Answer a broker request with ``result``."""
        self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    def respond_error(
        self, request_id: RequestId | None, code: int, message: str, data: Any = None
    ) -> None:
        """Answer a broker request (or a line with no readable id) with an error."""
        error: JsonObject = {"code": int(code), "message": message}
        if data is not None:
            error["data"] = data
        try:
            self.send({"jsonrpc": "2.0", "id": request_id, "error": error})
        except (TypeError, ValueError):
            # SPEC `framing.max-line.send`: the data could not be encoded or was
            # too long; the code and a shortened message still say what happened,
            # cut further (whole characters) while the line is over the limit.
            text = message[:MAX_ERROR_MESSAGE_CHARS]
            while True:
                short = {"code": int(code), "message": text}
                try:
                    self.send({"jsonrpc": "2.0", "id": request_id, "error": short})
                    return
                except LineTooLongError as exc:
                    if not text:  # the limit wins: the peer's own timeout ends the request
                        report(f"error {code} not sent: {exc}")
                        return
                    text = text[: max(0, len(text) - (exc.size - exc.limit))]

    def notify(self, method: str, params: JsonObject) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: JsonObject) -> Any:
        """Send a request and wait for its answer; a broker error raises :class:`BrokerError`."""
        if self._gone:
            raise BrokerGoneError(f"cannot send {method}: the broker is gone")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            await self._writer.drain()
            return await future
        finally:
            # Also on cancellation: a late answer then finds no entry and is ignored.
            self._pending.pop(request_id, None)

    def resolve(self, response: Response) -> None:
        """Deliver a response; one matching nothing in flight is ignored (SPEC `rpc.unknown-id`)."""
        if not isinstance(response.id, int):
            return  # our ids are integers
        future = self._pending.pop(response.id, None)
        if future is None or future.done():
            return
        if response.error is not None:
            future.set_exception(response.error)
        else:
            future.set_result(response.result)

    def close(self) -> None:
        """The broker is gone: fail every request still waiting for an answer."""
        self._gone = True
        pending, self._pending = self._pending, {}
        for method_future in pending.values():
            if not method_future.done():
                method_future.set_exception(BrokerGoneError("the broker closed the connection"))


def report(text: str) -> None:
    """Write an SDK diagnostic to stderr, where it becomes a log record of the step."""
    try:
        sys.stderr.write(f"motiad-sdk: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: nothing left to tell
        pass
