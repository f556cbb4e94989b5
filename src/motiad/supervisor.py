"""One child process: spawn → initialize → serve → restart → staged stop.

A child that exits, or misses its heartbeats, is restarted with exponential
backoff; the invocations it had in flight fail as retryable so the queue
delivers them again. A crash loop is reported, never spun (DESIGN §2).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import anyio
import msgspec
from anyio.abc import Process, TaskStatus

from .errors import ChildError, MotiadError, RemoteError
from .protocol import decode_params
from .protocol.messages import (
    DEFAULT_MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    CancelParams,
    ErrorInfo,
    InitializeParams,
    InitializeResult,
    InvokeParams,
)
from .rpc import Method, RpcPeer
from .runners import ChildCommand
from .tracing import LogBus
from .transport import LineSender, read_lines

INITIALIZE_TIMEOUT_S = 60.0
"""Loading step files may compile TypeScript (tsx) or import heavy libraries."""
CANCEL_GRACE_S = 5.0
"""After ``$/cancel``, how long a child may take to answer before it is restarted."""
PING_INTERVAL_S = 5.0
PING_MISSES = 3
"""A child that misses this many consecutive pings is hung (SPEC ``lifecycle.ping``)."""
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 30.0
"""A child that ran this long before exiting is restarted without backoff."""
STOP_STEP_S = 3.0
"""Each stage of a stop (shutdown request, stdin EOF, SIGTERM) gets this long."""
STDERR_TAIL = 20


class InvocationTimeout(MotiadError):
    """The handler did not finish within its timeout."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """What to run and what it hosts."""

    label: str
    """How logs name this child, e.g. ``steps/send.step.ts``."""
    command: ChildCommand
    files: list[str]
    """Absolute paths of the step files it loads."""
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


class Child:
    """A supervised child hosting one or more step files."""

    def __init__(
        self,
        spec: ChildSpec,
        *,
        methods: Mapping[str, Method],
        notifications: Mapping[str, Method],
        logs: LogBus,
    ) -> None:
        self.spec = spec
        self.name = spec.label
        """How log records name it: the file until the broker knows the step's name."""
        self._methods = methods
        self._notifications = notifications
        self._logs = logs
        self._peer: RpcPeer | None = None
        self._process: Process | None = None
        self._ready = anyio.Event()
        self._stopping = False
        self._serving_once = False
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.restarts = 0

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: exits are then expected."""
        return self._stopping

    # --- running ------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[InitializeResult]) -> None:
        """Start the child and keep it running until :meth:`stop`.

        ``task_status`` gets the first :class:`InitializeResult`; a first start
        that fails raises :class:`ChildError` to the caller of ``tg.start``.
        """
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._run_once(None if self._serving_once else task_status)
            except ChildError as exc:
                if not self._serving_once:
                    raise
                self._problem(str(exc))
            if self.stopping:
                return
            failures = 0 if time.monotonic() - started > STABLE_AFTER_S else failures + 1
            delay = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** (failures - 1)) if failures else 0
            if failures >= 5:
                self._problem(
                    f"crash loop: {failures} failed starts in a row; next try in {delay:.0f}s"
                )
            self.restarts += 1
            await anyio.sleep(delay)

    async def _run_once(self, task_status: TaskStatus[InitializeResult] | None) -> None:
        command = self.spec.command
        try:
            process = await anyio.open_process(
                command.argv, cwd=command.cwd, env=command.env, start_new_session=True
            )
        except OSError as exc:
            raise ChildError(f"{self.spec.label}: cannot start {command.argv[0]}: {exc}") from exc
        self._process = process
        assert process.stdin
        assert process.stdout
        assert process.stderr
        peer = RpcPeer(
            LineSender(process.stdin),
            methods=self._methods,
            notifications=self._notifications,
            on_problem=self._problem,
        )
        failure: ChildError | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump_stderr, process)
                tg.start_soon(self._serve, peer, process, tg)
                try:
                    result = await self._initialize(peer, process)
                except ChildError as exc:
                    failure = exc
                    tg.cancel_scope.cancel()
                else:
                    self._peer = peer
                    self._ready.set()
                    if task_status is not None:
                        task_status.started(result)
                        self._serving_once = True
                    tg.start_soon(self._heartbeat, peer, process)
                    await process.wait()
                    tg.cancel_scope.cancel()
        finally:
            self._ready = anyio.Event()
            self._peer = None
            peer.close(ChildError(f"{self.spec.label}: child exited (code {process.returncode})"))
            with anyio.CancelScope(shield=True):
                await self._reap(process)
        if failure is not None:
            raise failure
        if not self._stopping:
            tail = "\n".join(self._stderr_tail)
            raise ChildError(
                f"{self.spec.label}: child exited with code {process.returncode}"
                + (f"; last stderr lines:\n{tail}" if tail else "")
            )

    async def _initialize(self, peer: RpcPeer, process: Process) -> InitializeResult:
        params = InitializeParams(
            PROTOCOL_VERSION, str(self.spec.command.cwd), self.spec.files, self.spec.max_line_bytes
        )
        with anyio.move_on_after(INITIALIZE_TIMEOUT_S):
            try:
                raw = await peer.request("initialize", params)
                result = decode_params(raw, InitializeResult, where="$.result")
            except RemoteError as exc:
                raise ChildError(f"{self.spec.label}: initialize failed: {exc.message}") from None
            except ChildError:
                await process.wait()
                tail = "\n".join(self._stderr_tail)
                raise ChildError(
                    f"{self.spec.label}: child exited with code {process.returncode}"
                    " before answering initialize" + (f"; its stderr:\n{tail}" if tail else "")
                ) from None
            except MotiadError as exc:
                raise ChildError(f"{self.spec.label}: bad initialize result: {exc}") from None
            major = result.protocol_version.split(".")[0]
            if major != PROTOCOL_VERSION.split(".")[0]:
                raise ChildError(
                    f"{self.spec.label}: protocol version mismatch: broker speaks"
                    f" {PROTOCOL_VERSION}, child ({result.sdk.name})"
                    f" speaks {result.protocol_version}"
                )
            return result
        raise ChildError(
            f"{self.spec.label}: no answer to initialize within {INITIALIZE_TIMEOUT_S:.0f}s"
        )

    async def _serve(self, peer: RpcPeer, process: Process, tg: anyio.abc.TaskGroup) -> None:
        assert process.stdout
        await peer.serve(read_lines(process.stdout, self.spec.max_line_bytes), tg)
        # stdout closed: the child is exiting; make it so if it lingers
        peer.close(ChildError(f"{self.spec.label}: child closed its stdout"))

    async def _pump_stderr(self, process: Process) -> None:
        assert process.stderr
        async for line in read_lines(process.stderr, 64 * 1024):
            text = (
                f"<{line.size} bytes of stderr dropped>"
                if not isinstance(line, bytes)
                else line.decode("utf-8", "replace").rstrip()
            )
            if text:
                self._stderr_tail.append(text)
                self._logs.log("info", text, step=self.name)

    async def _heartbeat(self, peer: RpcPeer, process: Process) -> None:
        misses = 0
        while True:
            await anyio.sleep(PING_INTERVAL_S)
            with anyio.move_on_after(PING_INTERVAL_S) as scope:
                try:
                    await peer.request("ping", {})
                except MotiadError:
                    return
            misses = misses + 1 if scope.cancelled_caught else 0
            if misses >= PING_MISSES:
                self._problem(f"no answer to {misses} pings; restarting the hung child")
                self._kill(process)
                return

    # --- invoking -----------------------------------------------------------

    async def invoke(self, params: InvokeParams) -> msgspec.Raw | None:
        """Run one handler; returns its raw result.

        Raises :class:`RemoteError` (the handler failed), :class:`InvocationTimeout`
        or :class:`ChildError` (the child died or was restarted).
        """
        peer = await self._wait_ready()
        pending = await peer.open_request("invoke", params)
        try:
            with anyio.move_on_after(params.timeout_ms / 1000):
                return await pending.wait()
            await peer.notify("$/cancel", CancelParams(pending.id))
            with anyio.move_on_after(CANCEL_GRACE_S) as grace:
                with contextlib.suppress(RemoteError):
                    await pending.wait()
            if grace.cancelled_caught and self._process is not None:
                self._problem(
                    f"{params.invocation_id}: handler ignored $/cancel for {CANCEL_GRACE_S:.0f}s;"
                    " restarting the child"
                )
                self._kill(self._process)
            raise InvocationTimeout(
                f"{self.spec.label}: handler timed out after {params.timeout_ms / 1000:g}s"
            )
        finally:
            peer.forget(pending)

    async def _wait_ready(self) -> RpcPeer:
        with anyio.move_on_after(INITIALIZE_TIMEOUT_S + BACKOFF_MAX_S):
            while self._peer is None:
                if self._stopping:
                    raise ChildError(f"{self.spec.label}: child is stopping")
                await self._ready.wait()
            return self._peer
        raise ChildError(f"{self.spec.label}: child is not running")

    # --- stopping -----------------------------------------------------------

    async def stop(self) -> None:
        """Staged stop: ``shutdown`` → close stdin → SIGTERM → SIGKILL the group."""
        self._stopping = True
        self._ready.set()  # wake invokers waiting for a restart that will not come
        process, peer = self._process, self._peer
        if process is None or process.returncode is not None:
            return
        if peer is not None:
            with anyio.move_on_after(STOP_STEP_S):
                with contextlib.suppress(MotiadError):
                    await peer.request("shutdown", {})
        await self._terminate(process)

    async def _terminate(self, process: Process) -> None:
        """Close stdin, then SIGTERM, then SIGKILL the group, until it exits.

        Leaves stdout and stderr to their readers, which end at EOF."""
        if process.returncode is None and process.stdin is not None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await process.stdin.aclose()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                _signal_group(process, sig)
            with anyio.move_on_after(STOP_STEP_S):
                await process.wait()
                break
        else:
            await process.wait()

    async def _reap(self, process: Process) -> None:
        """Terminate the child and release its pipes (once nothing reads them)."""
        await self._terminate(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                await stream.aclose()

    def _kill(self, process: Process) -> None:
        _signal_group(process, signal.SIGKILL)

    def _problem(self, message: str) -> None:
        self._logs.log("error", message, step=self.name)


def _signal_group(process: Process, sig: signal.Signals) -> None:
    """Signal the child's whole process group (it leads one: start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def handler_error(exc: RemoteError) -> ErrorInfo:
    """The ErrorInfo carried by a handler failure; a malformed one is kept as text."""
    try:
        return msgspec.convert(exc.data, ErrorInfo)
    except msgspec.ValidationError:
        return ErrorInfo("Error", exc.message)
