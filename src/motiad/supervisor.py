"""One child process: spawn → initialize → serve → restart → staged stop.

A child that exits, misses its heartbeats, closes its stdout or ignores a
``$/cancel`` is restarted with exponential backoff; the invocations it had in
flight fail as retryable so the queue delivers them again. A crash loop is
reported, never spun (ARCHITECTURE §2). Every wait on the child is bounded, so no
child, however broken, can hang the broker (SPEC §4, §7).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from anyio.abc import Process, TaskStatus

from .config import LOG_RECORDS_PER_S
from .errors import ChildError, MotiadError, RemoteError
from .protocol import ErrorCode, InvalidParams, decode_params
from .protocol.messages import (
    DEFAULT_MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    CancelParams,
    Empty,
    ErrorInfo,
    InitializeParams,
    InitializeResult,
    InvokeParams,
    TitleParams,
)
from .rpc import FloodGate, Later, Method, RpcPeer
from .runners import ChildCommand
from .tracing import LogBus
from .transport import BatchingLineSender, read_lines

INITIALIZE_TIMEOUT_S = 60.0
"""Loading step files may compile TypeScript (tsx) or import heavy libraries."""
CANCEL_GRACE_S = 5.0
"""After ``$/cancel``, how long a child may take to answer before it is restarted
(SPEC ``invoke.timeout``): long enough for a handler to unwind, short enough
that a stuck child does not hold its queue for long."""
PING_INTERVAL_S = 5.0
PING_TIMEOUT_S = 5.0
PING_MISSES = 3
"""A child that misses this many consecutive pings is hung (SPEC ``lifecycle.ping``)."""
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 30.0
"""A child that ran this long before exiting is restarted without backoff."""
STOP_STEP_S = 3.0
"""Each stage of a stop (shutdown request, stdin EOF, SIGTERM) gets this long."""
CRASH_LOOP_AFTER = 5
"""Failed starts in a row after which each restart is reported as a crash loop."""
STDERR_TAIL = 20
STDERR_MAX_LINE = 64 * 1024
"""Longer stderr lines are dropped (and counted): logs are for people."""
STDERR_LINES_PER_WINDOW = 1000
STDERR_WINDOW_S = 10.0
"""A child may log this many stderr lines per window; the rest are counted and
reported, so a child flooding stderr cannot flood the broker's log."""
LOG_WINDOW_S = 1.0
"""The window of the ``log`` record limit: ``[handler] max_log_records_per_s`` is
per second."""


@dataclass(frozen=True, slots=True)
class ChildTimings:
    """Every bound on waiting for a child. The defaults are the broker's; tests
    and ``motiad conformance`` use shorter ones to finish quickly."""

    initialize_s: float = INITIALIZE_TIMEOUT_S
    cancel_grace_s: float = CANCEL_GRACE_S
    ping_interval_s: float = PING_INTERVAL_S
    ping_timeout_s: float = PING_TIMEOUT_S
    ping_misses: int = PING_MISSES
    backoff_initial_s: float = BACKOFF_INITIAL_S
    backoff_max_s: float = BACKOFF_MAX_S
    stable_after_s: float = STABLE_AFTER_S
    stop_step_s: float = STOP_STEP_S


class ChildStopping(ChildError):
    """The child stops (``motiad dev`` replaced it, or the broker is stopping):
    the invocation was never sent to it, so running it elsewhere is safe."""


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
    timings: ChildTimings = ChildTimings()
    stream_files: list[str] = field(default_factory=list)
    """Absolute paths of the stream definition files it loads (``initialize.streams``)."""
    stream_auth: str | None = None
    """Absolute path of the ``motia.config.ts`` whose ``authenticateStream`` it
    loads (``initialize.streamAuth``)."""
    log_records_per_s: int = LOG_RECORDS_PER_S
    """``log`` notifications handled per second; the rest are counted and reported."""


class Child:
    """A supervised child hosting one or more step files."""

    def __init__(
        self,
        spec: ChildSpec,
        *,
        methods: Mapping[str, Method],
        notifications: Mapping[str, Method],
        logs: LogBus,
        spare: Process | None = None,
    ) -> None:
        self.spec = spec
        self._spare = spare
        """A process already started from ``spec.command`` and waiting for its
        ``initialize`` (``motiad dev``'s warm spare): the first start uses it."""
        self.name = spec.label
        """How log records and listings name it: the file, until its
        ``initialize`` result names the steps it hosts (``Hello``, or
        ``node [Hello, Orders, +18]`` for a shared child)."""
        self._methods = methods
        self._notifications = notifications
        self._logs = logs
        self._peer: RpcPeer | None = None
        self._process: Process | None = None
        self._ready = anyio.Event()
        self._stop_requested = anyio.Event()
        self._stopping = False
        self._serving_once = False
        self._stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._timings = spec.timings
        self.restarts = 0
        """How many times the child was started again after the first start."""
        self.pid: int | None = None
        """The process id of the running child, if any."""

    @property
    def returncode(self) -> int | None:
        """The exit status of the last process (``None`` while it runs, or before any)."""
        return self._process.returncode if self._process is not None else None

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
        timings = self._timings
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
            stable = time.monotonic() - started > timings.stable_after_s
            failures = 0 if stable else failures + 1
            delay = (
                min(timings.backoff_max_s, timings.backoff_initial_s * 2 ** (failures - 1))
                if failures
                else 0
            )
            if failures >= CRASH_LOOP_AFTER:
                self._problem(
                    f"crash loop: {failures} failed starts in a row; next try in {delay:.1f}s"
                )
            else:
                self._problem(f"restarting the child in {delay:.1f}s")
            self.restarts += 1
            with anyio.move_on_after(delay):
                await self._stop_requested.wait()  # a stop ends the backoff at once

    async def _run_once(self, task_status: TaskStatus[InitializeResult] | None) -> None:
        command = self.spec.command
        spare, self._spare = self._spare, None
        try:
            process = spare or await spawn(command)
        except OSError as exc:
            raise ChildError(f"{self.spec.label}: cannot start {command.argv[0]}: {exc}") from exc
        self._process = process
        self.pid = process.pid
        assert process.stdin
        assert process.stdout
        assert process.stderr
        sender = BatchingLineSender(process.stdin)
        logs = FloodGate(self.spec.log_records_per_s, LOG_WINDOW_S, "log records", self._problem)
        peer = RpcPeer(
            sender,
            methods=self._methods,
            notifications=self._limit_logs(logs),
            on_problem=self._problem,
            max_line_bytes=self.spec.max_line_bytes,
        )
        failure: ChildError | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sender.run)
                tg.start_soon(self._pump_stderr, process)
                tg.start_soon(self._serve, peer, process, tg)
                try:
                    result = await self._initialize(peer, process)
                except ChildError as exc:
                    failure = exc
                    tg.cancel_scope.cancel()
                else:
                    self.name = _hosted_name(result) or self.spec.label
                    tg.start_soon(self._send_title, peer, result)
                    self._peer = peer
                    self._ready.set()
                    if task_status is not None:
                        task_status.started(result)
                        self._serving_once = True
                    tg.start_soon(self._heartbeat, peer, process)
                    await process.wait()
                    tg.cancel_scope.cancel()
        finally:
            logs.close()
            self._not_ready()
            self.pid = None
            peer.close(ChildError(f"{self.spec.label}: child exited (code {process.returncode})"))
            with anyio.CancelScope(shield=True):
                await self._reap(process)
        if failure is not None:
            raise failure
        if not self._stopping:
            tail = "\n".join(self._stderr_tail)
            raise ChildError(
                f"{self.spec.label}: child {_exit_status(process.returncode)}"
                + (f"; last stderr lines:\n{tail}" if tail else "")
            )

    async def _initialize(self, peer: RpcPeer, process: Process) -> InitializeResult:
        params = InitializeParams(
            PROTOCOL_VERSION,
            str(self.spec.command.cwd),
            self.spec.files,
            self.spec.max_line_bytes,
            self.spec.stream_files or msgspec.UNSET,
            self.spec.stream_auth or msgspec.UNSET,
        )
        label, limit = self.spec.label, self._timings.initialize_s
        with anyio.move_on_after(limit):
            try:
                raw = await peer.request("initialize", params)
                result = decode_params(raw, InitializeResult, where="$.result")
            except RemoteError as exc:
                raise ChildError(
                    f"{label}: initialize failed: {exc.message} (code {exc.code})"
                ) from None
            except ChildError:
                with anyio.move_on_after(self._timings.stop_step_s):
                    await process.wait()
                tail = "\n".join(self._stderr_tail)
                raise ChildError(
                    f"{label}: child {_exit_status(process.returncode)} before answering"
                    " initialize" + (f"; its stderr:\n{tail}" if tail else "")
                ) from None
            except InvalidParams as exc:
                raise ChildError(
                    f"{label}: bad initialize result: {exc.message} at {exc.path}"
                ) from None
            except MotiadError as exc:
                raise ChildError(f"{label}: bad initialize result: {exc}") from None
            if _major(result.protocol_version) != _major(PROTOCOL_VERSION):
                raise ChildError(
                    f"{label}: protocol version mismatch: broker speaks"
                    f" {PROTOCOL_VERSION}, child ({result.sdk.name})"
                    f" speaks {result.protocol_version}"
                )
            _check_entries(label, self.spec, result)
            return result
        raise ChildError(f"{label}: no answer to initialize within {limit:g}s")

    async def _send_title(self, peer: RpcPeer, result: InitializeResult) -> None:
        """Tell the child its process title (SPEC ``lifecycle.title``), so ``ps``
        names the steps each child hosts. A child that never reads it is stopped
        by its other failures; this waits for nobody."""
        title = process_title(result, argument_room(self.spec.command.argv))
        with contextlib.suppress(MotiadError):
            await peer.notify("$/title", TitleParams(title))

    async def _serve(self, peer: RpcPeer, process: Process, tg: anyio.abc.TaskGroup) -> None:
        assert process.stdout
        await peer.serve(read_lines(process.stdout, self.spec.max_line_bytes), tg)
        if self._peer is peer:  # new invocations wait for the restart instead
            self._not_ready()
        peer.close(ChildError(f"{self.spec.label}: child closed its stdout"))
        # A child without stdout can answer nothing: it should be exiting. One
        # that lingers is stopped (end of input first), so it gets restarted.
        with anyio.move_on_after(self._timings.stop_step_s):
            await process.wait()
            return
        if not self._stopping:
            self._problem("child closed its stdout but kept running; stopping it")
        await self._terminate(process)

    async def _pump_stderr(self, process: Process) -> None:
        assert process.stderr
        gate = FloodGate(STDERR_LINES_PER_WINDOW, STDERR_WINDOW_S, "stderr lines", self._problem)
        try:
            async for line in read_lines(process.stderr, STDERR_MAX_LINE):
                text = (
                    f"<stderr line of {line.size} bytes dropped: over {STDERR_MAX_LINE} bytes>"
                    if not isinstance(line, bytes)
                    else line.decode("utf-8", "replace").rstrip()
                )
                if not text:
                    continue
                self._stderr_tail.append(text)
                if gate.admit():
                    self._logs.log("info", text, step=self.name)
        finally:
            gate.close()

    def _limit_logs(self, gate: FloodGate) -> Mapping[str, Method]:
        """The notifications, with ``log`` records past the child's limit counted
        and reported instead of handled (SPEC §8: a child flooding ``log`` cannot
        flood the broker's log or its storage)."""
        log = self._notifications.get("log")
        if log is None:
            return self._notifications

        async def limited(params: Any) -> None:
            if gate.admit():
                outcome = log.handler(params)
                assert not isinstance(outcome, Later), "a notification is not answered"
                await outcome

        return {**self._notifications, "log": Method(log.params, limited)}

    async def _heartbeat(self, peer: RpcPeer, process: Process) -> None:
        timings = self._timings
        misses = 0
        while True:
            await anyio.sleep(timings.ping_interval_s)
            with anyio.move_on_after(timings.ping_timeout_s) as scope:
                try:
                    await peer.request("ping", Empty())
                except RemoteError as exc:
                    self._problem(f"ping answered with an error: {exc}")
                except MotiadError:
                    return  # the connection is closing; its reader reports why
            misses = misses + 1 if scope.cancelled_caught else 0
            if misses >= timings.ping_misses:
                self._problem(
                    f"no answer to {misses} pings in a row (each waited"
                    f" {timings.ping_timeout_s:g}s); killing the hung child"
                )
                self._kill(process)
                return

    # --- invoking -----------------------------------------------------------

    async def invoke(self, params: InvokeParams) -> msgspec.Raw | None:
        """Run one handler; returns its raw result.

        Raises :class:`RemoteError` (the handler failed), :class:`InvocationTimeout`
        or :class:`ChildError` (the child died or was restarted).
        """
        # Hot path: no cancel scope per invocation. The deadline is a timer on
        # the pending request (PendingRequest.wait_for); only a send that must
        # wait for room (a child that stopped reading its stdin) is bounded by
        # a scope, since the send is inside the budget too.
        if self._stopping:  # never sent to a child that stops: it may not run it
            raise ChildStopping(f"{self.spec.label}: child is stopping")
        peer = self._peer if self._peer is not None else await self._wait_ready()
        process = self._process
        budget = params.timeout_ms / 1000 if params.timeout_ms is not None else math.inf
        deadline = time.monotonic() + budget
        pending = None
        try:
            if peer.can_send_now:
                pending = await peer.open_request("invoke", params)
            else:
                with anyio.move_on_after(budget):
                    pending = await peer.open_request("invoke", params)
            if pending is not None and await pending.wait_for(deadline - time.monotonic()):
                try:
                    return await pending.wait()
                except RemoteError as exc:
                    if exc.code != ErrorCode.TIMED_OUT:
                        raise
                    # The child enforced the budget itself (SPEC invoke.timeout):
                    # the same failure as the broker's own timer.
                    raise InvocationTimeout(
                        f"{self.spec.label}: handler timed out after {budget:g}s"
                    ) from None
            grace = self._timings.cancel_grace_s
            answered = False
            with anyio.move_on_after(grace):
                if pending is not None:
                    with contextlib.suppress(ChildError):
                        await peer.notify("$/cancel", CancelParams(pending.id))
                    await pending.wait_for(math.inf)
                    answered = True
            if not answered and process is not None and process.returncode is None:
                self._problem(
                    f"{params.invocation_id}: no answer {grace:g}s after $/cancel (timeout"
                    f" {budget:g}s); killing the child"
                )
                self._kill(process)
                # Until the restart, nothing may be sent to the dying process:
                # a retry of this very event would be lost with it.
                if self._process is process:
                    self._not_ready()
            raise InvocationTimeout(f"{self.spec.label}: handler timed out after {budget:g}s")
        finally:
            if pending is not None:
                peer.forget(pending)

    def _not_ready(self) -> None:
        """No peer to invoke until the next start. Waiters on a pending event keep
        it (a fresh one would orphan them); a set one is replaced."""
        self._peer = None
        if self._ready.is_set():
            self._ready = anyio.Event()

    async def _wait_ready(self) -> RpcPeer:
        timings = self._timings
        with anyio.move_on_after(timings.initialize_s + timings.backoff_max_s):
            while self._peer is None:
                if self._stopping:
                    raise ChildStopping(f"{self.spec.label}: child is stopping")
                await self._ready.wait()
            return self._peer
        raise ChildError(f"{self.spec.label}: child is not running")

    # --- stopping -----------------------------------------------------------

    async def stop(self, *, now: bool = False) -> None:
        """Staged stop: ``shutdown`` → close stdin → SIGTERM → SIGKILL the group.
        ``now`` (a person asked twice): SIGKILL the group at once; what ran in
        it is delivered again at the next start."""
        self._stopping = True
        self._stop_requested.set()
        self._ready.set()  # wake invokers waiting for a restart that will not come
        process, peer = self._process, self._peer
        if process is None or process.returncode is not None:
            return
        if now:
            _signal_group(process, signal.SIGKILL)
            with anyio.move_on_after(self._timings.stop_step_s):
                await process.wait()
            return
        if peer is not None:
            with anyio.move_on_after(self._timings.stop_step_s):
                with contextlib.suppress(MotiadError):
                    await peer.request("shutdown", Empty())
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
            with anyio.move_on_after(self._timings.stop_step_s):
                await process.wait()
                break
        else:
            await process.wait()

    async def _reap(self, process: Process) -> None:
        """Terminate the child and release its pipes (once nothing reads them).

        What the child wrote and nobody read is drained to end of file first:
        a pipe whose reader paused (the broker stopped reading a flooding
        child) only closes once it has seen its end. What the child started
        and left running (its process group) is ended with it: it holds the
        child's pipes, which would otherwise stay open past the broker's
        event loop (SPEC ``lifecycle.stop``)."""
        await self._terminate(process)
        _signal_group(process, signal.SIGKILL)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                with anyio.move_on_after(self._timings.stop_step_s):
                    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                        async for _ in stream:
                            pass
                await stream.aclose()

    def _kill(self, process: Process) -> None:
        """SIGKILL the child's group. New invocations wait for the restart from
        now on: one sent before its exit is seen would fail for nothing (a
        retry with no backoff would be spent on the dying child)."""
        if self._process is process:
            self._not_ready()
        _signal_group(process, signal.SIGKILL)

    def _problem(self, message: str) -> None:
        self._logs.log("error", message, step=self.name)


async def spawn(command: ChildCommand) -> Process:
    """Start a child's process (SPEC ``runner.command``): cwd the project, pipes,
    a session of its own so that its whole group can be signalled."""
    return await anyio.open_process(
        command.argv, cwd=command.cwd, env=command.env, start_new_session=True
    )


async def discard(process: Process) -> None:
    """End a process that never served (a spare nobody took): its group is
    killed, its pipes closed."""
    _signal_group(process, signal.SIGKILL)
    with anyio.CancelScope(shield=True):
        await process.wait()
        await process.aclose()


def _signal_group(process: Process, sig: signal.Signals) -> None:
    """Signal the child's whole process group (it leads one: start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _major(version: str) -> int:
    """The major of a ``MAJOR.MINOR`` version, as a number: ``"01.0"`` is 1 (SPEC
    ``lifecycle.version``; the Struct's pattern has checked the shape)."""
    return int(version.split(".", 1)[0])


def _exit_status(code: int | None) -> str:
    """How a child ended, for people: ``exited with code 3``, ``was killed by SIGKILL``."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _check_entries(label: str, spec: ChildSpec, result: InitializeResult) -> None:
    """SPEC ``lifecycle.initialize``: one entry per path sent, in order, each
    with a config or an error; the same for ``streams`` (``lifecycle.streams``)
    when the child loads stream files at all (one that does not omits the field)."""
    lists = [("steps", "step file", spec.files, result.steps)]
    if not isinstance(result.streams, msgspec.UnsetType):
        lists.append(("streams", "stream file", spec.stream_files, result.streams))
    auth = result.stream_auth
    if not isinstance(auth, msgspec.UnsetType):
        lists.append(("streamAuth", "stream auth file", [spec.stream_auth or ""], [auth]))
    for key, kind, files, entries in lists:
        paths = [entry.path for entry in entries]
        if paths != files:
            raise ChildError(
                f"{label}: bad initialize result: the {key} entries name {paths!r}, expected"
                f" one per {kind} in order: {files!r}"
            )
        for index, entry in enumerate(entries):
            if entry.config is None and entry.error is None:
                raise ChildError(
                    f'{label}: bad initialize result: $.result.{key}[{index}] needs "config"'
                    ' or "error"'
                )
            if key != "steps" and entry.config is not None and entry.error is not None:
                # only a step entry may carry the config it read beside its error
                raise ChildError(
                    f"{label}: bad initialize result: $.result.{key}[{index}] needs exactly"
                    ' one of "config" and "error"'
                )


NOT_RETRYABLE_CODES = frozenset(
    {
        ErrorCode.PARSE_ERROR,  # an answer the child could not write as UTF-8 JSON
        ErrorCode.METHOD_NOT_FOUND,
        ErrorCode.INVALID_PARAMS,
        ErrorCode.LINE_TOO_LONG,
    }
)
"""Invoke errors that would come back the same on a retry (SPEC §5)."""


NAMES_SHOWN = 2
"""Steps a shared child's name lists before ``+N``: enough to tell children apart."""
TITLE_PREFIX = "motiad: "
"""What a child's process title starts with, so ``ps`` and ``pgrep -f motiad:`` find them."""


def _hosted_steps(result: InitializeResult) -> list[str]:
    """The names of the steps a child hosts, as their loaded configs give them."""
    return [
        name
        for entry in result.steps
        if entry.config and not entry.error and isinstance(name := entry.config.get("name"), str)
    ]


def _listed(language: str, names: list[str], shown: int) -> str:
    """``node [Hello, Orders, +18]``: the language and the first ``shown`` names."""
    parts = names[:shown] + ([f"+{len(names) - shown}"] if len(names) > shown else [])
    return f"{language} [{', '.join(parts)}]" if parts else language


def _hosted_name(result: InitializeResult) -> str | None:
    """How to name a child by the steps it hosts: the step's name, or its
    language and the first few names."""
    names = _hosted_steps(result)
    if len(names) <= 1:
        return names[0] if names else None
    return _listed(result.sdk.language, names, NAMES_SHOWN)


def argument_room(argv: list[str]) -> int:
    """The bytes a process title may take in a child started with ``argv``:
    the kernel lays its arguments out end to end, each followed by a NUL, and
    a title written over them keeps the last NUL (SPEC ``lifecycle.title``)."""
    return sum(len(os.fsencode(arg)) + 1 for arg in argv) - 1


def process_title(result: InitializeResult, room: int) -> str:
    """The child's process title, ``motiad: node [Hello, Orders, +18]`` (the
    name logs use, with its language always): fewer names, then only ``+N``,
    when it would not fit ``room`` bytes; cut at ``room`` as the last resort."""
    names = _hosted_steps(result)
    title = TITLE_PREFIX + result.sdk.language
    for shown in range(min(NAMES_SHOWN, len(names)), -1, -1):
        title = TITLE_PREFIX + _listed(result.sdk.language, names, shown)
        if len(title.encode()) <= room:
            return title
    return title.encode()[:room].decode(errors="ignore")


def handler_error(exc: RemoteError) -> ErrorInfo:
    """The ErrorInfo of a failed invocation: a handler failure's own (a
    malformed one kept as text), else one made from the error code."""
    if exc.code == ErrorCode.HANDLER_FAILED:
        try:
            return msgspec.convert(exc.data, ErrorInfo)
        except msgspec.ValidationError:
            return ErrorInfo("Error", exc.message)
    try:
        name = ErrorCode(exc.code).name
    except ValueError:
        name = f"ERROR_{exc.code}"
    kind = "".join(part.capitalize() for part in name.split("_"))
    return ErrorInfo(kind, exc.message, retryable=exc.code not in NOT_RETRYABLE_CODES)
