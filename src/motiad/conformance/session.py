"""A child with the checker on the other end of its pipes: the checker writes
exact bytes, reads every line the child writes, validates what the child sends
against the protocol Structs, and answers its service requests from
:class:`~motiad.conformance.services.Services`.

Every wait is bounded: a broken child (``cat``, one that prints garbage, one
that never answers) fails a case with a reason, in bounded time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import Process, TaskGroup

from ..protocol import (
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    InvalidParams,
    decode_line,
    decode_params,
    encode_error,
    encode_result,
)
from ..protocol.messages import (
    BROKER_TO_CHILD,
    CHILD_TO_BROKER,
    DEFAULT_MAX_LINE_BYTES,
    ErrorObject,
    LogParams,
    RequestId,
)
from ..runners import ChildCommand
from ..transport import LineSender, LineTooLong, read_lines
from .services import Services

WAIT_S = 5.0
"""The longest the checker waits for one expected message: far above what a
healthy child needs (milliseconds), short enough that a broken one fails fast."""
EXIT_WAIT_S = 5.0
"""How long a child may take to exit (SPEC `lifecycle.stdin-eof`: within 5 s)."""
CLOSE_WAIT_S = 1.0
"""After a case, how long a child gets to exit on end of input before it is
killed (its exit was checked, if at all, by the case itself)."""
VIOLATIONS_KEPT = 20
STDERR_KEPT = 2000
"""Stderr lines kept per child: enough for any case's reason, bounded for a flood."""
_PIPE_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
"""What reading or writing a pipe raises once the child, or the checker's own
``close``, has ended it: the end of that pipe, not an error of the checker."""


class CaseFailed(Exception):
    """A case's check did not hold; the message says what was expected and seen."""


@dataclass(eq=False)
class Received:
    """One message the child wrote, decoded to plain JSON, in arrival order."""

    seq: int
    message: dict[str, Any]


@dataclass(eq=False)
class Session:
    """One child process with the checker on the other end of its pipes."""

    command: ChildCommand
    services: Services
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    process: Process | None = None
    inbox: list[Received] = field(default_factory=list)
    """Messages not yet taken by a case."""
    held: list[dict[str, Any]] = field(default_factory=list)
    """Service requests held back by ``hold``, oldest first."""
    hold: Callable[[dict[str, Any]], bool] = lambda _: False
    logs: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    violation_count: int = 0
    stderr: list[str] = field(default_factory=list)
    exited: bool = False
    """The child closed its stdout (it exited, or will soon)."""
    _stderr_ended: bool = False
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _sender: LineSender | None = None
    _outgoing: Any = None
    _pipes: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    _pipes_done: anyio.Event = field(default_factory=anyio.Event)

    # -- running -----------------------------------------------------------------

    async def start(self, tg: TaskGroup) -> None:
        """Spawn the child; its pipes are served by one task in ``tg`` that
        :meth:`close` ends."""
        command = self.command
        try:
            self.process = await anyio.open_process(
                command.argv, cwd=command.cwd, env=command.env, start_new_session=True
            )
        except OSError as exc:
            raise CaseFailed(f"cannot start {command.argv[0]}: {exc}") from None
        assert self.process.stdin is not None
        self._sender = LineSender(self.process.stdin)
        send, receive = anyio.create_memory_object_stream[bytes](256)
        self._outgoing = send
        tg.start_soon(self._serve_pipes, receive)

    async def _serve_pipes(self, outgoing: Any) -> None:
        try:
            with self._pipes:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._read_stdout)
                    tg.start_soon(self._read_stderr)
                    tg.start_soon(self._write, outgoing)
        finally:
            self._pipes_done.set()

    async def close(self) -> None:
        """End of input, then kill the group; bounded.

        The readers finish before their streams are closed: a child that
        writes its last line and exits at once must not find a reader still
        waiting on a stream this method closes (that raised
        ``ClosedResourceError`` out of the reader and ended the whole run)."""
        process = self.process
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            await self.close_stdin()
            with anyio.move_on_after(CLOSE_WAIT_S):
                await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            if self._outgoing is not None:
                self._outgoing.close()
            with anyio.move_on_after(CLOSE_WAIT_S):  # the last lines, up to end of file
                while not (self.exited and self._stderr_ended):
                    await self._changed.wait()
            self._pipes.cancel()
            with anyio.move_on_after(CLOSE_WAIT_S):
                await self._pipes_done.wait()
            with contextlib.suppress(*_PIPE_GONE):
                await process.aclose()  # closes the pipes' transports too

    async def close_stdin(self) -> None:
        """Close the child's stdin: it sees end of file."""
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(*_PIPE_GONE):
                await self.process.stdin.aclose()

    async def wait_exit(self, within: float = EXIT_WAIT_S) -> int:
        """The child's exit status; fails if it is still running after ``within``."""
        assert self.process is not None
        with anyio.move_on_after(within):
            return await self.process.wait()
        raise CaseFailed(f"still running {within:g}s later")

    # -- reading -----------------------------------------------------------------

    async def changed(self) -> None:
        """Wait until the child does something: writes a line, logs, exits."""
        await self._changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _violation(self, text: str) -> None:
        self.violation_count += 1
        if len(self.violations) < VIOLATIONS_KEPT:
            self.violations.append(text)
        self._wake()

    async def _read_stdout(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        try:
            async for line in read_lines(self.process.stdout, self.max_line_bytes):
                if isinstance(line, LineTooLong):
                    self._violation(
                        f"wrote a line of {line.size} bytes, over maxLineBytes"
                        f" ({self.max_line_bytes}) (framing.max-line.send)"
                    )
                    continue
                self._received(line)
        except _PIPE_GONE:
            pass
        finally:
            self.exited = True
            self._wake()

    def _received(self, line: bytes) -> None:
        message = decode_line(line)
        excerpt = line[:100].decode("utf-8", "replace")
        if not isinstance(message, IncomingRequest | IncomingNotification | IncomingResponse):
            self._violation(
                f"wrote a line that is not a JSON-RPC message ({message.error.message}):"
                f" {excerpt!r}"
            )
            return
        value = json.loads(line)
        if isinstance(message, IncomingRequest):
            self._serve(message, value)
        elif isinstance(message, IncomingNotification):
            self._notified(message, value)
        self.inbox.append(Received(next(self._seq), value))
        self._wake()

    def _serve(self, request: IncomingRequest, value: dict[str, Any]) -> None:
        if request.method in BROKER_TO_CHILD:
            self._violation(
                f"sent a request for {request.method!r}, a method only the broker sends"
                " (does it echo its input?)"
            )
        kind = CHILD_TO_BROKER.get(request.method)
        if kind is None or request.method == "log":
            self._queue(
                encode_error(request.id, ErrorObject(-32601, f"unknown method {request.method!r}"))
            )
            return
        try:
            params = decode_params(request.params, kind)
        except InvalidParams as exc:
            self._violation(f"sent {request.method} with bad params: {exc.message} at {exc.path}")
            self._queue(encode_error(request.id, exc.to_error()))
            return
        if self.hold(value):
            self.held.append(value)
            return
        self._queue(encode_result(request.id, self.services.answer(request.method, params)))

    def _notified(self, note: IncomingNotification, value: dict[str, Any]) -> None:
        if note.method != "log":
            return
        try:
            decode_params(note.params, LogParams)
        except InvalidParams as exc:
            self._violation(f"sent log with bad params: {exc.message} at {exc.path}")
            return
        self.logs.append(value)

    async def _read_stderr(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        try:
            async for line in read_lines(self.process.stderr, 64 * 1024):
                if isinstance(line, bytes) and len(self.stderr) < STDERR_KEPT:
                    self.stderr.append(line.decode("utf-8", "replace"))
                    self._wake()
        except _PIPE_GONE:
            pass
        finally:
            self._stderr_ended = True
            self._wake()

    def stderr_tail(self, lines: int = 5) -> str:
        """The last stderr lines, for failure reasons."""
        tail = [line for line in self.stderr if line.strip()][-lines:]
        return ("; stderr: " + " | ".join(tail)) if tail else ""

    # -- writing -----------------------------------------------------------------

    def _queue(self, line: bytes) -> None:
        with contextlib.suppress(
            anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError
        ):
            self._outgoing.send_nowait(line)

    async def _write(self, lines: Any) -> None:
        assert self._sender is not None
        async with lines:
            async for line in lines:
                with contextlib.suppress(*_PIPE_GONE):
                    await self._sender.send(line)

    async def send_raw(self, data: bytes) -> None:
        """Write bytes to the child's stdin as they are (a failure to write is the child's)."""
        assert self._sender is not None
        try:
            with anyio.fail_after(WAIT_S):
                await self._sender.send(data)
        except _PIPE_GONE as exc:
            raise CaseFailed(f"the child's stdin is closed ({exc!r})") from None
        except TimeoutError:
            raise CaseFailed(f"the child did not read its stdin for {WAIT_S:g}s") from None

    async def send(self, message: Any) -> None:
        """Write one JSON message as one line."""
        await self.send_raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def request(
        self, method: str, params: Any, *, msg_id: RequestId | None = None
    ) -> RequestId:
        """Send a request; return its id."""
        request_id = next(self._ids) if msg_id is None else msg_id
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification."""
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def reply(self, request: dict[str, Any], result: Any) -> None:
        """Answer a request the child sent (one that was held)."""
        await self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    async def invoke(
        self,
        step: str,
        trigger: dict[str, Any],
        input: Any,
        *,
        invocation_id: str | None = None,
        timeout_ms: int | None = None,
        trace_id: str = "conformance-trace",
        msg_id: RequestId | None = None,
        traceparent: str | None = None,
    ) -> RequestId:
        """Send ``invoke``; return its request id."""
        request_id = next(self._ids) if msg_id is None else msg_id
        params = {
            "step": step,
            "trigger": trigger,
            "input": input,
            "traceId": trace_id,
            "invocationId": invocation_id or f"conformance-{request_id}",
            "attempt": 1,
            "timeoutMs": timeout_ms,
            "traceparent": traceparent,
        }
        await self.request("invoke", params, msg_id=request_id)
        return request_id

    # -- waiting -----------------------------------------------------------------

    async def take(
        self, match: Callable[[dict[str, Any]], bool], what: str, within: float = WAIT_S
    ) -> dict[str, Any]:
        """The first message matching ``match`` (already received or to come).

        Fails at once if the child writes a line that is not protocol, or
        exits, while the checker waits."""
        violations = self.violation_count
        with anyio.move_on_after(within):
            while True:
                for index, received in enumerate(self.inbox):
                    if match(received.message):
                        return self.inbox.pop(index).message
                if self.violation_count > violations:
                    raise CaseFailed(f"waiting for {what}, the child {self.violations[-1]}")
                if self.exited:
                    code = self.process.returncode if self.process else None
                    raise CaseFailed(
                        f"the child closed its stdout (exit code {code}) before {what}"
                        + self.stderr_tail()
                    )
                await self._changed.wait()
        raise CaseFailed(f"waited {within:g}s for {what}; nothing came" + self._unexpected())

    def _unexpected(self) -> str:
        extra = [r.message for r in self.inbox if "method" not in r.message]
        return f" (got instead: {json.dumps(extra[0])[:160]})" if extra else ""

    async def response(
        self, msg_id: RequestId | None, what: str, within: float = WAIT_S
    ) -> dict[str, Any]:
        """The child's response to request ``msg_id`` (``None``: an error with ``id: null``)."""
        return await self.take(
            lambda m: (
                "method" not in m and m.get("id") == msg_id and ("result" in m or "error" in m)
            ),
            what,
            within,
        )

    async def result(self, msg_id: RequestId, what: str, within: float = WAIT_S) -> Any:
        """The result of request ``msg_id``; fails on an error answer."""
        answer = await self.response(msg_id, what, within)
        if "error" in answer:
            error = answer["error"]
            raise CaseFailed(
                f"{what}: expected a result, got error {error.get('code')}: {error.get('message')}"
            )
        return answer["result"]

    async def error(
        self, msg_id: RequestId | None, code: int, what: str, within: float = WAIT_S
    ) -> dict[str, Any]:
        """The error answer to ``msg_id``; fails unless it has ``code``."""
        answer = await self.response(msg_id, what, within)
        error = answer.get("error")
        if not isinstance(error, dict):
            raise CaseFailed(
                f"{what}: expected error {code},"
                f" got result {json.dumps(answer.get('result'))[:120]}"
            )
        if error.get("code") != code:
            raise CaseFailed(
                f"{what}: expected error {code}, got {error.get('code')}: {error.get('message')}"
            )
        return error

    async def held_request(self, method: str, what: str, within: float = WAIT_S) -> dict[str, Any]:
        """The oldest held request for ``method``, waiting for it if need be."""
        with anyio.move_on_after(within):
            while True:
                for index, request in enumerate(self.held):
                    if request["method"] == method:
                        return self.held.pop(index)
                if self.exited:
                    raise CaseFailed(f"the child exited before {what}" + self.stderr_tail())
                await self._changed.wait()
        raise CaseFailed(f"waited {within:g}s for {what}; nothing came")

    async def quiet(self, what: str) -> None:
        """Nothing answered ``what``: a ping sent after it is answered first.

        Lines are read in order, so an answer to ``what`` would come before the
        answer to the ping."""
        ping = await self.request("ping", {})
        await self.result(ping, f"the answer to a ping sent after {what}")
        stray = [r.message for r in self.inbox if "method" not in r.message]
        if stray:
            self.inbox = [r for r in self.inbox if "method" in r.message]
            raise CaseFailed(f"{what} was answered: {json.dumps(stray[0])[:160]}")
