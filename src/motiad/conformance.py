"""``motiad conformance``: check a child against ``protocol/SPEC.md`` from the outside.

The checker starts the child the way the broker does (the runner table for our
SDKs, any command otherwise) in a temporary project whose ``steps/`` holds the
conformance fixtures (SPEC §11.1), then plays the broker by hand over the
child's pipes: it writes exact bytes, reads every line the child writes,
validates what the child sends against the protocol Structs, and serves
``emit`` and ``state.*`` from memory. Restarts, broker-enforced timeouts and
the stop sequence go through the broker's real supervisor.

Every wait is bounded: a broken child (``cat``, one that prints garbage, one
that never answers) fails case by case with a reason, in bounded time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import Process, TaskGroup

from .builds import build_language
from .config import Settings
from .errors import ChildError, ConfigError, MotiadError, RemoteError
from .protocol import (
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    InvalidParams,
    decode_line,
    decode_params,
    encode_error,
    encode_result,
)
from .protocol.messages import (
    BROKER_TO_CHILD,
    CHILD_TO_BROKER,
    DEFAULT_MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    ApiTrigger,
    EmitParams,
    EmitResult,
    ErrorInfo,
    ErrorObject,
    EventTrigger,
    InitializeResult,
    InvokeParams,
    LogParams,
    RequestId,
    StateGroupParams,
    StateKeyParams,
    StateSetParams,
    StreamGroupParams,
    StreamItemParams,
    StreamSendParams,
    StreamSetParams,
)
from .rpc import Method
from .runners import PASSED_ENV, ChildCommand, child_command, sdk_dir
from .supervisor import Child, ChildSpec, ChildTimings, InvocationTimeout
from .tracing import LogBus
from .transport import LineSender, LineTooLong, read_lines

WAIT_S = 5.0
"""The longest the checker waits for one expected message: far above what a
healthy child needs (milliseconds), short enough that a broken one fails fast."""
EXIT_WAIT_S = 5.0
"""How long a child may take to exit (SPEC `lifecycle.stdin-eof`: within 5 s)."""
CLOSE_WAIT_S = 1.0
"""After a case, how long a child gets to exit on end of input before it is
killed (its exit was checked, if at all, by the case itself)."""
CASE_LIMIT_S = 30.0
"""No case may run longer, whatever it waits on."""
HANDSHAKE_S = 15.0
"""Default bound on ``initialize``: loading may compile TypeScript."""
SMALL_MAX_LINE = 4096
"""The line limit of the session that checks over-long lines: small enough to
cross cheaply, large enough for a handshake with two fixture steps."""
VIOLATIONS_KEPT = 20
CONCURRENT_INVOCATIONS = 20

FIXTURES = (
    "ConformanceEcho",
    "ConformanceEmit",
    "ConformanceState",
    "ConformanceThrows",
    "ConformanceThrowsPermanent",
    "ConformanceSlow",
    "ConformanceIgnoresCancel",
    "ConformanceLogs",
    "ConformanceConcurrent",
    "ConformanceNoop",
)
"""The fixture steps of SPEC §11.1, by ``config.name``."""


class CaseFailed(Exception):
    """A case's check did not hold; the message says what was expected and seen."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One line of the report."""

    requirement: str
    title: str
    passed: bool
    reason: str = ""

    def line(self) -> str:
        """``PASS  framing.bad-line  malformed JSON: …``."""
        verdict = "PASS" if self.passed else "FAIL"
        text = f"{verdict}  {self.requirement:<28} {self.title}"
        return f"{text}: {self.reason}" if self.reason else text


# --- the fake broker services ---------------------------------------------------


class Services:
    """``emit`` and ``state.*`` served from memory, as the broker would answer them.

    ``hold`` makes matching requests wait until the checker releases them, so
    a case can answer them late or out of order.
    """

    def __init__(self) -> None:
        self.state: dict[str, dict[str, msgspec.Raw]] = {}
        self.events: list[EmitParams] = []
        self.streams: dict[tuple[str, str], dict[str, msgspec.Raw]] = {}
        self.stream_events: list[StreamSendParams] = []
        self._ids = itertools.count(1)

    def answer(self, method: str, params: Any) -> Any:
        """The result of one service request (params already decoded)."""
        if isinstance(params, EmitParams):
            self.events.append(params)
            return EmitResult(f"conformance-event-{next(self._ids)}")
        if isinstance(params, StateSetParams):
            self.state.setdefault(params.group_id, {})[params.key] = params.value
            return params.value
        if isinstance(params, StateKeyParams):
            group = self.state.get(params.group_id, {})
            return (
                group.pop(params.key, None) if method == "state.delete" else group.get(params.key)
            )
        if isinstance(params, StateGroupParams):
            if method == "state.clear":
                self.state.pop(params.group_id, None)
                return None
            group = self.state.get(params.group_id, {})
            return [group[key] for key in sorted(group)]
        return self._answer_stream(method, params)

    def _answer_stream(self, method: str, params: Any) -> Any:
        """``stream.*`` without schemas: every stream exists, any object is an item."""
        if isinstance(params, StreamSendParams):
            self.stream_events.append(params)
            return None
        if not isinstance(params, StreamItemParams | StreamSetParams | StreamGroupParams):
            raise CaseFailed(f"no service for {method}")
        items = self.streams.setdefault((params.stream, params.group_id), {})
        if isinstance(params, StreamGroupParams):
            return [items[id] for id in sorted(items)]
        if isinstance(params, StreamSetParams):
            data = msgspec.json.decode(params.data)
            if not isinstance(data, dict):
                raise RemoteError(-32602, "data must be a JSON object", {"path": "$.params.data"})
            items[params.id] = msgspec.Raw(msgspec.json.encode({**data, "id": params.id}))
            return items[params.id]
        if method == "stream.delete":
            return items.pop(params.id, None)
        return items.get(params.id)

    def methods(
        self, gate: Callable[[str, Any], Awaitable[None]] | None = None
    ) -> dict[str, Method]:
        """The services as broker methods (for the supervisor); ``gate`` may delay each."""

        def serve(method: str) -> Callable[[Any], Awaitable[Any]]:
            async def handler(params: Any) -> Any:
                if gate is not None:
                    await gate(method, params)
                return self.answer(method, params)

            return handler

        return {
            name: Method(kind, serve(name))
            for name, kind in CHILD_TO_BROKER.items()
            if name != "log"
        }


# --- a child driven by hand ----------------------------------------------------


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
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _changed: anyio.Event = field(default_factory=anyio.Event)
    _sender: LineSender | None = None
    _outgoing: Any = None

    # -- running -----------------------------------------------------------------

    async def start(self, tg: TaskGroup) -> None:
        """Spawn the child; its readers run in ``tg``."""
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
        tg.start_soon(self._read_stdout)
        tg.start_soon(self._read_stderr)
        tg.start_soon(self._write, receive)

    async def close(self) -> None:
        """End of input, then kill the group; bounded."""
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
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    await stream.aclose()
            if self._outgoing is not None:
                self._outgoing.close()

    async def close_stdin(self) -> None:
        """Close the child's stdin: it sees end of file."""
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self.process.stdin.aclose()

    async def wait_exit(self, within: float = EXIT_WAIT_S) -> int:
        """The child's exit status; fails if it is still running after ``within``."""
        assert self.process is not None
        with anyio.move_on_after(within):
            return await self.process.wait()
        raise CaseFailed(f"still running {within:g}s later")

    # -- reading -----------------------------------------------------------------

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
        async for line in read_lines(self.process.stderr, 64 * 1024):
            if isinstance(line, bytes) and len(self.stderr) < 2000:
                self.stderr.append(line.decode("utf-8", "replace"))
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
                with contextlib.suppress(
                    anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
                ):
                    await self._sender.send(line)

    async def send_raw(self, data: bytes) -> None:
        """Write bytes to the child's stdin as they are (a failure to write is the child's)."""
        assert self._sender is not None
        try:
            with anyio.fail_after(WAIT_S):
                await self._sender.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
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


# --- the cases ---------------------------------------------------------------------


CaseFn = Callable[["Checker"], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Case:
    """One check: the requirement it proves, what it does, and how."""

    requirement: str
    title: str
    run: CaseFn


CASES: list[Case] = []


def case(requirement: str, title: str) -> Callable[[CaseFn], CaseFn]:
    """Register a case; cases run in the order they are defined."""

    def register(fn: CaseFn) -> CaseFn:
        CASES.append(Case(requirement, title, fn))
        return fn

    return register


def api_input(body: Any, path: str = "/conformance") -> dict[str, Any]:
    """The input of an api invocation (SPEC `invoke.input`)."""
    return {
        "method": "POST",
        "path": path,
        "body": body,
        "headers": {"content-type": "application/json"},
        "pathParams": {},
        "queryParams": {"q": "1"},
    }


API = {"type": "api"}


def event(topic: str, event_id: str = "conformance-event") -> dict[str, Any]:
    """An event trigger (SPEC `invoke.params`)."""
    return {"type": "event", "topic": topic, "eventId": event_id, "messageGroupId": None}


def expect(condition: bool, why: str) -> None:
    """Fail the case with ``why`` unless ``condition`` holds."""
    if not condition:
        raise CaseFailed(why)


class Checker:
    """Runs the cases against one child command, sharing one initialized session."""

    def __init__(
        self,
        make_command: Callable[[Path], ChildCommand],
        steps_dir: Path | None,
        *,
        handshake_s: float = HANDSHAKE_S,
        node_modules: Path | None = None,
        build: Callable[[Path, list[Path]], Awaitable[None]] | None = None,
    ) -> None:
        self.make_command = make_command
        self.build = build
        """Run once before the first case, with the project and its step files
        (a compiled language's registry ``build``)."""
        self.steps_dir = steps_dir
        self.handshake_s = handshake_s
        self.node_modules = node_modules
        self.project = Path()
        self.files: list[str] = []
        self.stream_files: list[str] = []
        """Stream definition files among the fixtures (``initialize.streams``)."""
        self.command = ChildCommand([], {}, Path())
        self.services = Services()
        self.configs: dict[str, str] = {}
        """Fixture name → the path of the file that loaded it."""
        self.load_errors: dict[str, str] = {}
        self.handshake: dict[str, Any] | None = None
        self.handshake_failure: str | None = None
        self._session: Session | None = None
        self._tg: TaskGroup | None = None

    # -- setting up ------------------------------------------------------------------

    def prepare(self, root: Path) -> None:
        """Make the temporary project: ``steps/`` a copy of the fixtures."""
        self.project = root
        steps = root / "steps"
        if self.steps_dir is not None:
            shutil.copytree(self.steps_dir, steps)
        else:
            steps.mkdir()
        if self.node_modules is not None and self.node_modules.is_dir():
            (root / "node_modules").symlink_to(self.node_modules)
        self.files = sorted(
            str(path)
            for path in steps.iterdir()
            if path.is_file() and (".step." in path.name or "_step." in path.name)
        )
        self.stream_files = sorted(
            str(path)
            for path in steps.iterdir()
            if path.is_file() and (".stream." in path.name or "_stream." in path.name)
        )

    @contextlib.asynccontextmanager
    async def fresh(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Any:
        """A new child for one case, stopped afterwards."""
        assert self._tg is not None
        session = Session(self.command, self.services, max_line_bytes)
        async with anyio.create_task_group() as tg:
            await session.start(tg)
            try:
                yield session
            finally:
                await session.close()
                tg.cancel_scope.cancel()

    async def initialize(self, session: Session, files: list[str], **extra: Any) -> dict[str, Any]:
        """``initialize`` with ``files``; the result, checked against the Struct. Loading
        no file is quick; loading files may compile TypeScript (the handshake bound)."""
        params = {"protocolVersion": PROTOCOL_VERSION, "project": str(self.project), "steps": files}
        params.update(extra)
        msg_id = await session.request("initialize", params)
        within = self.handshake_s if files else WAIT_S
        result = await session.result(msg_id, "the answer to initialize", within)
        try:
            decode_params(
                msgspec.Raw(json.dumps(result).encode()), InitializeResult, where="$.result"
            )
        except InvalidParams as exc:
            raise CaseFailed(
                f"the initialize result does not fit its schema: {exc.message} at {exc.path}"
            ) from None
        return dict(result)

    async def ready(self) -> Session:
        """The shared, initialized session (started on first use, again if it died)."""
        if self.handshake_failure is not None:
            raise CaseFailed("needs a working handshake (see lifecycle.initialize)")
        if self._session is not None and not self._session.exited:
            return self._session
        if self._session is not None:
            await self._session.close()
        assert self._tg is not None
        session = Session(self.command, self.services)
        self._session = session
        try:
            await session.start(self._tg)
            self.handshake = await self.initialize(session, self.files)
        except CaseFailed as exc:
            self.handshake_failure = str(exc)
            raise
        for entry in self.handshake["steps"]:
            if "config" in entry:
                self.configs[str(entry["config"].get("name"))] = entry["path"]
            else:
                error = entry["error"]
                name = Path(entry["path"]).name
                self.load_errors[name] = f"{error.get('type')}: {error.get('message')}"
        return session

    def step(self, name: str) -> str:
        """The path of fixture ``name``; fails when it is missing or did not load."""
        if name in self.configs:
            return self.configs[name]
        if name in self.load_errors:
            raise CaseFailed(f"fixture {name} failed to load: {self.load_errors[name]}")
        raise CaseFailed(f"no fixture step named {name} (write it, see SPEC §11.1)")

    # -- running -----------------------------------------------------------------------

    async def run(self, report: Callable[[CaseResult], None]) -> list[CaseResult]:
        """Run every case in order; ``report`` gets each result as it is known."""
        results: list[CaseResult] = []
        with tempfile.TemporaryDirectory(prefix="motiad-conformance-") as tmp:
            self.prepare(Path(tmp))
            if self.build is not None:
                await self.build(self.project, [Path(file) for file in self.files])
            self.command = self.make_command(self.project)
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    for item in CASES:
                        result = await self._run_case(item)
                        results.append(result)
                        report(result)
                finally:
                    if self._session is not None:
                        await self._session.close()
                    tg.cancel_scope.cancel()
        return results

    async def _run_case(self, item: Case) -> CaseResult:
        try:
            try:
                with anyio.fail_after(CASE_LIMIT_S):
                    detail = await item.run(self)
            except BaseExceptionGroup as group:  # raised inside a task group: its first leaf
                raise _first_leaf(group) from None
        except CaseFailed as exc:
            return CaseResult(item.requirement, item.title, False, str(exc))
        except TimeoutError:
            return CaseResult(
                item.requirement, item.title, False, f"no progress within {CASE_LIMIT_S:g}s"
            )
        except (MotiadError, OSError, ValueError, KeyError, TypeError) as exc:
            return CaseResult(item.requirement, item.title, False, f"{type(exc).__name__}: {exc}")
        return CaseResult(item.requirement, item.title, True, detail)

    def supervised(
        self, files: list[str], gate: Callable[[str, Any], Awaitable[None]] | None = None
    ) -> Child:
        """A child under the broker's real supervisor, with short timings."""
        timings = ChildTimings(
            initialize_s=self.handshake_s,
            cancel_grace_s=2.0,
            ping_interval_s=5.0,
            ping_timeout_s=5.0,
            backoff_initial_s=0.1,
            backoff_max_s=1.0,
            stop_step_s=2.0,
        )
        spec = ChildSpec("conformance", self.command, files, timings=timings)
        return Child(spec, methods=self.services.methods(gate), notifications={}, logs=LogBus())


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first exception in a (nested) exception group that is not a group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


# -- lifecycle and framing ------------------------------------------------------------


@case("lifecycle.initialize", "handshake: one entry per step file, in order, fixtures loaded")
async def _handshake(checker: Checker) -> str:
    await checker.ready()
    result = checker.handshake
    assert result is not None
    entries = result["steps"]
    expect(
        [entry["path"] for entry in entries] == checker.files,
        f"entries {[e['path'] for e in entries]} do not match the files sent {checker.files}",
    )
    missing = [name for name in FIXTURES if name not in checker.configs]
    errors = "; ".join(f"{file}: {why}" for file, why in checker.load_errors.items())
    for name in missing:  # a load error names the file, not the fixture: show them all
        checker.load_errors.setdefault(name, errors or "not among the step files")
    expect(
        not missing,
        f"fixtures missing or not loaded: {', '.join(missing)}"
        + (f" ({errors})" if errors else ""),
    )
    sdk = result["sdk"]
    return f"{sdk['name']} {sdk['version']} ({sdk['language']}) loaded {len(entries)} steps"


@case("lifecycle.noop", "a noop step loads without a handler")
async def _noop_loads(checker: Checker) -> str:
    await checker.ready()
    checker.step("ConformanceNoop")
    return ""


@case("lifecycle.version", "another protocol major is refused with -32004 naming both")
async def _version_mismatch(checker: Checker) -> str:
    async with checker.fresh() as session:
        msg_id = await session.request(
            "initialize", {"protocolVersion": "99.0", "project": str(checker.project), "steps": []}
        )
        error = await session.error(msg_id, -32004, "the answer to initialize 99.0")
        message = str(error.get("message", ""))
        expect(
            "99.0" in message and PROTOCOL_VERSION in message,
            f"the message names not both versions: {message!r}",
        )
    return ""


@case("lifecycle.version", "a newer minor of the same major is accepted")
async def _newer_minor(checker: Checker) -> str:
    async with checker.fresh() as session:
        result = await checker.initialize(session, [], protocolVersion="1.99")
        version = str(result["protocolVersion"])
        expect(version.split(".")[0] == "1", f"answered protocolVersion {version}")
    return ""


@case("lifecycle.before-initialize", "before initialize: ping answered, invoke refused -32600")
async def _before_initialize(checker: Checker) -> str:
    async with checker.fresh() as session:
        ping = await session.request("ping", {})
        expect(await session.result(ping, "the answer to ping") == {}, "ping did not answer {}")
        invoke = await session.invoke("/nowhere.step", {"type": "cron"}, None)
        await session.error(invoke, -32600, "the answer to invoke before initialize")
    return ""


@case("lifecycle.initialize.once", "a second initialize is refused with -32600")
async def _initialize_once(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.request(
        "initialize",
        {"protocolVersion": PROTOCOL_VERSION, "project": str(checker.project), "steps": []},
    )
    await session.error(msg_id, -32600, "the answer to a second initialize")
    return ""


@case("framing.bad-line", "malformed JSON gets -32700 with id null")
async def _malformed_json(checker: Checker) -> str:
    session = await checker.ready()
    await session.send_raw(b'{"jsonrpc":"2.0","id":1,"method":\n')
    await session.error(None, -32700, "an error with id null")
    await session.quiet("the malformed line")
    return ""


@case("framing.bad-line", "non-object JSON gets -32600 with id null")
async def _non_object(checker: Checker) -> str:
    session = await checker.ready()
    await session.send_raw(b"[1,2,3]\n")
    await session.error(None, -32600, "an error with id null")
    return ""


@case("framing.bad-line", 'a request with "jsonrpc": "1.0" gets -32600 with its id')
async def _wrong_jsonrpc(checker: Checker) -> str:
    session = await checker.ready()
    await session.send_raw(b'{"jsonrpc":"1.0","id":"conformance-v1","method":"ping"}\n')
    await session.error("conformance-v1", -32600, "an error with the request's id")
    return ""


@case("framing.utf8", "invalid UTF-8 gets -32700 with id null")
async def _invalid_utf8(checker: Checker) -> str:
    session = await checker.ready()
    await session.send_raw(b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":"\xc3\x28"}}\n')
    await session.error(None, -32700, "an error with id null")
    await session.quiet("the invalid line")
    return ""


@case("framing.blank-line", "a blank line gets -32700 with id null")
async def _blank_line(checker: Checker) -> str:
    session = await checker.ready()
    await session.send_raw(b"\n")
    await session.error(None, -32700, "an error with id null")
    return ""


@case("rpc.unknown-method", "an unknown method gets -32601; an unknown notification nothing")
async def _unknown_method(checker: Checker) -> str:
    session = await checker.ready()
    await session.notify("conformance.nothing", {})
    msg_id = await session.request("conformance.nothing", {})
    await session.error(msg_id, -32601, "the answer to an unknown method")
    await session.quiet("the unknown notification")
    return ""


@case("rpc.bad-params", "bad invoke params get -32602 naming the field")
async def _bad_params(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(checker.step("ConformanceEcho"), {"type": "api"}, {})
    await session.send(
        {
            "jsonrpc": "2.0",
            "id": "conformance-bad",
            "method": "invoke",
            "params": {
                "step": 5,
                "trigger": {"type": "api"},
                "input": None,
                "traceId": "t",
                "invocationId": "i",
            },
        }
    )
    error = await session.error("conformance-bad", -32602, "the answer to invoke with step: 5")
    path = (error.get("data") or {}).get("path")
    expect(path == "$.params.step", f"data.path is {path!r}, expected '$.params.step'")
    await session.response(msg_id, "the answer to the echo sent before")
    return ""


@case("rpc.params", "params that are not an object get -32602 at $.params")
async def _params_not_object(checker: Checker) -> str:
    session = await checker.ready()
    await session.send({"jsonrpc": "2.0", "id": "conformance-p", "method": "ping", "params": [1]})
    error = await session.error("conformance-p", -32602, "the answer to ping with params [1]")
    path = (error.get("data") or {}).get("path")
    expect(path == "$.params", f"data.path is {path!r}, expected '$.params'")
    return ""


@case("rpc.unknown-id", "responses to ids never sent are ignored")
async def _unknown_id(checker: Checker) -> str:
    session = await checker.ready()
    await session.send({"jsonrpc": "2.0", "id": 987654, "result": {"eventId": "nobody"}})
    await session.send(
        {"jsonrpc": "2.0", "id": "nobody", "error": {"code": -32006, "message": "x"}}
    )
    await session.quiet("the responses to unknown ids")
    return ""


@case("rpc.no-reply-to-responses", "an error with id null is not answered")
async def _no_reply(checker: Checker) -> str:
    session = await checker.ready()
    await session.send(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
    )
    await session.quiet("the error with id null")
    return ""


@case("lifecycle.ping", "ping is answered {} while a handler runs")
async def _ping_while_running(checker: Checker) -> str:
    session = await checker.ready()
    slow = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}
    )
    ping = await session.request("ping", {})
    expect(await session.result(ping, "the answer to ping") == {}, "ping did not answer {}")
    await session.notify("$/cancel", {"id": slow})
    await session.response(slow, "the answer to the cancelled slow invocation")
    return ""


# -- invocations --------------------------------------------------------------------------


@case("invoke.result", "api echo: the handler's {status, body, headers} is the result")
async def _echo(checker: Checker) -> str:
    session = await checker.ready()
    body = {"text": "héllo", "n": [1, 2]}
    msg_id = await session.invoke(
        checker.step("ConformanceEcho"), API, api_input(body), trace_id="trace-echo"
    )
    result = await session.result(msg_id, "the echo result")
    expect(
        isinstance(result, dict) and result.get("status") == 200,
        f"result {json.dumps(result)[:160]}",
    )
    expect(result.get("headers") == {"x-conformance": "echo"}, f"headers {result.get('headers')}")
    echoed = result.get("body") or {}
    expect(
        echoed.get("body") == body,
        f"body {json.dumps(echoed.get('body'))[:120]} is not the request body",
    )
    expect(echoed.get("queryParams") == {"q": "1"}, f"queryParams {echoed.get('queryParams')}")
    return ""


@case("ids.opaque", "the handler's context carries the invoke's traceId unchanged")
async def _trace_id(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceEcho"), API, api_input({}), trace_id="trace-42"
    )
    result = await session.result(msg_id, "the echo result")
    seen = (result.get("body") or {}).get("traceId")
    expect(seen == "trace-42", f"the handler saw traceId {seen!r}, expected 'trace-42'")
    return ""


@case("invoke.result", "an event invocation's result is null")
async def _event_result(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 1}
    )
    result = await session.result(msg_id, "the result of a short slow invocation")
    expect(result is None, f"result {json.dumps(result)[:120]}, expected null")
    return ""


@case("emit.durable", "emit: params fit the schema, the handler gets the eventId")
async def _emit(checker: Checker) -> str:
    session = await checker.ready()
    before = len(checker.services.events)
    msg_id = await session.invoke(
        checker.step("ConformanceEmit"),
        API,
        api_input({"hello": "world"}),
        invocation_id="inv-emit",
    )
    result = await session.result(msg_id, "the emit fixture's result")
    events = checker.services.events[before:]
    expect(len(events) == 1, f"{len(events)} emit requests, expected 1")
    sent = events[0]
    expect(sent.invocation_id == "inv-emit", f"emit carried invocationId {sent.invocation_id!r}")
    expect(sent.topic == "conformance.emitted", f"emit topic {sent.topic!r}")
    expect(
        json.loads(bytes(sent.data)) == {"hello": "world"}, f"emit data {bytes(sent.data)[:80]!r}"
    )
    event_id = (result.get("body") or {}).get("eventId")
    expect(
        event_id == f"conformance-event-{before + 1}"
        or str(event_id).startswith("conformance-event-"),
        f"the handler got eventId {event_id!r}",
    )
    return ""


@case("state.methods", "state round trip: set, get, getGroup, delete, clear")
async def _state(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceState"), API, api_input({"group": "round-trip"})
    )
    result = await session.result(msg_id, "the state fixture's result")
    body = result.get("body") or {}
    wanted = {"set": {"n": 1}, "got": {"n": 1}, "group": [{"n": 1}, {"n": 2}], "deleted": {"n": 1}}
    expect(body == wanted, f"body {json.dumps(body)[:200]}, expected {json.dumps(wanted)}")
    expect("round-trip" not in checker.services.state, "state.clear did not reach the broker")
    return ""


@case("stream.methods", "stream round trip: set, get, getGroup, send, delete")
async def _stream(checker: Checker) -> str:
    session = await checker.ready()
    before = len(checker.services.stream_events)
    msg_id = await session.invoke(
        checker.step("ConformanceStream"), API, api_input({"group": "round-trip"})
    )
    result = await session.result(msg_id, "the stream fixture's result")
    body = result.get("body") or {}
    item = {"n": 1, "id": "a"}
    wanted = {"set": item, "got": item, "group": [item], "deleted": item}
    expect(body == wanted, f"body {json.dumps(body)[:200]}, expected {json.dumps(wanted)}")
    sent = checker.services.stream_events[before:]
    expect(len(sent) == 1, f"{len(sent)} stream.send requests, expected 1")
    event = sent[0]
    seen = (event.stream, event.group_id, event.id, event.type, msgspec.json.decode(event.data))
    expect(
        seen == ("conformance", "round-trip", None, "ping", {"n": 2}),
        f"stream.send (stream, groupId, id, type, data) {seen}, expected"
        " ('conformance', 'round-trip', None, 'ping', {'n': 2})",
    )
    return ""


@case("lifecycle.streams", "initialize.streams: one entry per stream file, or none at all")
async def _stream_files(checker: Checker) -> str:
    async with checker.fresh() as session:
        files = checker.stream_files or [str(checker.project / "steps" / "none.stream.none")]
        result = await checker.initialize(session, [], streams=files)
    entries = result.get("streams")
    if entries is None:
        expect(not checker.stream_files, "stream files among the fixtures, but no streams entries")
        return "this child does not load stream files"
    expect(
        [entry["path"] for entry in entries] == files,
        f"stream entries {[e['path'] for e in entries]} do not match the files sent {files}",
    )
    names = [entry["config"].get("name") for entry in entries if "config" in entry]
    expect(
        not checker.stream_files or "conformance" in names,
        f"no stream named conformance among the loaded stream files (got {names}): {entries}",
    )
    return f"loaded {len(names)} of {len(entries)} stream files"


@case("log.notification", "logger.info sends a log notification for the invocation")
async def _log(checker: Checker) -> str:
    session = await checker.ready()
    before = len(session.logs)
    msg_id = await session.invoke(
        checker.step("ConformanceLogs"),
        event("conformance.logs"),
        {"mark": "m1"},
        invocation_id="inv-log",
    )
    await session.result(msg_id, "the logs fixture's result")
    await session.quiet("the logs fixture")  # its log line came before its answer, or right after
    logs = [m["params"] for m in session.logs[before:]]
    matching = [p for p in logs if p.get("message") == "conformance log"]
    expect(bool(matching), f"no log notification 'conformance log' (got {json.dumps(logs)[:160]})")
    params = matching[0]
    expect(params.get("level") == "info", f"level {params.get('level')!r}")
    expect(params.get("fields") == {"n": 1}, f"fields {params.get('fields')}")
    expect(params.get("invocationId") == "inv-log", f"invocationId {params.get('invocationId')!r}")
    return ""


@case("framing.stdout-owned", "what user code prints reaches stderr, never stdout")
async def _stdout_owned(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceLogs"), event("conformance.logs"), {"mark": "m2"}
    )
    await session.result(msg_id, "the logs fixture's result")
    with anyio.move_on_after(WAIT_S):
        while not any("conformance stdout m2" in line for line in session.stderr):
            await session._changed.wait()
    expect(
        any("conformance stdout m2" in line for line in session.stderr),
        "the printed line 'conformance stdout m2' never reached stderr",
    )
    expect(
        not session.violations,
        f"stdout carried {session.violation_count} non-protocol lines;"
        f" first: {session.violations[:1]}",
    )
    return ""


@case("invoke.handler-error", "a handler exception: -32000 with a retryable ErrorInfo")
async def _throws(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceThrows"), event("conformance.throws"), {}
    )
    error = await session.error(msg_id, -32000, "the throws fixture's answer")
    info = _error_info(error)
    expect(info.type == "ConformanceError", f"data.type {info.type!r}, expected 'ConformanceError'")
    expect(info.message == "conformance failure", f"data.message {info.message!r}")
    expect(info.retryable is True, "data.retryable is not true")
    return ""


@case("invoke.handler-error", "a non-retryable failure: retryable false")
async def _throws_permanent(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceThrowsPermanent"), event("conformance.permanent"), {}
    )
    error = await session.error(msg_id, -32000, "the permanent fixture's answer")
    info = _error_info(error)
    expect(info.message == "permanent failure", f"data.message {info.message!r}")
    expect(info.retryable is False, "data.retryable is not false")
    return ""


def _error_info(error: dict[str, Any]) -> ErrorInfo:
    try:
        return msgspec.convert(error.get("data"), ErrorInfo)
    except msgspec.ValidationError as exc:
        raise CaseFailed(f"data is not an ErrorInfo: {exc}") from None


@case("invoke.cancel", "$/cancel stops a handler that honours it: -32002")
async def _cancel(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}
    )
    await session.quiet("a running slow invocation")  # it has started
    await session.notify("$/cancel", {"id": msg_id})
    await session.error(msg_id, -32002, "the answer to the cancelled invocation")
    return ""


@case("invoke.cancel", "$/cancel of a handler that ignores it still gets an answer")
async def _cancel_ignored(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceIgnoresCancel"), event("conformance.stubborn"), {"ms": 1500}
    )
    await session.quiet("a running stubborn invocation")
    await session.notify("$/cancel", {"id": msg_id})
    answer = await session.response(msg_id, "an answer to the cancelled invocation")
    code = (answer.get("error") or {}).get("code")
    expect("result" in answer or code == -32002, f"answered {json.dumps(answer)[:160]}")
    return "answered -32002" if code == -32002 else "answered with its result"


@case("invoke.cancel", "$/cancel of an unknown or finished id is ignored")
async def _cancel_unknown(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 1}
    )
    await session.result(msg_id, "the short slow invocation's result")
    await session.notify("$/cancel", {"id": msg_id})
    await session.notify("$/cancel", {"id": "conformance-never-sent"})
    await session.quiet("$/cancel of finished and unknown ids")
    return ""


@case("invoke.timeout", "a handler over timeoutMs is answered -32001")
async def _timeout(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}, timeout_ms=200
    )
    await session.error(msg_id, -32001, "the answer to a slow invocation with timeoutMs 200")
    return ""


@case("invoke.unknown-step", "invoke of a step never loaded gets -32003")
async def _unknown_step(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(
        str(checker.project / "steps" / "missing.step.none"), API, api_input({})
    )
    await session.error(msg_id, -32003, "the answer to invoke of an unknown step")
    return ""


@case("invoke.unknown-step", "invoke of a noop step gets -32003")
async def _noop_invoke(checker: Checker) -> str:
    session = await checker.ready()
    msg_id = await session.invoke(checker.step("ConformanceNoop"), API, api_input({}))
    await session.error(msg_id, -32003, "the answer to invoke of a noop step")
    return ""


@case("invoke.duplicate-id", "an invoke reusing the id of a running one gets -32600")
async def _duplicate_id(checker: Checker) -> str:
    session = await checker.ready()
    slow = checker.step("ConformanceSlow")
    await session.invoke(slow, event("conformance.slow"), {"ms": 60000}, msg_id="conformance-dup")
    await session.quiet("a running slow invocation")
    await session.invoke(slow, event("conformance.slow"), {"ms": 1}, msg_id="conformance-dup")
    await session.error("conformance-dup", -32600, "the answer to the duplicate")
    await session.notify("$/cancel", {"id": "conformance-dup"})
    await session.error("conformance-dup", -32002, "the answer to the first, cancelled")
    return ""


@case("rpc.concurrent", f"{CONCURRENT_INVOCATIONS} invocations run at once, answered in any order")
async def _concurrent(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceConcurrent")
    session.hold = lambda m: (
        m.get("method") == "state.get" and str(m["params"].get("key", "")).startswith("c-")
    )
    try:
        ids = [
            await session.invoke(
                step, event("conformance.concurrent"), {"key": f"c-{n}"}, invocation_id=f"inv-c-{n}"
            )
            for n in range(CONCURRENT_INVOCATIONS)
        ]
        gets = [
            await session.held_request(
                "state.get",
                f"state.get #{n + 1} of {CONCURRENT_INVOCATIONS} (all start before any ends)",
            )
            for n in range(CONCURRENT_INVOCATIONS)
        ]
    finally:
        session.hold = lambda _: False
    owners = {g["params"]["invocationId"] for g in gets}
    expect(
        owners == {f"inv-c-{n}" for n in range(CONCURRENT_INVOCATIONS)},
        f"state.get came for {sorted(owners)[:4]}…",
    )
    for get in reversed(gets):
        await session.reply(get, None)
    for msg_id in reversed(ids):
        result = await session.result(msg_id, f"the answer to invocation {msg_id}")
        expect(result is None, f"invocation {msg_id} answered {result!r}")
    return ""


@case("rpc.concurrent", "replies to the child's requests out of order reach the right handlers")
async def _out_of_order(checker: Checker) -> str:
    session = await checker.ready()
    step = checker.step("ConformanceEmit")
    session.hold = lambda m: (
        m.get("method") == "emit" and m["params"].get("invocationId") in ("inv-o1", "inv-o2")
    )
    try:
        first = await session.invoke(step, API, api_input({"n": 1}), invocation_id="inv-o1")
        emit1 = await session.held_request("emit", "the first emit")
        second = await session.invoke(step, API, api_input({"n": 2}), invocation_id="inv-o2")
        emit2 = await session.held_request("emit", "the second emit")
    finally:
        session.hold = lambda _: False
    await session.reply(emit2, {"eventId": "ev-for-" + emit2["params"]["invocationId"]})
    await session.reply(emit1, {"eventId": "ev-for-" + emit1["params"]["invocationId"]})
    got_second = (
        (await session.result(second, "the second emit's result")).get("body", {}).get("eventId")
    )
    got_first = (
        (await session.result(first, "the first emit's result")).get("body", {}).get("eventId")
    )
    expect(
        (got_first, got_second) == ("ev-for-inv-o1", "ev-for-inv-o2"),
        f"handlers got {got_first!r} and {got_second!r}: answers were matched by order, not id",
    )
    return ""


# -- line limits ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _small_limit(checker: Checker) -> Any:
    """A fresh child initialized with ``maxLineBytes`` 4096 and two fixtures."""
    files = [checker.step("ConformanceEcho"), checker.step("ConformanceEmit")]
    async with checker.fresh(SMALL_MAX_LINE) as session:
        await checker.initialize(session, files, maxLineBytes=SMALL_MAX_LINE)
        yield session


@case("framing.max-line", "a line over maxLineBytes gets -32005 with id null; reading goes on")
async def _line_too_long(checker: Checker) -> str:
    await checker.ready()
    async with _small_limit(checker) as session:
        pad = "x" * (SMALL_MAX_LINE + 100)
        await session.send(
            {"jsonrpc": "2.0", "id": "conformance-big", "method": "ping", "params": {"pad": pad}}
        )
        await session.error(None, -32005, "an error with id null for the long line")
        edge_prefix = b'{"jsonrpc":"2.0","id":"conformance-edge","method":"ping","params":{"pad":"'
        edge = edge_prefix + b"y" * (SMALL_MAX_LINE - len(edge_prefix) - 3) + b'"}}'
        await session.send_raw(edge + b"\n")
        await session.result("conformance-edge", "the answer to a line of exactly maxLineBytes")
        await session.quiet("the long line")
    return ""


@case("framing.max-line.send", "a result over maxLineBytes is answered -32005 with its id")
async def _result_too_long(checker: Checker) -> str:
    await checker.ready()
    async with _small_limit(checker) as session:
        msg_id = await session.invoke(
            checker.step("ConformanceEcho"), API, api_input({"pad": SMALL_MAX_LINE + 100})
        )
        await session.error(msg_id, -32005, "the answer to an echo whose result is too long")
        expect(not session.violations, f"the child {session.violations[:1]}")
    return ""


@case("framing.max-line.send", "an emit over maxLineBytes is not sent; the handler fails")
async def _emit_too_long(checker: Checker) -> str:
    await checker.ready()
    async with _small_limit(checker) as session:
        msg_id = await session.invoke(
            checker.step("ConformanceEmit"), API, api_input({"pad": SMALL_MAX_LINE + 100})
        )
        answer = await session.response(msg_id, "the answer to an emit too long to send")
        expect("error" in answer, f"answered {json.dumps(answer)[:120]}")
        expect(not session.violations, f"the child {session.violations[:1]}")
    return ""


# -- stopping ----------------------------------------------------------------------------------


@case(
    "lifecycle.shutdown", "shutdown: new invokes -32007, running ones finish, answer null, exit 0"
)
async def _shutdown(checker: Checker) -> str:
    await checker.ready()
    step = checker.step("ConformanceConcurrent")
    async with checker.fresh() as session:
        await checker.initialize(session, [step])
        session.hold = lambda m: m.get("method") == "state.get"
        running = await session.invoke(step, event("conformance.concurrent"), {"key": "s"})
        get = await session.held_request("state.get", "the running handler's state.get")
        shutdown = await session.request("shutdown", {})
        refused = await session.invoke(step, event("conformance.concurrent"), {"key": "t"})
        await session.error(refused, -32007, "the answer to invoke after shutdown")
        await session.reply(get, None)
        await session.result(running, "the running invocation's result")
        expect(
            await session.result(shutdown, "the answer to shutdown") is None,
            "shutdown did not answer null",
        )
        code = await session.wait_exit()
        expect(code == 0, f"exited with code {code}")
    return ""


@case("lifecycle.stdin-eof", "end of stdin: the child exits within 5s, handlers running")
async def _stdin_eof(checker: Checker) -> str:
    async with checker.fresh() as session:
        with contextlib.suppress(CaseFailed):
            if checker.handshake_failure is None and "ConformanceSlow" in checker.configs:
                await checker.initialize(session, [checker.step("ConformanceSlow")])
                await session.invoke(
                    checker.step("ConformanceSlow"), event("conformance.slow"), {"ms": 60000}
                )
        await session.close_stdin()
        code = await session.wait_exit()
    return f"exit code {code}"


# -- through the broker's supervisor -------------------------------------------------------------


def _invoke_params(
    step: str, topic: str, input: Any, timeout_ms: int | None, n: int
) -> InvokeParams:
    return InvokeParams(
        step,
        EventTrigger(topic, f"conformance-supervised-{n}"),
        input,
        "conformance-trace",
        f"conformance-supervised-{n}",
        1,
        timeout_ms,
    )


@case("invoke.timeout", "the broker enforces timeoutMs: $/cancel answered, child kept")
async def _broker_timeout(checker: Checker) -> str:
    await checker.ready()
    step = checker.step("ConformanceSlow")
    child = checker.supervised([step])
    async with anyio.create_task_group() as tg:
        try:
            await tg.start(child.run)
        except ChildError as exc:
            raise CaseFailed(str(exc)) from None
        timed_out = False
        try:
            await child.invoke(_invoke_params(step, "conformance.slow", {"ms": 60000}, 300, 1))
        except InvocationTimeout:
            timed_out = True
        finally:
            restarts = child.restarts
            await child.stop()
            tg.cancel_scope.cancel()
    expect(timed_out, "the invocation did not time out")
    expect(
        restarts == 0,
        f"the child was restarted {restarts} times: it did not answer $/cancel in time",
    )
    return ""


@case(
    "lifecycle.restart", "a child killed mid-invocation: the invocation fails, the child restarts"
)
async def _dies_mid_invocation(checker: Checker) -> str:
    await checker.ready()
    concurrent, echo = checker.step("ConformanceConcurrent"), checker.step("ConformanceEcho")
    started = anyio.Event()
    release = anyio.Event()

    async def gate(method: str, params: Any) -> None:
        if method == "state.get" and not started.is_set():
            started.set()
            await release.wait()

    child = checker.supervised([concurrent, echo], gate)
    outcome: list[BaseException | None] = []
    ended = anyio.Event()

    async def doomed() -> None:
        try:
            await child.invoke(
                _invoke_params(concurrent, "conformance.concurrent", {"key": "k"}, None, 2)
            )
        except (ChildError, RemoteError) as exc:
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            ended.set()

    async with anyio.create_task_group() as tg:
        try:
            await tg.start(child.run)
        except ChildError as exc:
            raise CaseFailed(str(exc)) from None
        try:
            first_pid = child.pid
            tg.start_soon(doomed)
            with anyio.fail_after(WAIT_S):
                await started.wait()
            assert first_pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first_pid, signal.SIGKILL)
            with anyio.fail_after(WAIT_S):
                await ended.wait()
            release.set()
            expect(
                isinstance(outcome[0], ChildError),
                f"the invocation ended with {outcome[0]!r}, expected a ChildError",
            )
            params = InvokeParams(
                echo,
                ApiTrigger(),
                api_input({"again": True}),
                "t",
                "conformance-supervised-3",
                1,
                5000,
            )
            with anyio.fail_after(checker.handshake_s + WAIT_S):
                raw = await child.invoke(params)
        finally:
            await child.stop()
            tg.cancel_scope.cancel()
    expect(child.restarts >= 1, "the child was not restarted")
    expect(raw is not None, "no answer from the restarted child")
    return f"restarted after {child.restarts} start(s)"


@case("lifecycle.stop", "the broker's staged stop: the child exits on shutdown, status 0")
async def _staged_stop(checker: Checker) -> str:
    await checker.ready()
    child = checker.supervised([checker.step("ConformanceEcho")])
    async with anyio.create_task_group() as tg:
        try:
            await tg.start(child.run)
        except ChildError as exc:
            raise CaseFailed(str(exc)) from None
        started = time.monotonic()
        await child.stop()
        took = time.monotonic() - started
        tg.cancel_scope.cancel()
    code = child.returncode
    expect(
        code == 0,
        f"exit status {code} after stop (a signal means it ignored shutdown and end of input)",
    )
    return f"stopped in {took:.1f}s"


# --- entry points ---------------------------------------------------------------


def protocol_dir() -> Path:
    """``protocol/`` of this installation (bundled in the wheel, or in the checkout)."""
    try:
        return sdk_dir("protocol")
    except ConfigError:
        raise ConfigError(
            "protocol", "the protocol folder is missing from this motiad installation"
        ) from None


def _absolute(arg: str) -> str:
    """``arg`` made absolute when it names an existing path relative to the current
    folder: the command runs in a temporary project, not here."""
    if arg.startswith("-") or os.path.isabs(arg) or not os.path.exists(arg):
        return arg
    return os.path.abspath(arg)


def minimal_env() -> dict[str, str]:
    """The environment the broker gives children (SPEC `runner.command`)."""
    return {k: v for k, v in os.environ.items() if k in PASSED_ENV}


def checker_for(
    sdk: str | None,
    command: list[str],
    steps: Path | None,
    *,
    handshake_s: float = HANDSHAKE_S,
    logs: LogBus | None = None,
) -> Checker:
    """A checker for one of our SDKs (started by its built-in registry entry, built
    first when the entry has a ``build``), or for any ``command``."""
    if sdk is not None:
        language = sdk
        fixtures = steps or protocol_dir() / "conformance" / sdk
        settings = Settings()
        node_modules = None
        if sdk == "node":
            node_modules = next(
                (
                    path
                    for path in (sdk_dir("sdk-node") / "node_modules", Path.cwd() / "node_modules")
                    if path.is_dir()
                ),
                None,
            )

        async def build(project: Path, files: list[Path]) -> None:
            await build_language(language, project, settings, files, logs or LogBus())

        return Checker(
            lambda project: child_command(language, project, settings),
            fixtures,
            handshake_s=handshake_s,
            node_modules=node_modules,
            build=build,
        )
    argv = [_absolute(arg) for arg in command]
    return Checker(
        lambda project: ChildCommand(argv, minimal_env(), project), steps, handshake_s=handshake_s
    )


async def run_conformance(checker: Checker, emit: Callable[[str], None]) -> int:
    """Run every case, print each line and the summary; the exit status."""
    results = await checker.run(lambda result: emit(result.line()))
    passed = sum(result.passed for result in results)
    failed = len(results) - passed
    emit(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
