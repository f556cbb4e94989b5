"""A JSON-RPC 2.0 peer over a line transport: request/response correlation,
dispatch of incoming requests to typed handlers, and precise error replies.

It never dies on bad input: malformed lines are answered (SPEC
``framing.bad-line``), over-long lines reported (``framing.max-line``),
responses to unknown ids logged and dropped (``rpc.unknown-id``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from .errors import ChildError, MotiadError, RemoteError
from .protocol import (
    ErrorCode,
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    InvalidParams,
    Malformed,
    decode_line,
    decode_params,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from .protocol.messages import ErrorObject, RequestId
from .transport import LineSender, LineTooLong

Handler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Method:
    """An incoming method: the Struct its params decode into, and its handler."""

    params: type[Any] | None
    handler: Handler


Problem = Callable[[str], None]
"""Called with a one-line description of anything wrong the peer did."""


@dataclass(eq=False, slots=True)
class PendingRequest:
    """A request we sent that has not been answered yet."""

    id: int
    done: anyio.Event = field(default_factory=anyio.Event)
    result: msgspec.Raw | None = None
    error: BaseException | None = None

    async def wait(self) -> msgspec.Raw | None:
        """The result; raises the error reply (or the closing reason) instead."""
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result


class RpcPeer:
    """One side of a JSON-RPC conversation."""

    def __init__(
        self,
        sender: LineSender,
        *,
        methods: Mapping[str, Method],
        notifications: Mapping[str, Method],
        on_problem: Problem,
    ) -> None:
        self._sender = sender
        self._methods = methods
        self._notifications = notifications
        self._on_problem = on_problem
        self._ids = itertools.count(1)
        self._pending: dict[RequestId, PendingRequest] = {}
        self._closed: BaseException | None = None

    @property
    def in_flight(self) -> int:
        """Our requests still waiting for a response."""
        return len(self._pending)

    async def request(self, method: str, params: Any) -> msgspec.Raw | None:
        """Send a request and wait for its result (raw JSON).

        Raises :class:`RemoteError` for an error reply and :class:`ChildError`
        when the connection closes first.
        """
        pending = await self.open_request(method, params)
        try:
            return await pending.wait()
        finally:
            self.forget(pending)

    async def open_request(self, method: str, params: Any) -> PendingRequest:
        """Send a request and return its handle, for callers that need its id
        (to send ``$/cancel``) or wait in stages. Pair with :meth:`forget`."""
        if self._closed is not None:
            raise ChildError(f"cannot send {method}: {self._closed}")
        pending = PendingRequest(next(self._ids))
        self._pending[pending.id] = pending
        try:
            await self._sender.send(encode_request(pending.id, method, params))
        except BaseException:
            self.forget(pending)
            raise
        return pending

    def forget(self, pending: PendingRequest) -> None:
        """Stop tracking a request; a late response to it is then ignored."""
        self._pending.pop(pending.id, None)

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        await self._sender.send(encode_notification(method, params))

    def close(self, reason: BaseException) -> None:
        """Fail every request in flight with ``reason``; refuse new ones."""
        self._closed = reason
        for pending in self._pending.values():
            pending.error = reason
            pending.done.set()
        self._pending.clear()

    async def serve(self, lines: AsyncIterator[bytes | LineTooLong], tg: TaskGroup) -> None:
        """Read and dispatch every incoming line until the stream ends.

        Incoming requests run as tasks in ``tg`` so one slow handler never
        blocks the reader (SPEC ``rpc.concurrent``).
        """
        async for line in lines:
            if isinstance(line, LineTooLong):
                self._on_problem(f"line of {line.size} bytes exceeds the limit; discarded")
                await self._reply_error(
                    None,
                    ErrorObject(ErrorCode.LINE_TOO_LONG, f"line of {line.size} bytes is too long"),
                )
                continue
            message = decode_line(line)
            if isinstance(message, IncomingResponse):
                self._resolve(message)
            elif isinstance(message, IncomingRequest):
                tg.start_soon(self._handle_request, message)
            elif isinstance(message, IncomingNotification):
                await self._handle_notification(message)
            else:
                self._report_malformed(message, line)
                await self._reply_error(message.id, message.error)

    def _report_malformed(self, message: Malformed, line: bytes) -> None:
        excerpt = line[:120].decode("utf-8", "replace")
        self._on_problem(f"{message.error.message}: {excerpt!r}")

    def _resolve(self, response: IncomingResponse) -> None:
        pending = self._pending.pop(response.id, None) if response.id is not None else None
        if pending is None:
            self._on_problem(f"response to unknown request id {response.id!r} ignored")
            return
        if response.error is not None:
            error = response.error
            pending.error = RemoteError(error.code, error.message, error.data)
        else:
            pending.result = response.result
        pending.done.set()

    async def _handle_request(self, request: IncomingRequest) -> None:
        method = self._methods.get(request.method)
        if method is None:
            await self._reply_error(
                request.id,
                ErrorObject(ErrorCode.METHOD_NOT_FOUND, f"unknown method {request.method!r}"),
            )
            return
        try:
            params = (
                decode_params(request.params, method.params) if method.params is not None else None
            )
            result = await method.handler(params)
        except InvalidParams as exc:
            await self._reply_error(request.id, exc.to_error())
        except RemoteError as exc:
            await self._reply_error(request.id, ErrorObject(exc.code, exc.message, exc.data))
        except MotiadError as exc:
            await self._reply_error(request.id, ErrorObject(ErrorCode.INTERNAL_ERROR, str(exc)))
        else:
            await self._reply(request.id, result)

    async def _handle_notification(self, note: IncomingNotification) -> None:
        method = self._notifications.get(note.method)
        if method is None:
            return  # SPEC rpc.unknown-method: unknown notifications are ignored
        try:
            params = decode_params(note.params, method.params) if method.params else None
        except InvalidParams as exc:
            self._on_problem(f"{note.method}: {exc.message} at {exc.path}")
            return
        await method.handler(params)

    async def _reply(self, msg_id: RequestId, result: Any) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._sender.send(encode_result(msg_id, result))

    async def _reply_error(self, msg_id: RequestId | None, error: ErrorObject) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._sender.send(encode_error(msg_id, error))
