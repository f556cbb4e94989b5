"""A JSON-RPC 2.0 peer over a line transport: request/response correlation,
dispatch of incoming requests to typed handlers, and precise error replies.

It never dies on bad input, and a peer that misbehaves can neither block its
reader nor flood the log: malformed lines are answered through a small queue
that drops what a peer does not read (SPEC ``framing.bad-line``), over-long
lines are discarded and reported (``framing.max-line``), responses to unknown
ids are logged and dropped (``rpc.unknown-id``), responses are never answered
(``rpc.no-reply-to-responses``), and problem reports are throttled.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import math
import re
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

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
from .protocol.messages import (
    DEFAULT_MAX_LINE_BYTES,
    MAX_ERROR_MESSAGE_CHARS,
    ErrorObject,
    RequestId,
)
from .tasks import Slots, TaskSet
from .transport import BatchingLineSender, LineSender, LineTooLong


@dataclass(frozen=True, slots=True)
class Later:
    """What a plain (not ``async``) handler returns to answer once ``ready`` is
    done: then ``result`` is sent, or an error reply if ``ready`` failed. The
    reader calls such a handler itself and the reply follows from a callback:
    no task per request (``emit``, thousands a second, answers after a commit
    that many share)."""

    ready: asyncio.Future[Any]
    result: Any


Handler = Callable[[Any], Awaitable[Any] | Later]
"""An ``async`` handler (its coroutine runs as a task of its own), or a plain
function returning :class:`Later`."""

MAX_INCOMING_REQUESTS = 1024
"""Requests from the peer served at once. Past this the reader waits, so a peer
that floods requests without reading the answers is slowed down (and, missing
its heartbeats, restarted) instead of growing the broker's memory."""

BAD_LINE_REPLIES_QUEUED = 64
"""Error replies to bad lines waiting to be written. They are written by their
own task so a peer that writes garbage and never reads cannot block the
reader; when the queue is full further replies are dropped (and counted)."""

PROBLEMS_PER_WINDOW = 20
PROBLEM_WINDOW_S = 10.0
"""At most this many problem reports per window; the rest are counted and
summed up in one line, so a child printing garbage cannot flood the log."""

EXCERPT_BYTES = 120
"""How much of a bad line a problem report quotes."""

_SEND_FAILURES = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
"""What writing to a pipe whose reader is gone raises (anyio's, or the raw
``BrokenPipeError``/``ConnectionResetError`` asyncio lets through)."""

_LEADING_RESPONSE_ID = re.compile(
    rb'^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?[0-9]+)\s*,\s*"(?:result|error)"'
)
"""The id of a response, read from the start of a line too long to parse:
every SDK we know writes ``jsonrpc``, then ``id``, then ``result``/``error``."""


@dataclass(frozen=True, slots=True)
class Method:
    """An incoming method: the Struct its params decode into, and its handler
    (a notification's must be ``async``)."""

    params: type[Any] | None
    handler: Handler
    in_line: bool = field(init=False)
    """A plain handler, called by the reader itself. An ``async`` one is called
    in its request's task: a coroutine made in the reader would never be
    awaited should the task be cancelled before its first step."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_line", not inspect.iscoroutinefunction(self.handler))


Problem = Callable[[str], None]
"""Called with a one-line description of anything wrong the peer did."""


class Throttle:
    """Admits at most ``limit`` events per ``window_s`` seconds and counts the rest.

    The caller reports three things: each admitted event, the moment it starts
    dropping (so a flood shows at once), and how many it dropped once the
    window is over (or at :meth:`flush`).
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._window_start = time.monotonic()
        self._admitted = 0
        self._suppressed = 0

    def admit(self) -> tuple[bool, bool, int]:
        """``(admitted, first_dropped, dropped_in_last_window)`` for one event:
        whether to report it, whether it is the first one of this window not
        reported, and how many were dropped in a window that just ended."""
        now = time.monotonic()
        ended = 0
        if now - self._window_start >= self.window_s:
            ended, self._suppressed = self._suppressed, 0
            self._window_start, self._admitted = now, 0
        self._admitted += 1
        if self._admitted <= self.limit:
            return True, False, ended
        self._suppressed += 1
        return False, self._suppressed == 1, ended

    def flush(self) -> int:
        """Events dropped and not yet reported; resets the count."""
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed


class FloodGate:
    """One limiter shape for whatever a child may flood (stderr lines, log
    records, protocol problems): at most ``limit`` per ``window_s`` seconds get
    through; the moment it starts dropping is reported at once, and how many it
    dropped when the window is over (or at :meth:`close`): nothing is dropped
    without being counted and said."""

    def __init__(self, limit: int, window_s: float, what: str, report: Problem) -> None:
        self._throttle = Throttle(limit, window_s)
        self._what = what
        self._report = report

    def admit(self) -> bool:
        """Whether one more may go through now."""
        admitted, first_dropped, dropped = self._throttle.admit()
        if dropped:
            self._report(f"{dropped} {self._what} were not logged (flood)")
        if first_dropped:
            throttle = self._throttle
            self._report(
                f"over {throttle.limit} {self._what} in {throttle.window_s:g}s: further ones"
                " are counted, not logged"
            )
        return admitted

    def close(self) -> None:
        """Report what was dropped and not yet reported."""
        dropped = self._throttle.flush()
        if dropped:
            self._report(f"{dropped} {self._what} were not logged (flood)")


class Deadlines:
    """One timer for the deadlines of every request a peer waits on.

    Hot path: a ``call_later`` handle per invocation costs more than the rest
    of its bookkeeping when many are in flight. Deadlines go into a heap and
    one timer is armed for the earliest; a waiter that is answered first just
    stays until the heap is pruned, which happens once most of it is stale
    (as asyncio does with cancelled timers), so memory stays proportional to
    the waits in progress.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._live = 0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, asked once: a peer lives on one loop, and Python
        3.11's ``get_running_loop`` makes a system call (``getpid``) each time."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def add(
        self, loop: asyncio.AbstractEventLoop, when: float, waiter: asyncio.Future[None]
    ) -> None:
        """Wake ``waiter`` at ``when`` (loop time) unless it is done by then."""
        if len(self._heap) > 64 and len(self._heap) > 2 * self._live:
            self._heap = [entry for entry in self._heap if not entry[2].done()]
            heapq.heapify(self._heap)
        heapq.heappush(self._heap, (when, next(self._seq), waiter))
        self._live += 1
        if when < self._armed_for:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(when, self._fire, loop)
            self._armed_for = when

    def finished(self) -> None:
        """A waiter added here is done (answered, expired or cancelled)."""
        self._live -= 1

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._armed_for = None, math.inf
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _wake(heapq.heappop(heap)[2])
        while heap and heap[0][2].done():  # answered ones need no timer
            heapq.heappop(heap)
        if heap:
            self._armed_for = heap[0][0]
            self._timer = loop.call_at(self._armed_for, self._fire, loop)


class PendingRequest:
    """A request we sent that has not been answered yet.

    Hot path (one per invocation): the answer is kept in plain attributes and
    the one waiter sleeps on a bare asyncio future, its deadline kept by the
    peer's :class:`Deadlines`, instead of an ``anyio.Event`` and a cancel
    scope. motiad runs on asyncio (hypercorn's loop), so this costs a fraction
    of anyio's machinery; cancelling the waiting task (an anyio cancel scope
    around it) still works, as for any awaited future. One waiter at a time.
    """

    __slots__ = ("_deadlines", "_waiter", "answered", "error", "id", "method", "result")

    def __init__(self, id: int, method: str, deadlines: Deadlines | None = None) -> None:
        self.id = id
        self.method = method
        self._deadlines = deadlines or Deadlines()
        self.answered = False
        """True once settled by a response, an error or the closing connection."""
        self.result: msgspec.Raw | None = None
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self) -> msgspec.Raw | None:
        """The result; raises the error reply (or the closing reason) instead."""
        await self.wait_for(math.inf)
        if self.error is not None:
            raise self.error
        return self.result

    async def wait_for(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` seconds for the answer; whether it came."""
        if self.answered:
            return True
        if timeout_s <= 0:
            return False
        loop = self._deadlines.loop()
        waiter = self._waiter = loop.create_future()
        bounded = timeout_s < math.inf
        if bounded:
            self._deadlines.add(loop, loop.time() + timeout_s, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if bounded:
                if not waiter.done():  # cancelled: done for the heap's pruning too
                    waiter.cancel()
                self._deadlines.finished()
        return self.answered

    def settle(self, result: msgspec.Raw | None, error: BaseException | None) -> None:
        """Record the answer (the first one counts) and wake the waiter."""
        if self.answered:
            return
        self.answered = True
        self.result, self.error = result, error
        if self._waiter is not None:
            _wake(self._waiter)

    def fail(self, error: BaseException) -> None:
        """Settle with ``error`` unless already settled."""
        self.settle(None, error)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class RpcPeer:
    """One side of a JSON-RPC conversation."""

    def __init__(
        self,
        sender: LineSender | BatchingLineSender,
        *,
        methods: Mapping[str, Method],
        notifications: Mapping[str, Method],
        on_problem: Problem,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self._sender = sender
        self._methods = methods
        self._notifications = notifications
        self._on_problem = on_problem
        self.max_line_bytes = max_line_bytes
        """The longest line either side may send (SPEC ``framing.max-line``)."""
        self._ids = itertools.count(1)
        self._deadlines = Deadlines()
        self._pending: dict[RequestId, PendingRequest] = {}
        self._closed: BaseException | None = None
        self._problems = FloodGate(
            PROBLEMS_PER_WINDOW, PROBLEM_WINDOW_S, "protocol problems", on_problem
        )
        self._serving = Slots(MAX_INCOMING_REQUESTS)  # one per request: a hot path
        self._later: dict[asyncio.Future[Any], list[tuple[IncomingRequest, Any]]] = {}
        """Requests answered :class:`Later`, by the future they wait on: many
        share one (a batch of emits commits together), and one callback per
        future, not per request, answers them all, in the order they came."""
        self._bad_line_replies: MemoryObjectSendStream[bytes] | None = None
        self._requests: TaskSet | None = None
        self._dropped_replies = 0

    @property
    def can_send_now(self) -> bool:
        """Whether a send returns without waiting (the outgoing queue has room),
        so a caller may skip bounding it with a deadline of its own."""
        return self._closed is None and self._sender.has_room

    @property
    def in_flight(self) -> int:
        """Our requests still waiting for a response."""
        return len(self._pending)

    # --- sending --------------------------------------------------------------

    async def request(self, method: str, params: Any) -> msgspec.Raw | None:
        """Send a request and wait for its result (raw JSON).

        Raises :class:`RemoteError` for an error reply (or a request too long
        to send, code ``-32005``) and :class:`ChildError` when the connection
        closes first.
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
        pending = PendingRequest(next(self._ids), method, self._deadlines)
        line = self._fitting(encode_request(pending.id, method, params), method)
        self._pending[pending.id] = pending
        try:
            await self._send(line, method)
        except BaseException:
            self.forget(pending)
            raise
        return pending

    def forget(self, pending: PendingRequest) -> None:
        """Stop tracking a request; a late response to it is then ignored."""
        self._pending.pop(pending.id, None)

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification (:class:`RemoteError` ``-32005`` when too long)."""
        await self._send(self._fitting(encode_notification(method, params), method), method)

    def close(self, reason: BaseException) -> None:
        """Fail every request in flight with ``reason``; refuse new ones."""
        self._closed = reason
        for pending in self._pending.values():
            pending.fail(reason)
        self._pending.clear()

    def _fitting(self, line: bytes, method: str) -> bytes:
        """``line`` if it is within the limit; SPEC ``framing.max-line.send``."""
        size = len(line) - 1
        if size > self.max_line_bytes:
            raise RemoteError(
                ErrorCode.LINE_TOO_LONG,
                f"{method}: a line of {size} bytes exceeds maxLineBytes"
                f" ({self.max_line_bytes}); not sent",
            )
        return line

    async def _send(self, line: bytes, what: str) -> None:
        try:
            await self._sender.send(line)
        except _SEND_FAILURES as exc:
            raise ChildError(f"cannot send {what}: the pipe is closed ({exc!r})") from None

    # --- receiving ------------------------------------------------------------

    async def serve(self, lines: AsyncIterator[bytes | LineTooLong], tg: TaskGroup) -> None:
        """Read and dispatch every incoming line until the stream ends.

        Incoming requests run as tasks of their own so one slow handler never
        blocks the reader (SPEC ``rpc.concurrent``): plain asyncio tasks of a
        :class:`TaskSet` owned by a task in ``tg`` (one per request is a hot
        path). Error replies to bad lines are written by a task of their own.
        """
        replies, queue = anyio.create_memory_object_stream[bytes](BAD_LINE_REPLIES_QUEUED)
        self._bad_line_replies = replies
        tg.start_soon(self._write_bad_line_replies, queue)
        requests = self._requests = TaskSet()
        tg.start_soon(requests.run)
        try:
            async for line in lines:
                if isinstance(line, LineTooLong):
                    self._discarded(line)
                    continue
                message = decode_line(line)
                if isinstance(message, IncomingResponse):
                    self._resolve(message)
                elif isinstance(message, IncomingRequest):
                    if not self._serving.take_now():
                        await self._serving.take()
                    self._start_request(message)
                elif isinstance(message, IncomingNotification):
                    await self._handle_notification(message)
                else:
                    self._malformed(message, line)
        finally:
            replies.close()
            queue.close()  # also when the writer never got to run
            self._problems.close()
            if self._dropped_replies:
                self._on_problem(
                    f"{self._dropped_replies} error replies to bad lines were dropped:"
                    " the peer did not read them"
                )

    def _report(self, text: str) -> None:
        if self._problems.admit():
            self._on_problem(text)

    def _queue_reply(self, line: bytes) -> None:
        try:
            assert self._bad_line_replies is not None  # set by serve(), the only caller's caller
            self._bad_line_replies.send_nowait(line)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._dropped_replies += 1

    async def _write_bad_line_replies(self, queue: MemoryObjectReceiveStream[bytes]) -> None:
        with contextlib.suppress(anyio.ClosedResourceError):
            async with queue:
                async for line in queue:
                    with contextlib.suppress(ChildError):
                        await self._send(line, "an error reply")

    def _discarded(self, line: LineTooLong) -> None:
        head = line.head[:EXCERPT_BYTES].decode("utf-8", "replace")
        self._report(
            f"discarded a line of {line.size} bytes, over maxLineBytes ({self.max_line_bytes}),"
            f" starting {head!r}"
        )
        found = _LEADING_RESPONSE_ID.match(line.head)
        pending = self._pending.pop(int(found.group(1)), None) if found else None
        if pending is not None:  # SPEC framing.max-line: fail the request it answered
            pending.fail(
                RemoteError(
                    ErrorCode.LINE_TOO_LONG,
                    f"the answer to {pending.method} was a line of {line.size} bytes, over"
                    f" maxLineBytes ({self.max_line_bytes}); discarded",
                )
            )
        self._queue_reply(
            encode_error(
                None,
                ErrorObject(
                    ErrorCode.LINE_TOO_LONG,
                    f"line too long: {line.size} bytes, over maxLineBytes ({self.max_line_bytes})",
                ),
            )
        )

    def _malformed(self, message: Malformed, line: bytes) -> None:
        excerpt = line[:EXCERPT_BYTES].decode("utf-8", "replace")
        more = f" ({len(line)} bytes)" if len(line) > EXCERPT_BYTES else ""
        action = "" if message.reply else "; not answered (it is a response)"
        self._report(f"{message.error.message}{action}: {excerpt!r}{more}")
        if message.reply:
            self._queue_reply(encode_error(message.id, message.error))
            return
        pending = self._pending.pop(message.id, None) if message.id is not None else None
        if pending is not None:  # SPEC rpc.undecodable: fail what it answered, now
            pending.fail(
                RemoteError(
                    message.error.code,
                    f"the answer to {pending.method} could not be read: {message.error.message}",
                )
            )

    def _resolve(self, response: IncomingResponse) -> None:
        if response.id is None:  # SPEC rpc.no-reply-to-responses: an error about a bad line
            error = response.error
            detail = f"{error.message} (code {error.code})" if error else "no detail"
            self._report(f"the peer could not read a line we sent: {detail}")
            return
        pending = self._pending.pop(response.id, None)
        if pending is None:
            self._report(f"response to unknown request id {response.id!r} ignored")
            return
        if response.error is not None:
            error = response.error
            pending.fail(RemoteError(error.code, error.message, error.data))
        else:
            pending.settle(response.result, None)

    def _start_request(self, request: IncomingRequest) -> None:
        """Decode the params and call the handler, in the reader (it holds a
        slot of ``_serving``, freed once the request is answered)."""
        try:
            method = self._methods.get(request.method)
            if method is None:
                raise RemoteError(ErrorCode.METHOD_NOT_FOUND, f"unknown method {request.method!r}")
            params = (
                decode_params(request.params, method.params) if method.params is not None else None
            )
            outcome = method.handler(params) if method.in_line else None
        except Exception as exc:
            self._answer(self._error_line(request.id, self._error_for(request, exc)))
            return
        if isinstance(outcome, Later):
            ready = outcome.ready
            waiting = self._later.get(ready)
            if waiting is None:
                waiting = self._later[ready] = []
                ready.add_done_callback(self._answer_all_later)
            waiting.append((request, outcome.result))
        else:
            assert self._requests is not None  # set by serve(), our caller
            self._requests.spawn(self._handle_request(request, method, params, outcome))

    async def _handle_request(
        self,
        request: IncomingRequest,
        method: Method,
        params: Any,
        outcome: Awaitable[Any] | None,
    ) -> None:
        """Serve an ``async`` handler (``outcome`` is ``None``), or await what a
        plain one returned that is not :class:`Later`."""
        try:
            awaited = method.handler(params) if outcome is None else outcome
            assert not isinstance(awaited, Later), "only a plain handler answers Later"
            result = await awaited
        except Exception as exc:
            line = self._error_line(request.id, self._error_for(request, exc))
        else:
            line = self._result_line(request.id, result, request.method)
        await self._send_answer(line)

    def _answer_all_later(self, ready: asyncio.Future[Any]) -> None:
        """Answer every request waiting on ``ready``, now done."""
        answers = self._later.pop(ready)
        failure = None if ready.cancelled() else ready.exception()
        if failure is None and not ready.cancelled():
            for request, result in answers:
                self._answer(self._result_line(request.id, result, request.method))
            return
        for request, _ in answers:
            if isinstance(failure, Exception):
                error = self._error_for(request, failure)
            else:  # cancelled (the store stopped under it), or worse
                error = ErrorObject(ErrorCode.INTERNAL_ERROR, f"{request.method} did not complete")
            self._answer(self._error_line(request.id, error))

    def _answer(self, line: bytes) -> None:
        """Send a request's answer without waiting when the pipe has room (from a
        task when it has not); either way, free the request's slot."""
        if not self._sender.has_room:
            requests = self._requests
            if requests is not None:
                with contextlib.suppress(RuntimeError):  # the reader's owner stopped
                    requests.spawn(self._send_answer(line))
                    return
        try:
            self._sender.send_nowait(line)
        except (*_SEND_FAILURES, anyio.WouldBlock):
            pass  # the peer is gone, or the reader stopped with it: nobody to answer
        finally:
            self._serving.release()

    async def _send_answer(self, line: bytes) -> None:
        try:
            with contextlib.suppress(ChildError):
                await self._send(line, "a reply")
        finally:
            self._serving.release()

    def _error_for(self, request: IncomingRequest, exc: Exception) -> ErrorObject:
        """The error reply to a request whose handler raised ``exc``."""
        if isinstance(exc, InvalidParams):
            return exc.to_error()
        if isinstance(exc, RemoteError):
            return ErrorObject(exc.code, exc.message, exc.data)
        if isinstance(exc, MotiadError):
            return ErrorObject(ErrorCode.INTERNAL_ERROR, str(exc))
        # a bug in one method must not end the connection
        self._on_problem(
            f"internal error serving {request.method}:\n"
            + "".join(traceback.format_exception(exc)).rstrip()
        )
        return ErrorObject(ErrorCode.INTERNAL_ERROR, f"internal error: {exc!r}")

    async def _handle_notification(self, note: IncomingNotification) -> None:
        method = self._notifications.get(note.method)
        if method is None:
            return  # SPEC rpc.unknown-method: unknown notifications are ignored
        try:
            params = decode_params(note.params, method.params) if method.params else None
        except InvalidParams as exc:
            self._report(f"{note.method}: {exc.message} at {exc.path}; notification ignored")
            return
        try:
            outcome = method.handler(params)
            assert not isinstance(outcome, Later), f"{note.method}: a notification is not answered"
            await outcome
        except Exception as exc:  # as in _error_for: the reader must survive
            self._on_problem(
                f"internal error handling {note.method}:\n"
                + "".join(traceback.format_exception(exc)).rstrip()
            )

    def _result_line(self, msg_id: RequestId, result: Any, method: str) -> bytes:
        try:
            line = encode_result(msg_id, result)
        except (msgspec.EncodeError, TypeError, ValueError) as exc:
            error = ErrorObject(ErrorCode.INTERNAL_ERROR, f"cannot encode the result: {exc}")
            return self._error_line(msg_id, error)
        if len(line) - 1 > self.max_line_bytes:  # SPEC framing.max-line.send
            return self._error_line(
                msg_id,
                ErrorObject(
                    ErrorCode.LINE_TOO_LONG,
                    f"the result of {method} is {len(line) - 1} bytes encoded, over"
                    f" maxLineBytes ({self.max_line_bytes})",
                ),
            )
        return line

    def _error_line(self, msg_id: RequestId | None, error: ErrorObject) -> bytes:
        line = encode_error(msg_id, error)
        if len(line) - 1 > self.max_line_bytes:  # drop the data, shorten the message
            short = error.message[:MAX_ERROR_MESSAGE_CHARS]
            line = encode_error(msg_id, ErrorObject(error.code, short))
        return line
