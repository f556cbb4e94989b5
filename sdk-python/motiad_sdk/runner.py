"""The child's main loop: read lines, serve the broker's requests, run handlers.

One reader task turns stdin into lines and dispatches them without awaiting
anything slow, so pings and the broker's answers to context calls are always
read while handlers run (SPEC `rpc.concurrent`). Each invocation is its own
task; its answer is sent from the task's done-callback, so it is sent exactly
once whatever ends it: a result, an exception, a timeout or a ``$/cancel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import os
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .context import Channel, Context
from .errors import error_info
from .framing import LineReader, LineSplitter, LineTooLong, LineWriter, claim_stdio
from .http_streams import BodyStream
from .loading import Step, add_import_root, load_steps, load_streams
from .middleware import Middleware, run_with_middleware
from .motia1x import CURRENT, run_stream_hook
from .motia1x import invoke as invoke_motia1x
from .protocol import (
    SDK_LANGUAGE,
    SDK_NAME,
    SDK_VERSION,
    JsonObject,
    LineTooLongError,
    RequestId,
    parse_version,
)
from .rpc import Ignored, Invalid, Notification, Peer, Request, Response, classify, report
from .tables import (
    DEFAULT_MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    SHUTDOWN_GRACE_MS,
    ErrorCode,
    Method,
)
from .title import set_title
from .values import api_request, api_response, wrap

SHUTDOWN_GRACE_S: Final = SHUTDOWN_GRACE_MS / 1000
"""How long ``shutdown`` lets running handlers finish before cancelling them
(SPEC `lifecycle.shutdown`): the broker's own stop sequence waits for in-flight
work before it gets here, so this only bounds a handler that ignores that."""

TEARDOWN_GRACE_S: Final = 1.0
"""How long cancelled tasks get to unwind at exit; a prompt exit matters more
(SPEC `lifecycle.stdin-eof`)."""

FLUSH_TIMEOUT_S: Final = 5.0
"""How long queued output may take to reach a broker that stopped reading."""

TRIGGER_TYPES: Final = ("api", "event", "cron", "streamHook")
STREAM_HOOK_KINDS: Final = ("join", "leave", "authenticate")
"""SPEC ``stream.hooks``: what a ``streamHook`` trigger runs."""


class ParamsError(Exception):
    """Request params that do not match the method's shape (SPEC `rpc.bad-params`)."""

    def __init__(self, field_path: str, expected: str) -> None:
        self.path = f"$.params.{field_path}"
        super().__init__(f"invalid params: {self.path} must be {expected}")


@dataclass(frozen=True, slots=True)
class InvokeParams:
    """The checked params of ``invoke``."""

    step: str
    trigger: JsonObject
    trigger_type: str
    input: Any
    trace_id: str
    invocation_id: str
    attempt: int
    timeout_ms: float | None
    traceparent: str | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(params: JsonObject, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str):
        raise ParamsError(name, "a string")
    return value


def parse_invoke(params: JsonObject) -> InvokeParams:
    """Check ``invoke`` params field by field; the first bad one raises :class:`ParamsError`."""
    step = _string(params, "step")
    trigger = params.get("trigger")
    if not isinstance(trigger, dict):
        raise ParamsError("trigger", "an object")
    trigger_type = trigger.get("type")
    if trigger_type not in TRIGGER_TYPES:
        raise ParamsError("trigger.type", 'one of "api", "event", "cron", "streamHook"')
    if trigger_type == "streamHook" and trigger.get("hook") not in STREAM_HOOK_KINDS:
        raise ParamsError("trigger.hook", 'one of "join", "leave", "authenticate"')
    index = trigger.get("index")  # SPEC `invoke.trigger-index`
    if index is not None and (not _is_int(index) or index < 0):
        raise ParamsError("trigger.index", "an integer >= 0")
    if trigger_type == "event":
        for name in ("topic", "eventId"):
            if not isinstance(trigger.get(name), str):
                raise ParamsError(f"trigger.{name}", "a string")
        group = trigger.get("messageGroupId")
        if group is not None and not isinstance(group, str):
            raise ParamsError("trigger.messageGroupId", "a string or null")
    if trigger_type == "api":
        refusal = trigger.get("refusal")
        is_response = isinstance(refusal, dict) and _is_int(refusal.get("status"))
        if refusal is not None and not is_response:
            raise ParamsError("trigger.refusal", "a response object with an integer status")
    if "input" not in params:
        raise ParamsError("input", "present (null for cron)")
    trace_id = _string(params, "traceId")
    invocation_id = _string(params, "invocationId")
    attempt = params.get("attempt", 1)
    if not _is_int(attempt) or attempt < 1:
        raise ParamsError("attempt", "an integer >= 1")
    timeout_ms = params.get("timeoutMs")
    if timeout_ms is not None and (
        isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or timeout_ms <= 0
    ):
        raise ParamsError("timeoutMs", "a positive number or null")
    traceparent = params.get("traceparent")
    if not isinstance(traceparent, str):
        traceparent = None  # absent (an older broker): never a reason to refuse
    return InvokeParams(
        step,
        trigger,
        trigger_type,
        params.get("input"),
        trace_id,
        invocation_id,
        attempt,
        timeout_ms,
        traceparent,
    )


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How a handler ended when it was not cancelled: a value, or an exception."""

    value: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Invocation:
    request_id: RequestId
    trigger_type: str
    task: asyncio.Task[_Outcome]
    timer: asyncio.TimerHandle | None = None
    cancel_code: ErrorCode | None = None  # set when we cancelled it; the answer's code
    cancel_message: str = ""
    answered: bool = False  # answered by its task as it returned, before the done-callback


@dataclass(slots=True)
class _Lifecycle:
    initialized: bool = False
    shutting_down: bool = False  # `shutdown` received: refuse new invocations
    stopping: bool = False  # leaving: nobody waits for answers of cancelled handlers
    background: set[asyncio.Task[None]] = field(default_factory=set)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the invocation was cancelled meanwhile; drop the late outcome
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class InvalidApiResponse(TypeError):
    """An api handler returned something other than ``{status, body?, headers?}``
    (SPEC `invoke.result`): the same code would fail the same way again."""

    retryable = False


def _shape_result(trigger_type: str, value: Any) -> Any:
    """The wire result: an api response object, a stream hook's answer, ``null``
    for event and cron."""
    if trigger_type == "streamHook":
        return value
    if trigger_type != "api":
        return None
    if not isinstance(value, Mapping) or not _is_int(value.get("status")):
        raise InvalidApiResponse(
            "an api handler must return a dict with an integer `status` "
            f"(and optional `body`, `headers`), not {value!r:.200}"
        )
    return api_response(value)


def _run_motia1x(handler: Callable[..., Any], triggers: Any, *args: Any) -> Any:
    return asyncio.run(invoke_motia1x(handler, triggers, *args))


def _run_stream_hook(
    hooks: dict[str, Callable[..., Any]], hook: str, _trigger: Any, payload: Any, trace_id: str
) -> Any:
    return asyncio.run(run_stream_hook(hooks, hook, payload, trace_id))


class Runner:
    """Serves one broker connection until ``shutdown``, end of input or a closed pipe."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = LineReader(read_fd)
        self._writer = LineWriter(write_fd, on_lost=self._stop)
        self._peer = Peer(self._writer)
        self._splitter = LineSplitter(DEFAULT_MAX_LINE_BYTES)
        self._steps: dict[str, Step] = {}
        self._stream_hooks: dict[str, dict[str, Callable[..., Any]]] = {}
        """SPEC ``stream.hooks``: each stream file's hooks, by path."""
        self._inflight: dict[RequestId, _Invocation] = {}
        self._async_handlers: dict[str, bool] = {}
        self._life = _Lifecycle()
        self._stopped = asyncio.Event()
        self._methods: dict[str, Callable[[Request], None]] = {
            Method.INITIALIZE: self._initialize,
            Method.PING: self._ping,
            Method.INVOKE: self._invoke,
            Method.SHUTDOWN: self._shutdown,
        }

    async def run(self) -> int:
        """Serve until told to stop; return the exit status."""
        await self._writer.open()
        # Each chunk is dispatched from the pipe's data callback, without a
        # reader task to wake: nothing in dispatch awaits (SPEC `rpc.concurrent`).
        # End of input means the broker is gone (SPEC `lifecycle.stdin-eof`).
        reading = await self._reader.start(self._on_chunk, self._stop)
        try:
            await self._stopped.wait()
        finally:
            await self._teardown(reading)
        return 0

    # -- reading and dispatch ---------------------------------------------

    def _on_chunk(self, chunk: bytes) -> None:
        for line in self._splitter.feed(chunk):
            self._handle_line(line)

    def _handle_line(self, line: bytes | LineTooLong) -> None:
        """Serve one line; nothing a line contains may end the reader."""
        if isinstance(line, LineTooLong):
            limit = self._splitter.max_line_bytes
            self._peer.respond_error(
                None, ErrorCode.LINE_TOO_LONG, f"line too long: over {limit} bytes, discarded"
            )
            return
        incoming = classify(line)
        try:
            if isinstance(incoming, Request):
                self._serve(incoming)
            elif isinstance(incoming, Response):
                self._peer.resolve(incoming)
            elif isinstance(incoming, Invalid):
                self._peer.respond_error(
                    incoming.id, incoming.code, incoming.message, incoming.data
                )
            elif isinstance(incoming, Ignored):
                report(f"ignored a line: {incoming.reason}")
            elif (
                isinstance(incoming, Notification)
                and incoming.method == Method.CANCEL
                and isinstance(incoming.params, dict)  # bad params: ignored (`rpc.bad-params`)
            ):
                self._cancel_by_id(incoming.params.get("id"))
            elif (
                isinstance(incoming, Notification)
                and incoming.method == Method.TITLE
                and isinstance(incoming.params, dict)
                and isinstance(title := incoming.params.get("title"), str)
            ):
                set_title(title)
            # Other notifications are ignored (SPEC `rpc.unknown-method`).
        except Exception as exc:  # a bug here must not kill the reader
            report(
                "internal error while serving a line:\n" + "".join(traceback.format_exception(exc))
            )
            if isinstance(incoming, Request):
                self._peer.respond_error(
                    incoming.id, ErrorCode.INTERNAL_ERROR, f"internal error: {exc}"
                )

    def _serve(self, request: Request) -> None:
        """Method, then params (SPEC `rpc.error-order`), then the method itself."""
        method = self._methods.get(request.method)
        if method is None:
            self._peer.respond_error(
                request.id, ErrorCode.METHOD_NOT_FOUND, f"method not found: {request.method}"
            )
            return
        if not isinstance(request.params, dict):  # SPEC `rpc.params`
            self._peer.respond_error(
                request.id,
                ErrorCode.INVALID_PARAMS,
                "invalid params: params must be an object",
                {"path": "$.params"},
            )
            return
        try:
            method(request)
        except ParamsError as exc:
            self._peer.respond_error(
                request.id, ErrorCode.INVALID_PARAMS, str(exc), {"path": exc.path}
            )

    # -- lifecycle ---------------------------------------------------------

    def _initialize(self, request: Request) -> None:
        params = request.params
        if self._life.initialized:
            self._peer.respond_error(
                request.id, ErrorCode.INVALID_REQUEST, "invalid request: already initialized"
            )
            return
        version = params.get("protocolVersion")
        parsed = parse_version(version) if isinstance(version, str) else None
        if parsed is None:
            raise ParamsError("protocolVersion", 'a "MAJOR.MINOR" string')
        ours = parse_version(PROTOCOL_VERSION)
        if ours is None or parsed[0] != ours[0]:
            self._peer.respond_error(
                request.id,
                ErrorCode.VERSION_MISMATCH,
                f"protocol version mismatch: the broker speaks {version}, "
                f"{SDK_NAME} {SDK_VERSION} speaks {PROTOCOL_VERSION}",
                {"broker": version, "child": PROTOCOL_VERSION},
            )
            return
        project = _string(params, "project")
        paths = params.get("steps")
        if not isinstance(paths, list):
            raise ParamsError("steps", "an array of paths")
        for index, path in enumerate(paths):
            if not isinstance(path, str):
                raise ParamsError(f"steps[{index}]", "a string")
        stream_paths = params.get("streams")
        if stream_paths is not None and not (
            isinstance(stream_paths, list) and all(isinstance(p, str) for p in stream_paths)
        ):
            raise ParamsError("streams", "an array of paths")
        max_line = params.get("maxLineBytes", DEFAULT_MAX_LINE_BYTES)
        if not _is_int(max_line) or max_line < 1:
            raise ParamsError("maxLineBytes", "a positive integer")
        self._splitter.max_line_bytes = self._peer.max_line_bytes = max_line
        add_import_root(project, first=True)
        for path in [*paths, *(stream_paths or [])]:
            add_import_root(os.path.dirname(path) or ".", first=False)
        self._steps, entries = load_steps(paths)
        result: JsonObject = {
            "protocolVersion": PROTOCOL_VERSION,
            "sdk": {"name": SDK_NAME, "version": SDK_VERSION, "language": SDK_LANGUAGE},
            "steps": entries,
        }
        if stream_paths is not None:  # SPEC `lifecycle.streams`
            result["streams"], self._stream_hooks = load_streams(stream_paths)
        self._life.initialized = True  # SPEC `lifecycle.initialize.once`: a -32005 answer counts
        try:
            self._peer.respond(request.id, result)
        except LineTooLongError as exc:  # SPEC `framing.max-line.send`
            self._peer.respond_error(
                request.id, ErrorCode.LINE_TOO_LONG, f"initialize result too long: {exc}"
            )

    def _ping(self, request: Request) -> None:
        self._peer.respond(request.id, {})

    def _shutdown(self, request: Request) -> None:
        self._life.shutting_down = True
        task = self._loop.create_task(self._drain_then_stop(request.id), name="motiad-sdk shutdown")
        self._life.background.add(task)
        task.add_done_callback(self._life.background.discard)

    async def _drain_then_stop(self, request_id: RequestId) -> None:
        """SPEC `lifecycle.shutdown`: let running handlers finish, answer, exit 0."""
        running = {invocation.task for invocation in self._inflight.values()}
        if running:
            _, late = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
            if late:
                for invocation in list(self._inflight.values()):
                    self._cancel(
                        invocation, ErrorCode.CANCELLED, "cancelled: the child is stopping"
                    )
                await asyncio.wait(late, timeout=TEARDOWN_GRACE_S)
        # Each finished handler answered from its done-callback, which ran before
        # asyncio.wait woke us: the broker sees those answers before this one.
        self._peer.respond(request_id, None)
        self._stop()

    def _stop(self) -> None:
        self._life.stopping = True
        self._stopped.set()

    async def _teardown(self, reading: asyncio.Task[None] | None) -> None:
        """Cancel what still runs (nobody awaits its answers), flush output, close."""
        self._reader.close()
        for invocation in list(self._inflight.values()):
            invocation.task.cancel()
        for task in self._life.background:
            task.cancel()
        self._peer.close()
        tasks: set[asyncio.Task[Any]] = set(self._life.background)
        if reading is not None:
            reading.cancel()
            tasks.add(reading)
        tasks.update(invocation.task for invocation in self._inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=TEARDOWN_GRACE_S)
        await self._writer.aclose(FLUSH_TIMEOUT_S)

    # -- invocations ---------------------------------------------------------

    def _invoke(self, request: Request) -> None:
        params = parse_invoke(request.params)  # SPEC `rpc.error-order`: params first
        if self._life.shutting_down:  # SPEC `invoke.after-shutdown`
            self._peer.respond_error(
                request.id, ErrorCode.SHUTTING_DOWN, "shutting down: invoke refused"
            )
            return
        if not self._life.initialized:  # SPEC `lifecycle.before-initialize`
            self._peer.respond_error(
                request.id, ErrorCode.INVALID_REQUEST, "invalid request: not initialized"
            )
            return
        step = self._steps.get(params.step)
        hooks = self._stream_hooks.get(params.step)
        if params.trigger_type == "streamHook" and hooks is not None:
            # A stream file's hook runs as a step would (Motia's Python API
            # blocks, so in a thread on a loop of its own, as a 1.x handler).
            hook = functools.partial(_run_stream_hook, hooks, params.trigger["hook"])
            step = Step(params.step, {}, hook)
        elif params.trigger_type == "streamHook":
            step = None
        if step is None or step.handler is None:
            reason = "a noop step has no handler" if step else "no step loaded from that path"
            self._peer.respond_error(
                request.id, ErrorCode.UNKNOWN_STEP, f"unknown step {params.step}: {reason}"
            )
            return
        if request.id in self._inflight:
            self._peer.respond_error(
                request.id, ErrorCode.INVALID_REQUEST, f"request id {request.id!r} is in flight"
            )
            return
        context = Context(
            Channel(self._peer, self._loop, params.invocation_id),
            trace_id=params.trace_id,
            trigger=params.trigger,
            attempt=params.attempt,
            traceparent=params.traceparent,
        )
        is_async = self._async_handlers.get(params.step)
        if is_async is None:  # inspect.iscoroutinefunction is not cheap: once per step
            is_async = self._async_handlers[params.step] = inspect.iscoroutinefunction(step.handler)
        # The `motia` module's enqueue, logger and stateManager act for this
        # invocation: the task (and a thread it starts) copies this context.
        bound = contextvars.copy_context()
        bound.run(CURRENT.set, context)
        if params.trigger_type == "streamHook":
            call = self._call(step.handler, False, (), params, context, request.id, motia1x=True)
        elif step.triggers is not None:
            # Motia 1.x's Python API blocks (enqueue, stateManager): the handler
            # runs on a loop of its own in a thread, so the child's loop stays free.
            handler = functools.partial(_run_motia1x, step.handler, step.triggers)
            call = self._call(handler, False, (), params, context, request.id, motia1x=True)
        else:
            call = self._call(step.handler, is_async, step.middleware, params, context, request.id)
        # create_task copies the context it is called in (``context=`` needs 3.11).
        task = bound.run(self._loop.create_task, call, name=f"invoke {params.invocation_id}")
        invocation = _Invocation(request.id, params.trigger_type, task)
        if params.timeout_ms is not None:
            invocation.timer = self._loop.call_later(
                params.timeout_ms / 1000,
                self._cancel,
                invocation,
                ErrorCode.TIMED_OUT,
                f"timed out: the handler exceeded its {params.timeout_ms} ms budget",
            )
        self._inflight[request.id] = invocation
        task.add_done_callback(functools.partial(self._finish, invocation))

    async def _call(
        self,
        handler: Callable[..., Any],
        is_async: bool,
        middleware: Sequence[Middleware],
        params: InvokeParams,
        context: Context,
        request_id: RequestId,
        *,
        motia1x: bool = False,
    ) -> _Outcome:
        """Run the handler with Motia's Python signature for the trigger type,
        inside the step's middleware for an API call; answer as it returns.

        The answer is sent here, in the task's last step, rather than from the
        done-callback one loop turn later; the callback still answers whatever
        ends the task otherwise (a cancel, a timeout), so each invocation is
        answered exactly once.
        """
        cron = params.trigger_type == "cron"
        api = params.trigger_type == "api"
        # SPEC invoke.refusal: the body failed bodySchema; the middleware still
        # runs (as in Motia), and next() gives it the broker's 400
        refusal = params.trigger.get("refusal") if api else None
        try:
            handler_input = api_request(params.input) if api else params.input
            if api and isinstance(handler_input, dict) and handler_input.get("bodyStream"):
                context.body_stream = BodyStream(context.channel)
            args: tuple[Any, ...] = (context,) if cron else (wrap(handler_input), context)
            if motia1x:  # a Motia 1.x step's own middleware meets the refusal (motia1x.invoke)
                args, refusal = (params.trigger, wrap(handler_input), params.trace_id), None
            if api and middleware:

                async def run_handler() -> Any:
                    if refusal is not None:
                        return dict(refusal)
                    return await self._run_handler(handler, is_async, args, params.invocation_id)

                value = await run_with_middleware(middleware, run_handler, args[0], context)
            elif refusal is not None:
                value = dict(refusal)
            else:
                value = await self._run_handler(handler, is_async, args, params.invocation_id)
        except (Exception, SystemExit) as exc:  # SystemExit: a handler calling exit()
            outcome = _Outcome(error=exc)
        else:
            outcome = _Outcome(value=value)
        # Registered before this task first ran; unique among those in flight.
        invocation = self._inflight.get(request_id)
        if invocation is not None and invocation.cancel_code is None:
            invocation.answered = True
            self._answer(request_id, invocation.trigger_type, outcome)
        return outcome

    async def _run_handler(
        self, handler: Callable[..., Any], is_async: bool, args: tuple[Any, ...], invocation_id: str
    ) -> Any:
        if is_async:
            value = await handler(*args)
        else:
            value = await self._in_thread(handler, args, invocation_id)
        if inspect.isawaitable(value):  # a sync wrapper around an async function
            value = await value
        return value

    async def _in_thread(
        self, handler: Callable[..., Any], args: tuple[Any, ...], invocation_id: str
    ) -> Any:
        """Run a plain ``def`` handler in a worker thread, keeping the loop free.

        A daemon thread per call rather than ``asyncio.to_thread``: a handler
        that blocks forever must not hold the process at exit (the default
        executor's threads are joined at interpreter shutdown), and a thread
        is cheap next to a pipe round trip.
        """
        future: asyncio.Future[Any] = self._loop.create_future()
        run_context = contextvars.copy_context()
        loop = self._loop

        def work() -> None:
            value: Any = None
            error: BaseException | None = None
            try:
                value = run_context.run(handler, *args)
            except StopIteration as exc:  # futures refuse it, as coroutines do (PEP 479)
                error = RuntimeError("handler raised StopIteration")
                error.__cause__ = exc
            except BaseException as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # a closed loop: the child is exiting
                loop.call_soon_threadsafe(_settle, future, value, error)

        threading.Thread(target=work, name=f"motiad handler {invocation_id}", daemon=True).start()
        return await future

    def _finish(self, invocation: _Invocation, task: asyncio.Task[_Outcome]) -> None:
        """Once an invocation's task is done, whatever ended it: forget it, and
        answer it unless its task did as it returned."""
        self._inflight.pop(invocation.request_id, None)
        if invocation.timer is not None:
            invocation.timer.cancel()
        if invocation.answered:
            return
        request_id = invocation.request_id
        if invocation.cancel_code is not None:
            self._peer.respond_error(request_id, invocation.cancel_code, invocation.cancel_message)
            return
        if task.cancelled():
            if not self._life.stopping:  # the handler raised CancelledError itself
                self._fail(request_id, asyncio.CancelledError("the handler was cancelled"))
            return
        error = task.exception()  # a BaseException _call lets through still gets its answer
        outcome = task.result() if error is None else _Outcome(error=error)
        self._answer(request_id, invocation.trigger_type, outcome)

    def _answer(self, request_id: RequestId, trigger_type: str, outcome: _Outcome) -> None:
        """Answer with a handler's result or its error. Never raises: whatever
        fails on the way is the answer instead (SPEC `invoke.sdk-failure`)."""
        try:
            if outcome.error is not None:
                self._fail(request_id, outcome.error)
                return
            try:
                self._peer.respond(request_id, _shape_result(trigger_type, outcome.value))
            except LineTooLongError as exc:  # SPEC `framing.max-line.send`
                self._peer.respond_error(
                    request_id, ErrorCode.LINE_TOO_LONG, f"result too long: {exc}"
                )
            except Exception as exc:  # SPEC `invoke.result`: not JSON, or nested too deeply
                self._fail(request_id, exc, retryable=False)
        except Exception as exc:  # an exception whose str() raises, say: still answer
            report("cannot answer an invocation:\n" + "".join(traceback.format_exception(exc)))
            self._peer.respond_error(
                request_id, ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}"
            )

    def _fail(
        self, request_id: RequestId, exc: BaseException, *, retryable: bool | None = None
    ) -> None:
        self._peer.respond_error(
            request_id,
            ErrorCode.HANDLER_FAILED,
            f"handler failed: {type(exc).__name__}: {exc}",
            error_info(exc, retryable=retryable),
        )

    def _cancel_by_id(self, target: Any) -> None:
        """SPEC `invoke.cancel`; an unknown id is ignored."""
        if not isinstance(target, (int, str)) or isinstance(target, bool):
            return
        invocation = self._inflight.get(target)
        if invocation is not None:
            self._cancel(invocation, ErrorCode.CANCELLED, "cancelled by the broker")

    def _cancel(self, invocation: _Invocation, code: ErrorCode, message: str) -> None:
        # A task that is already done is answered normally by its done-callback.
        if invocation.task.done() or invocation.answered or invocation.cancel_code is not None:
            return
        invocation.cancel_code = code
        invocation.cancel_message = message
        invocation.task.cancel()


async def serve(read_fd: int, write_fd: int) -> int:
    """Run the protocol over the two file descriptors; return the exit status."""
    return await Runner(read_fd, write_fd).run()


def main() -> int:
    """Entry point of ``python -m motiad_sdk``: claim stdio, serve, exit."""
    read_fd, write_fd = claim_stdio()  # before anything can import user code
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        status = loop.run_until_complete(serve(read_fd, write_fd))
    except KeyboardInterrupt:
        status = 130
    finally:
        _close_loop(loop)
    sys.stderr.flush()
    if threading.active_count() > 1:
        # A sync handler (or a user thread) still runs and cannot be stopped;
        # a normal exit would wait for it, or crash at finalisation when it
        # writes to stderr. The broker needs us gone now.
        os._exit(status)
    return status


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel tasks user code left behind, then close the loop (bounded)."""
    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.wait(leftovers, timeout=TEARDOWN_GRACE_S))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
