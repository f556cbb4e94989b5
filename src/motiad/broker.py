"""The broker: starts a child per step file, routes API calls and events to
them, and serves their requests for emit, state and logs. It owns the tasks
that consume events; the app owns the broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from .builds import build_language
from .config import (
    ApiStepConfig,
    CronStepConfig,
    EventStepConfig,
    Settings,
    StepConfig,
    parse_step_config,
)
from .cron import CronError, Schedule
from .discovery import (
    StepFile,
    discover_steps,
    discover_streams,
    language_of,
    stream_language_of,
)
from .errors import (
    ChildError,
    ConfigError,
    InvalidInput,
    MotiadError,
    RemoteError,
    StepLoadError,
    StorageError,
    StorageUnavailable,
)
from .flows import FlowStep, trigger_text
from .protocol import ErrorCode
from .protocol.messages import (
    ApiRequest,
    ApiResult,
    ApiTrigger,
    CronTrigger,
    EmitParams,
    EmitResult,
    ErrorInfo,
    EventTrigger,
    InvokeParams,
    LogParams,
    StateGroupParams,
    StateKeyParams,
    StateSetParams,
    StreamGroupParams,
    StreamItemParams,
    StreamSendParams,
    StreamSetParams,
    Trigger,
)
from .queue import TAKE_BATCH, FollowUp, RetryPolicy, Worker
from .routes import RouteConflict, RouteTable
from .rpc import Later, Method
from .runners import child_command
from .schemas import Issue, Schema, SchemaError, refused_params
from .signals import DeadLetterNote, EmitSpan, Signals
from .storage import Delivery, Event, Store, Target, durable
from .streams import StreamDefinition, StreamRegistry, parse_stream_config
from .supervisor import Child, ChildSpec, InvocationTimeout, handler_error
from .trace_context import format_traceparent, span_id_of
from .tracing import Bus, Level, LogBus, Span, SpanBus, new_id

_api_result_decoder = msgspec.json.Decoder(ApiResult)


class _StreamEvent(msgspec.Struct):
    """An ephemeral stream event as clients get it: ``{type, data}``."""

    type: str
    data: msgspec.Raw


_encode_event = msgspec.json.Encoder().encode


def failure_info(exc: MotiadError) -> ErrorInfo:
    """What a failed invocation records: the handler's own error, or what
    happened to the invocation (timed out, child died), which is retryable."""
    if isinstance(exc, RemoteError):
        if exc.code == ErrorCode.HANDLER_FAILED:
            return handler_error(exc)
        # SPEC errors.retryable: some codes would come back the same on a retry.
        retryable = handler_error(exc).retryable
        return ErrorInfo("InvocationError", f"{exc.message} (code {exc.code})", retryable=retryable)
    if isinstance(exc, InvocationTimeout):
        return ErrorInfo("TimeoutError", str(exc))
    return ErrorInfo(type(exc).__name__, str(exc))


LEASE_MARGIN_S = 5.0
"""Added to a step's handler timeout to make the lease on its deliveries: room
for the outcome of an invocation that timed out to reach storage."""

FINISHED_INVOCATIONS_KEPT = 4096
"""Finished invocations remembered so that a call the handler did not await
(``emit(...)`` without ``await``, as Motia allows) still finds its trace: its
line may arrive after the handler's result."""


@dataclass(eq=False)
class Step:
    """A loaded step and the child that runs it."""

    file: StepFile
    config: StepConfig
    child: Child
    body_schema: Schema | None = None
    """``bodySchema`` of an API step, compiled."""
    input_schema: Schema | None = None
    """``input`` of an event step, compiled: checked on every emit to it."""
    schedule: Schedule | None = None
    """``cron`` of a cron step, parsed."""
    response_schemas: dict[int, Schema] = field(default_factory=dict)
    """``responseSchema`` of an API step by status, compiled (checked in ``motiad dev``)."""
    emits: frozenset[str] = frozenset()
    """Every topic the step declares it emits (``emits`` and ``virtualEmits``)."""

    @property
    def name(self) -> str:
        """The step's unique name (``config.name``)."""
        return self.config.name

    @property
    def type(self) -> str:
        """``api``, ``event``, ``cron`` or ``noop``."""
        return str(self.config.__struct_config__.tag)

    @property
    def trigger(self) -> str:
        """What makes it run, for people: ``POST /messages``, a topic list, a schedule."""
        return trigger_text(self.config)

    def timeout_s(self, settings: Settings) -> float:
        """``infrastructure.handler.timeout``, else the project default."""
        return self.config.infrastructure.handler.timeout or settings.handler.timeout_s

    def lease_s(self, settings: Settings) -> float:
        """How long a taken delivery is this broker's before another may take it:
        ``visibilityTimeout`` (step, then project), else the timeout plus a margin."""
        queue = self.config.infrastructure.queue
        return (
            queue.visibility_timeout
            or settings.queue.visibility_timeout_s
            or self.timeout_s(settings) + LEASE_MARGIN_S
        )


def step_row(step: Step) -> dict[str, Any]:
    """One step as the CLI and JSON listings show it."""
    return {
        "name": step.name,
        "type": step.type,
        "language": step.file.language,
        "trigger": step.trigger,
        "file": step.file.relative,
    }


def step_json(step: Step) -> dict[str, Any]:
    """One step with its config (``motiad steps --json``, the workbench)."""
    return {**step_row(step), "config": msgspec.to_builtins(step.config)}


def flow_steps(steps: Iterable[Step]) -> list[FlowStep]:
    """What the flow graph needs of each step (``motiad flows``, the workbench)."""
    return [FlowStep(s.file.relative, s.file.language, s.config) for s in steps]


@dataclass(slots=True)
class _Invocation:
    step: Step
    trace_id: str
    storage_failed: StorageError | None = None
    """A storage call made for it failed: its failure is the storage's (503)."""


@dataclass
class LoadReport:
    """What starting the project found: the steps that run and the problems."""

    steps: list[Step] = field(default_factory=list)
    errors: list[MotiadError] = field(default_factory=list)
    streams: list[StreamDefinition] = field(default_factory=list)
    """The streams the stream files declare, by name."""


def _storage_failure(written: asyncio.Future[None]) -> StorageError | None:
    """What a store's future for a write (``publish``, ``ack``) failed
    with, when storage failed it."""
    failure = None if written.cancelled() else written.exception()
    return failure if isinstance(failure, StorageError) else None


class Broker:
    """Everything between the HTTP layer and the children."""

    def __init__(
        self, project: Path, settings: Settings, store: Store, logs: LogBus, *, dev: bool = False
    ) -> None:
        self.project = project.resolve()
        self.dev = dev
        """Development checks on: API responses are checked against responseSchema."""
        self.settings = settings
        self.store = store
        self.logs = logs
        self.spans = SpanBus()
        """Every finished invocation (storage and the workbench subscribe)."""
        self.signals = Signals()
        """HTTP requests, emits and dead letters (the metrics and the export subscribe)."""
        self.reloaded: Bus[str] = Bus()
        """Step files reloaded by ``motiad dev``, by relative path (the workbench redraws)."""
        self.steps: dict[str, Step] = {}
        self.routes: RouteTable[Step] = RouteTable()
        self.subscribers: dict[str, list[Step]] = {}
        self.targets: dict[str, list[Target]] = {}
        """Per topic, the deliveries an emit creates (subscriber and first delay)."""
        self._invocations: dict[str, _Invocation] = {}
        self._finished: OrderedDict[str, _Invocation] = OrderedDict()
        self._workers: dict[str, Worker[Any]] = {}
        """Per step name, what feeds it (event deliveries or cron ticks)."""
        self._children_tg: TaskGroup | None = None
        self._serve_tg: TaskGroup | None = None
        self._children: list[Child] = []
        queue = settings.queue
        self.retry_policy = RetryPolicy(
            queue.max_retries, queue.backoff_initial_ms / 1000, queue.backoff_max_ms / 1000
        )
        self._methods: Mapping[str, Method] = {
            "emit": Method(EmitParams, self._emit),
            "state.get": Method(StateKeyParams, self._state_get),
            "state.set": Method(StateSetParams, self._state_set),
            "state.delete": Method(StateKeyParams, self._state_delete),
            "state.getGroup": Method(StateGroupParams, self._state_get_group),
            "state.clear": Method(StateGroupParams, self._state_clear),
            "stream.get": Method(StreamItemParams, self._stream_get),
            "stream.set": Method(StreamSetParams, self._stream_set),
            "stream.delete": Method(StreamItemParams, self._stream_delete),
            "stream.getGroup": Method(StreamGroupParams, self._stream_get_group),
            "stream.send": Method(StreamSendParams, self._stream_send),
        }
        self.streams = StreamRegistry()
        self._notifications: Mapping[str, Method] = {"log": Method(LogParams, self._log)}
        self._unrouted_topics: set[str] = set()
        self._undeclared: set[tuple[str, str]] = set()

    # --- starting -----------------------------------------------------------

    async def load(self, tg: TaskGroup) -> LoadReport:
        """Discover the step files and start one warm child for each, in ``tg``.

        A file that fails to load, or whose config is invalid or conflicts with
        another step, is reported and left out; the others run.
        """
        self._children_tg = tg
        report = LoadReport()
        loaded: dict[str, list[Step]] = {}
        files = discover_steps(
            self.project, self.settings.languages, self.settings.project.step_dirs
        )
        failed = await self._build({file.language for file in files}, files, report.errors)
        async with anyio.create_task_group() as starting:
            for file in files:
                if file.language not in failed:
                    starting.start_soon(self._start_file, file, report.errors, loaded)
            by_language: dict[str, list[StepFile]] = {}
            for stream_file in discover_streams(
                self.project, self.settings.languages, self.settings.project.step_dirs
            ):
                by_language.setdefault(stream_file.language, []).append(stream_file)
            for stream_files in by_language.values():
                starting.start_soon(self._load_streams, stream_files, report.errors)
        for relative in sorted(loaded):
            await self._register_file(relative, loaded[relative], report.errors)
        report.steps = list(self.steps.values())
        report.streams = sorted(self.streams.definitions.values(), key=lambda d: d.name)
        return report

    async def _build(
        self, languages: set[str], files: list[StepFile], errors: list[MotiadError]
    ) -> set[str]:
        """Run the registry's ``build`` of each of ``languages`` that has one, one
        after the other (their output stays readable); the languages whose build failed."""
        failed: set[str] = set()
        for language in sorted(languages):
            paths = [file.path for file in files if file.language == language]
            try:
                await build_language(language, self.project, self.settings, paths, self.logs)
            except ConfigError as exc:
                errors.append(exc)
                failed.add(language)
        return failed

    async def _start_file(
        self, file: StepFile, errors: list[MotiadError], loaded: dict[str, list[Step]]
    ) -> None:
        """Start the child for ``file`` and read its steps' configs into ``loaded``."""
        assert self._children_tg is not None
        try:
            command = child_command(file.language, self.project, self.settings, file.path)
        except ConfigError as exc:
            errors.append(exc)
            return
        child = self._child(ChildSpec(file.relative, command, [str(file.path)]))
        try:
            result = await self._children_tg.start(child.run)
        except ChildError as exc:
            errors.append(exc)
            return
        self._children.append(child)
        steps = loaded.setdefault(file.relative, [])
        for entry in result.steps:
            if entry.error is not None:
                error = entry.error
                errors.append(StepLoadError(file.relative, error.type, error.message, error.stack))
                continue
            try:
                steps.append(
                    Step(file, parse_step_config(entry.config or {}, file.relative), child)
                )
            except ConfigError as exc:
                errors.append(exc)

    def _child(self, spec: ChildSpec) -> Child:
        spec = replace(spec, log_records_per_s=self.settings.handler.max_log_records_per_s)
        return Child(spec, methods=self._methods, notifications=self._notifications, logs=self.logs)

    async def _load_streams(self, files: list[StepFile], errors: list[MotiadError]) -> None:
        """Read the configs of stream files of one language with a short-lived
        child of that language (SPEC ``lifecycle.streams``), and register them."""
        assert self._children_tg is not None
        try:
            command = child_command(files[0].language, self.project, self.settings)
        except ConfigError as exc:
            errors.append(exc)
            return
        label = f"stream files ({files[0].language})"
        spec = ChildSpec(label, command, [], stream_files=[str(f.path) for f in files])
        child = self._child(spec)
        try:
            result = await self._children_tg.start(child.run)
        except ChildError as exc:
            errors.append(exc)
            return
        finally:
            await child.stop()
        if isinstance(result.streams, msgspec.UnsetType):
            sdk = f"{result.sdk.name} {result.sdk.version}"
            errors.extend(
                ConfigError(f.relative, f"not loaded: {sdk} does not load stream files")
                for f in files
            )
            return
        for file, entry in zip(files, result.streams, strict=True):
            if entry.error is not None:
                error = entry.error
                errors.append(StepLoadError(file.relative, error.type, error.message, error.stack))
                continue
            try:
                self.streams.add(parse_stream_config(entry.config or {}, file.relative))
            except ConfigError as exc:
                errors.append(exc)

    async def _register_file(
        self, relative: str, steps: list[Step], errors: list[MotiadError]
    ) -> list[Step]:
        """Register the steps of one file; returns those that run. The file's
        child is stopped when none does (it would only hold memory)."""
        running = []
        for step in steps:
            try:
                self._register(step)
            except ConfigError as exc:
                errors.append(exc)
            else:
                running.append(step)
        child = next((c for c in self._children if c.spec.label == relative), None)
        if child is not None and not running:
            self._children.remove(child)
            await child.stop()
        return running

    def _compile(self, step: Step) -> None:
        """Compile the step's schemas and schedule; errors name the file and field."""
        config = step.config
        source = step.file.relative
        schemas: list[tuple[str, Any]] = []
        if isinstance(config, ApiStepConfig) and config.body_schema is not None:
            schemas.append(("bodySchema", config.body_schema))
        if isinstance(config, ApiStepConfig):
            for status, raw in (config.response_schema or {}).items():
                if not status.isdigit():
                    raise ConfigError(
                        source,
                        f"keys are HTTP statuses, got {status!r}",
                        field="config.responseSchema",
                    )
                schemas.append((f"responseSchema.{status}", raw))
        if isinstance(config, EventStepConfig) and config.input is not None:
            schemas.append(("input", config.input))
        for name, raw in schemas:
            try:
                compiled = Schema.compile(raw)
            except SchemaError as exc:
                raise ConfigError(source, exc.message, field=f"config.{name}") from None
            if name == "bodySchema":
                step.body_schema = compiled
            elif name == "input":
                step.input_schema = compiled
            else:
                step.response_schemas[int(name.removeprefix("responseSchema."))] = compiled
        if isinstance(config, CronStepConfig):
            try:
                step.schedule = Schedule.parse(config.cron)
            except CronError as exc:
                raise ConfigError(source, exc.message, field="config.cron") from None
        virtual = [e if isinstance(e, str) else e.topic for e in config.virtual_emits]
        step.emits = frozenset([*config.emitted_topics, *virtual])

    def _register(self, step: Step) -> None:
        self._compile(step)
        other = self.steps.get(step.name)
        if other is not None:
            raise ConfigError(
                step.file.relative,
                f"step name {step.name!r} is already used by {other.file.relative}",
                field="config.name",
            )
        config = step.config
        if isinstance(config, ApiStepConfig):
            try:
                self.routes.add(config.method, config.path, step)
            except RouteConflict as exc:
                holder = exc.existing
                assert isinstance(holder, Step)
                raise ConfigError(
                    step.file.relative,
                    f"{config.method} {config.path} is already served by"
                    f" {holder.file.relative} ({holder.name})",
                    field="config.path",
                ) from None
        elif isinstance(config, EventStepConfig):
            queue = config.infrastructure.queue
            target = Target(step.name, queue.delay_seconds, fifo=queue.type == "fifo")
            for topic in config.subscribes:
                self.subscribers.setdefault(topic, []).append(step)
                self.targets.setdefault(topic, []).append(target)
        self.steps[step.name] = step
        step.child.name = step.name

    async def serve(self, tg: TaskGroup) -> None:
        """Start consuming events for every event step and the schedule of every
        cron step, in ``tg``."""
        self._serve_tg = tg
        for step in self.steps.values():
            self._start_worker(step)
        self.store.route_enqueued(lambda topic: self.targets.get(topic, ()))

    def _start_worker(self, step: Step) -> None:
        assert self._serve_tg is not None
        worker: Worker[Any]
        if isinstance(step.config, EventStepConfig):
            fifo = step.config.infrastructure.queue.type == "fifo"
            self.store.open_queue(step.name, fifo=fifo, lease_s=step.lease_s(self.settings))
            worker = Worker(
                step.name,
                partial(self.store.take, step.name, TAKE_BATCH),
                self._deliver,
                abandon=self.store.release,
            )
        elif isinstance(step.config, CronStepConfig):
            worker = self._cron_worker(step)
        else:
            return
        self._workers[step.name] = worker
        self._serve_tg.start_soon(worker.run)

    async def reload_file(self, relative: str) -> LoadReport:
        """``motiad dev``: a step file changed, appeared or went away. Its steps
        stop (their deliveries stay due), its child stops, and if the file is
        still there it starts again. Every other step keeps serving."""
        report = LoadReport()
        path = self.project / relative
        stream_language = stream_language_of(Path(relative), self.settings.languages)
        if stream_language is not None:
            self.streams.remove_file(relative)
            if path.is_file():
                await self._load_streams([StepFile(path, relative, stream_language)], report.errors)
            report.streams = [d for d in self.streams.definitions.values() if d.file == relative]
            return report
        for step in [s for s in self.steps.values() if s.file.relative == relative]:
            self._unregister(step)
        for child in [c for c in self._children if c.spec.label == relative]:
            self._children.remove(child)
            await child.stop()
        try:
            language = language_of(Path(relative), self.settings.languages)
            files = discover_steps(
                self.project, self.settings.languages, self.settings.project.step_dirs
            )
        except ConfigError as exc:
            report.errors.append(exc)
            return report
        if language is not None and path.is_file():
            if await self._build({language}, files, report.errors):
                return report
            loaded: dict[str, list[Step]] = {}
            await self._start_file(StepFile(path, relative, language), report.errors, loaded)
            report.steps = await self._register_file(
                relative, loaded.get(relative, []), report.errors
            )
            for step in report.steps:
                self._start_worker(step)
        self.reloaded.publish(relative)
        return report

    def _unregister(self, step: Step) -> None:
        del self.steps[step.name]
        config = step.config
        if isinstance(config, ApiStepConfig):
            self.routes.remove(config.method, config.path)
        if isinstance(config, EventStepConfig):
            for topic in config.subscribes:
                self.subscribers[topic] = [s for s in self.subscribers[topic] if s is not step]
                self.targets[topic] = [t for t in self.targets[topic] if t.step != step.name]
        worker = self._workers.pop(step.name, None)
        if worker is not None:
            worker.cancel()
        if isinstance(config, EventStepConfig):
            self.store.close_queue(step.name)

    def _cron_worker(self, step: Step) -> Worker[datetime]:
        """Fires each tick of the step's schedule, computed in local time as
        node-cron does. Ticks missed while motiad was down are not replayed."""
        schedule = step.schedule
        assert schedule is not None
        assert isinstance(step.config, CronStepConfig)
        skip = step.config.skip_if_running

        async def next_tick() -> Sequence[datetime]:
            while True:
                due = schedule.next_after(datetime.now().astimezone())
                await anyio.sleep(max(0.0, (due - datetime.now().astimezone()).total_seconds()))
                if not (skip and worker.running):
                    return [due]
                self.logs.log(
                    "warn", "tick skipped: the previous run is still going", step=step.name
                )

        async def tick(due: datetime) -> FollowUp:
            try:  # several brokers may share the storage: the first to claim runs it
                if not await self.store.claim_tick(step.name, due.timestamp()):
                    return None
            except StorageError as exc:
                self.logs.log("warn", f"tick {due:%H:%M:%S} skipped: {exc}", step=step.name)
                return None
            trace_id = new_id()
            self.logs.log("debug", f"cron tick {due:%H:%M:%S}", step=step.name, trace_id=trace_id)
            with contextlib.suppress(MotiadError):  # logged by _invoke; the next tick runs
                await self._invoke(step, CronTrigger(), None, trace_id)
            return None

        worker: Worker[datetime] = Worker(step.name, next_tick, tick, concurrency=1_000)
        return worker

    async def drain(self, grace_s: float) -> None:
        """Stop taking events and ticks; wait up to ``grace_s`` for the running ones."""
        with anyio.move_on_after(grace_s):
            async with anyio.create_task_group() as tg:
                for worker in self._workers.values():
                    tg.start_soon(worker.drain)

    async def stop(self) -> None:
        """Abandon deliveries still running (they stay due in storage), stop children."""
        for worker in self._workers.values():
            worker.cancel()
        async with anyio.create_task_group() as tg:
            for child in self._children:
                tg.start_soon(child.stop)

    # --- invoking -----------------------------------------------------------

    async def call_api(
        self, step: Step, request: ApiRequest, trace_id: str, *, parent_id: str | None = None
    ) -> ApiResult:
        """Run an API step's handler under ``trace_id`` (as a child of the
        request's span ``parent_id``); returns its response.

        Raises :class:`InvalidInput` (the body fails ``bodySchema``), or what
        :meth:`_invoke` raises. A step with middleware is invoked even then, as
        Motia runs middleware before anything reads the body: its chain gets
        the 400 in place of the handler's response (SPEC ``invoke.refusal``).
        """
        trigger = ApiTrigger()
        if step.body_schema is not None:
            body = request.body
            if request.body_encoding is not None:
                kind = request.headers.get("content-type") or "no Content-Type"
                issues = [Issue("body", f"expected JSON, got bytes ({kind})")]
            else:
                value = msgspec.json.decode(body) if isinstance(body, msgspec.Raw) else body
                issues = step.body_schema.issues(value, root="body")
            if issues:
                refused = InvalidInput("request body does not match the step's bodySchema", issues)
                if not isinstance(step.config, ApiStepConfig) or not step.config.middleware:
                    raise refused
                body_400 = msgspec.Raw(msgspec.json.encode(refused.payload(trace_id)))
                trigger = ApiTrigger(refusal=ApiResult(400, body_400))
        raw = await self._invoke(step, trigger, request, trace_id, parent_id=parent_id)
        try:
            result = _api_result_decoder.decode(raw or b"null")
        except msgspec.ValidationError as exc:
            message = f"handler must return {{status, body?, headers?}}: {exc}"
            self.logs.log("error", message, step=step.name, trace_id=trace_id)
            raise RemoteError(ErrorCode.HANDLER_FAILED, message) from None
        if self.dev and step.response_schemas:
            self._check_response(step, result, trace_id)
        return result

    def _check_response(self, step: Step, result: ApiResult, trace_id: str) -> None:
        """``motiad dev``: warn when a response breaks the step's responseSchema."""
        schema = step.response_schemas.get(result.status)
        if schema is None:
            declared = ", ".join(str(s) for s in sorted(step.response_schemas))
            self.logs.log(
                "warn",
                f"responded {result.status}, which config.responseSchema does not declare"
                f" (declared: {declared})",
                step=step.name,
                trace_id=trace_id,
            )
            return
        issues = schema.issues(msgspec.json.decode(result.body), root="body")
        if issues:
            detail = "; ".join(f"{path}: {message}" for path, message in issues)
            self.logs.log(
                "warn",
                f"response {result.status} does not match config.responseSchema.{result.status}:"
                f" {detail}",
                step=step.name,
                trace_id=trace_id,
            )

    async def _invoke(
        self,
        step: Step,
        trigger: Trigger,
        payload: Any,
        trace_id: str,
        attempt: int = 1,
        *,
        parent_id: str | None = None,
    ) -> msgspec.Raw | None:
        """One invocation of ``step``'s handler; failures are logged under the
        trace. Its span is a child of the span ``parent_id`` (W3C ids, see
        :mod:`motiad.trace_context`), and the handler gets its ``traceparent``.

        Raises :class:`RemoteError` (the handler failed), :class:`InvocationTimeout`
        or :class:`ChildError` (the child died or is unavailable).
        """
        invocation_id = new_id()
        params = InvokeParams(
            str(step.file.path),
            trigger,
            payload,
            trace_id,
            invocation_id,
            attempt,
            int(step.timeout_s(self.settings) * 1000),
            format_traceparent(trace_id, span_id_of(invocation_id)),
        )
        invocation = self._invocations[invocation_id] = _Invocation(step, trace_id)
        started = time.time()
        record = partial(self._record_span, step, params, payload, started, parent_id=parent_id)
        try:
            result = await step.child.invoke(params)
        except anyio.get_cancelled_exc_class():
            record(ErrorInfo("CancelledError", "the invocation was cancelled"))
            raise
        except MotiadError as exc:
            cause = invocation.storage_failed
            if cause is not None and isinstance(exc, RemoteError):
                # the handler failed because storage did: say so (HTTP 503, retryable);
                # an outage is logged once by the store, not once per invocation
                level: Level = "debug" if isinstance(cause, StorageUnavailable) else "error"
                self.logs.log(level, f"failed: {cause}", step=step.name, trace_id=trace_id)
                failed = StorageError(f"{step.name} failed: {cause}")
                record(failure_info(failed))
                raise failed from None
            error = failure_info(exc)
            record(error)
            self.logs.log(
                "error",
                f"handler failed: {error.type}: {error.message}"
                if isinstance(exc, RemoteError)
                else str(exc),
                step=step.name,
                trace_id=trace_id,
                invocation_id=invocation_id,
                fields={"stack": error.stack} if error.stack else None,
            )
            raise
        finally:
            self._finish(invocation_id)
        record(None)
        return result

    def _record_span(
        self,
        step: Step,
        params: InvokeParams,
        payload: Any,
        started: float,
        error: ErrorInfo | None,
        *,
        parent_id: str | None = None,
    ) -> None:
        """Publish the span of a finished invocation (subscribers only buffer it)."""
        trigger = params.trigger
        if isinstance(trigger, EventTrigger):
            detail = trigger.topic
        elif isinstance(payload, ApiRequest):
            detail = f"{payload.method} {payload.path}"
        else:
            detail = step.trigger
        self.spans.publish(
            Span(
                params.invocation_id,
                params.trace_id,
                step.name,
                trigger.__struct_config__.tag,  # type: ignore[arg-type]
                detail,
                started,
                time.time(),
                "ok" if error is None else "error",
                params.attempt,
                error,
                parent_id,
            )
        )

    async def _deliver(self, delivery: Delivery) -> FollowUp:
        """Invoke the subscriber; a failure is settled here, a success returns
        its ack, which the worker awaits after freeing the delivery's slot."""
        step = self.steps[delivery.step]
        event = delivery.event
        trigger = EventTrigger(event.topic, event.id, event.message_group_id)
        try:
            try:
                await self._invoke(
                    step,
                    trigger,
                    event.data,
                    event.trace_id,
                    delivery.attempt,
                    parent_id=span_id_of(event.id),  # the emit's span
                )
            except MotiadError as exc:
                # a storage outage under the handler is logged once, by the store
                quiet = isinstance(exc, StorageError)
                await self._settle_failure(step, delivery, failure_info(exc), quiet=quiet)
                return None
        except StorageError as exc:
            self._not_settled(step, delivery, exc)
            return None
        try:
            acked = self.store.ack(delivery)
        except StorageError as exc:  # closed under us: the ack is not queued
            self._not_settled(step, delivery, exc)
            return None
        acked.add_done_callback(partial(self._acked, step, delivery))
        return acked

    def _acked(self, step: Step, delivery: Delivery, acked: asyncio.Future[None]) -> None:
        failure = _storage_failure(acked)
        if failure is not None:
            self._not_settled(step, delivery, failure)

    def _not_settled(self, step: Step, delivery: Delivery, exc: StorageError) -> None:
        # the outcome did not reach storage: the delivery comes back when its
        # lease runs out (at least once); the outage itself is logged by the store
        self.logs.log("debug", f"delivery {delivery.id} not settled: {exc}", step=step.name)

    async def _settle_failure(
        self, step: Step, delivery: Delivery, error: ErrorInfo, *, quiet: bool = False
    ) -> None:
        max_retries = step.config.infrastructure.queue.max_retries
        attempts = self.retry_policy.attempts(max_retries)
        if error.retryable and delivery.attempt < attempts:
            delay = self.retry_policy.delay_s(delivery.attempt)
            self.logs.log(
                "debug" if quiet else "warn",
                f"attempt {delivery.attempt}/{attempts} failed; retrying in {delay:.1f}s",
                step=step.name,
                trace_id=delivery.event.trace_id,
            )
            await self.store.retry(delivery, error, delay)
        else:
            reason = f"after {delivery.attempt} attempts" if error.retryable else "(not retryable)"
            await self.store.dead_letter(delivery, error)  # then say so: it is there now
            self.signals.dead_letters.publish(
                DeadLetterNote(step.name, delivery.event.topic, delivery.event.trace_id)
            )
            self.logs.log(
                "error",
                f"event {delivery.event.id} ({delivery.event.topic}) moved to the dead-letter"
                f" queue {reason}",
                step=step.name,
                trace_id=delivery.event.trace_id,
            )

    # --- serving children ---------------------------------------------------

    def _finish(self, invocation_id: str) -> None:
        self._finished[invocation_id] = self._invocations.pop(invocation_id)
        if len(self._finished) > FINISHED_INVOCATIONS_KEPT:
            self._finished.popitem(last=False)

    def _invocation(self, invocation_id: str) -> _Invocation:
        invocation = self._invocations.get(invocation_id) or self._finished.get(invocation_id)
        if invocation is None:
            raise RemoteError(
                ErrorCode.UNKNOWN_INVOCATION,
                f"invocation {invocation_id!r} is not running (did the handler return"
                " before awaiting this call?)",
            )
        return invocation

    def _emit(self, params: EmitParams) -> Later:
        """Serve ``emit`` in the child's reader: checked and queued for commit
        at once, answered from a callback of the commit (no task per emit: a
        busy emitter makes thousands a second)."""
        invocation = self._invocation(params.invocation_id)
        self._check_emit(invocation.step, params)
        event = Event(
            new_id(),
            params.topic,
            params.data,
            invocation.trace_id,
            params.message_group_id,
            time.time(),
        )
        result = EmitResult(event.id)
        self.signals.emits.publish(
            EmitSpan(
                event.id,
                event.topic,
                event.trace_id,
                event.created_at,
                invocation.step.name,
                params.invocation_id,
            )
        )
        targets = self.targets.get(params.topic)
        if targets:
            try:
                committed = self.store.publish(event, targets)
            except StorageError as exc:  # closed under us: nothing queued
                invocation.storage_failed = exc
                raise
            committed.add_done_callback(partial(self._note_storage_failure, invocation))
            return Later(committed, result)
        if params.topic not in self._unrouted_topics:
            self._unrouted_topics.add(params.topic)
            self.logs.log(
                "warn",
                f"no step subscribes to {params.topic!r}; its events are dropped",
                step=invocation.step.name,
                trace_id=invocation.trace_id,
            )
        dropped = asyncio.get_running_loop().create_future()
        dropped.set_result(None)
        return Later(dropped, result)

    @staticmethod
    def _note_storage_failure(invocation: _Invocation, committed: asyncio.Future[None]) -> None:
        failure = _storage_failure(committed)
        if failure is not None:
            invocation.storage_failed = failure

    def _check_emit(self, emitter: Step, params: EmitParams) -> None:
        """Refuse data that a subscriber's ``input`` schema rejects (at the emitter,
        where the bug is); warn once about topics the emitter did not declare."""
        topic = params.topic
        if topic not in emitter.emits and (emitter.name, topic) not in self._undeclared:
            self._undeclared.add((emitter.name, topic))
            self.logs.log(
                "warn",
                f"emits {topic!r}, which config.emits does not declare"
                " (add it, so flows and types show it)",
                step=emitter.name,
            )
        refused = self._input_issues(topic, params.data)
        if refused is not None:
            subscriber, issues = refused
            raise refused_params(
                f"emit {topic!r}: data does not match the input schema of"
                f" {subscriber.name} ({subscriber.file.relative})",
                issues,
                subscriber=subscriber.name,
            )

    def _input_issues(self, topic: str, raw: msgspec.Raw) -> tuple[Step, list[Issue]] | None:
        """The first subscriber of ``topic`` whose ``input`` schema rejects the
        data, with the problems; ``None`` when every subscriber accepts it."""
        data: Any = msgspec.UNSET
        for subscriber in self.subscribers.get(topic, ()):
            if subscriber.input_schema is None:
                continue
            if data is msgspec.UNSET:
                data = msgspec.json.decode(raw)
            issues = subscriber.input_schema.issues(data, root="data")
            if issues:
                return subscriber, list(issues)
        return None

    async def emit_event(
        self, topic: str, data: msgspec.Raw, message_group_id: str | None = None
    ) -> Event:
        """Emit an event from outside any step (the workbench), in a new trace.

        Raises :class:`InvalidInput` when no step subscribes to ``topic`` or a
        subscriber's ``input`` schema rejects ``data``."""
        targets = self.targets.get(topic)
        if not targets:
            raise InvalidInput(f"no step subscribes to {topic!r}", [("topic", "no subscriber")])
        refused = self._input_issues(topic, data)
        if refused is not None:
            subscriber, issues = refused
            raise InvalidInput(f"data does not match the input schema of {subscriber.name}", issues)
        event = Event(new_id(), topic, data, new_id(), message_group_id, time.time())
        await durable(self.store.publish(event, targets))
        self.signals.emits.publish(
            EmitSpan(event.id, topic, event.trace_id, event.created_at, None, None)
        )
        self.logs.log("info", f"emitted {topic} (event {event.id})", trace_id=event.trace_id)
        return event

    @contextlib.contextmanager
    def _storage_for(self, invocation: _Invocation) -> Iterator[None]:
        """Note a storage failure on the invocation it happened for."""
        try:
            yield
        except StorageError as exc:
            invocation.storage_failed = exc
            raise

    async def _state_get(self, params: StateKeyParams) -> msgspec.Raw | None:
        with self._storage_for(self._invocation(params.invocation_id)):
            return await self.store.state_get(params.group_id, params.key)

    async def _state_set(self, params: StateSetParams) -> msgspec.Raw:
        with self._storage_for(self._invocation(params.invocation_id)):
            await self.store.state_set(params.group_id, params.key, params.value)
        return params.value

    async def _state_delete(self, params: StateKeyParams) -> msgspec.Raw | None:
        with self._storage_for(self._invocation(params.invocation_id)):
            return await self.store.state_delete(params.group_id, params.key)

    async def _state_get_group(self, params: StateGroupParams) -> list[msgspec.Raw]:
        with self._storage_for(self._invocation(params.invocation_id)):
            return await self.store.state_group(params.group_id)

    async def _state_clear(self, params: StateGroupParams) -> None:
        with self._storage_for(self._invocation(params.invocation_id)):
            await self.store.state_clear(params.group_id)

    async def _stream_get(self, params: StreamItemParams) -> msgspec.Raw | None:
        invocation = self._invocation(params.invocation_id)
        self.streams.get(params.stream)
        with self._storage_for(invocation):
            return await self.store.stream_get(params.stream, params.group_id, params.id)

    async def _stream_set(self, params: StreamSetParams) -> msgspec.Raw:
        invocation = self._invocation(params.invocation_id)
        item = self.streams.item(params.stream, params.id, params.data)
        with self._storage_for(invocation):
            change = await self.store.stream_set(params.stream, params.group_id, params.id, item)
        return change.data

    async def _stream_delete(self, params: StreamItemParams) -> msgspec.Raw | None:
        invocation = self._invocation(params.invocation_id)
        self.streams.get(params.stream)
        with self._storage_for(invocation):
            change = await self.store.stream_delete(params.stream, params.group_id, params.id)
        return None if change is None else change.data

    async def _stream_get_group(self, params: StreamGroupParams) -> list[msgspec.Raw]:
        invocation = self._invocation(params.invocation_id)
        self.streams.get(params.stream)
        with self._storage_for(invocation):
            return await self.store.stream_group(params.stream, params.group_id)

    async def _stream_send(self, params: StreamSendParams) -> None:
        invocation = self._invocation(params.invocation_id)
        self.streams.get(params.stream)
        event = msgspec.Raw(_encode_event(_StreamEvent(params.type, params.data)))
        with self._storage_for(invocation):
            await self.store.stream_send(params.stream, params.group_id, params.id, event)

    async def _log(self, params: LogParams) -> None:
        invocation_id = params.invocation_id or ""
        invocation = self._invocations.get(invocation_id) or self._finished.get(invocation_id)
        self.logs.log(
            params.level,
            params.message,
            step=invocation.step.name if invocation else None,
            trace_id=invocation.trace_id if invocation else None,
            invocation_id=params.invocation_id,
            fields=params.fields,
        )
