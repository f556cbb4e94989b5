"""The broker: starts a child per step file, routes API calls and events to
them, and serves their requests for emit, state and logs. It owns the tasks
that consume events; the app owns the broker."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from .config import (
    ApiStepConfig,
    CronStepConfig,
    EventStepConfig,
    Settings,
    StepConfig,
    parse_step_config,
)
from .discovery import StepFile, discover_steps
from .errors import ChildError, ConfigError, MotiadError, RemoteError, StepLoadError
from .protocol import ErrorCode
from .protocol.messages import (
    ApiRequest,
    ApiResult,
    ApiTrigger,
    EmitParams,
    EmitResult,
    ErrorInfo,
    EventTrigger,
    InvokeParams,
    LogParams,
    StateGroupParams,
    StateKeyParams,
    StateSetParams,
)
from .queue import Consumer, RetryPolicy
from .routes import RouteConflict, RouteTable
from .rpc import Method
from .runners import child_command
from .storage import Delivery, Event, Store, Target
from .supervisor import Child, ChildSpec, InvocationTimeout, handler_error
from .tracing import LogBus, new_id

_api_result_decoder = msgspec.json.Decoder(ApiResult)

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
        config = self.config
        if isinstance(config, ApiStepConfig):
            return f"{config.method} {config.path}"
        if isinstance(config, EventStepConfig):
            return ", ".join(config.subscribes)
        if isinstance(config, CronStepConfig):
            return config.cron
        return "—"

    def timeout_s(self, settings: Settings) -> float:
        """``infrastructure.handler.timeout``, else the project default."""
        return self.config.infrastructure.handler.timeout or settings.handler.timeout_s


@dataclass(frozen=True, slots=True)
class _Invocation:
    step: Step
    trace_id: str


@dataclass
class LoadReport:
    """What starting the project found: the steps that run and the problems."""

    steps: list[Step] = field(default_factory=list)
    errors: list[MotiadError] = field(default_factory=list)


class Broker:
    """Everything between the HTTP layer and the children."""

    def __init__(self, project: Path, settings: Settings, store: Store, logs: LogBus) -> None:
        self.project = project.resolve()
        self.settings = settings
        self.store = store
        self.logs = logs
        self.steps: dict[str, Step] = {}
        self.routes: RouteTable[Step] = RouteTable()
        self.subscribers: dict[str, list[Step]] = {}
        self.targets: dict[str, list[Target]] = {}
        """Per topic, the deliveries an emit creates (subscriber and first delay)."""
        self._invocations: dict[str, _Invocation] = {}
        self._finished: OrderedDict[str, _Invocation] = OrderedDict()
        self._consumers: list[Consumer] = []
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
        }
        self._notifications: Mapping[str, Method] = {"log": Method(LogParams, self._log)}
        self._unrouted_topics: set[str] = set()

    # --- starting -----------------------------------------------------------

    async def load(self, tg: TaskGroup) -> LoadReport:
        """Discover the step files and start one warm child for each, in ``tg``.

        A file that fails to load, or whose config is invalid or conflicts with
        another step, is reported and left out; the others run.
        """
        report = LoadReport()
        files = discover_steps(self.project)
        children: list[tuple[StepFile, Child]] = []
        for file in files:
            try:
                command = child_command(file.language, self.project, self.settings)
            except ConfigError as exc:
                report.errors.append(exc)
                continue
            spec = ChildSpec(file.relative, command, [str(file.path)])
            child = Child(
                spec, methods=self._methods, notifications=self._notifications, logs=self.logs
            )
            children.append((file, child))

        loaded: dict[str, tuple[StepFile, Child, Any]] = {}

        async def start(file: StepFile, child: Child) -> None:
            try:
                result = await tg.start(child.run)
            except ChildError as exc:
                report.errors.append(exc)
                return
            self._children.append(child)
            for entry in result.steps:
                if entry.error is not None:
                    error = entry.error
                    report.errors.append(
                        StepLoadError(file.relative, error.type, error.message, error.stack)
                    )
                else:
                    loaded[file.relative] = (file, child, entry.config)

        async with anyio.create_task_group() as starting:
            for file, child in children:
                starting.start_soon(start, file, child)

        for relative in sorted(loaded):
            file, child, raw_config = loaded[relative]
            try:
                self._register(Step(file, parse_step_config(raw_config, file.relative), child))
            except ConfigError as exc:
                report.errors.append(exc)
        report.steps = list(self.steps.values())
        return report

    def _register(self, step: Step) -> None:
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
            target = Target(step.name, config.infrastructure.queue.delay_seconds)
            for topic in config.subscribes:
                self.subscribers.setdefault(topic, []).append(step)
                self.targets.setdefault(topic, []).append(target)
        self.steps[step.name] = step
        step.child.name = step.name

    async def serve(self, tg: TaskGroup) -> None:
        """Start consuming events for every event step, in ``tg``."""
        for step in self.steps.values():
            if isinstance(step.config, EventStepConfig):
                fifo = step.config.infrastructure.queue.type == "fifo"
                self.store.open_queue(step.name, fifo=fifo)
                consumer = Consumer(step.name, self.store, self._deliver)
                self._consumers.append(consumer)
                tg.start_soon(consumer.run)
        self.store.route_enqueued(lambda topic: self.targets.get(topic, ()))

    async def drain(self, grace_s: float) -> None:
        """Stop taking events; wait up to ``grace_s`` for the running ones."""
        with anyio.move_on_after(grace_s):
            async with anyio.create_task_group() as tg:
                for consumer in self._consumers:
                    tg.start_soon(consumer.drain)

    async def stop(self) -> None:
        """Abandon deliveries still running (they stay due in storage), stop children."""
        for consumer in self._consumers:
            consumer.cancel()
        async with anyio.create_task_group() as tg:
            for child in self._children:
                tg.start_soon(child.stop)

    # --- invoking -----------------------------------------------------------

    async def call_api(self, step: Step, request: ApiRequest, trace_id: str) -> ApiResult:
        """Run an API step's handler under ``trace_id``; returns its response.

        Raises :class:`RemoteError`, :class:`InvocationTimeout` or :class:`ChildError`.
        """
        invocation_id = new_id()
        params = InvokeParams(
            str(step.file.path),
            ApiTrigger(),
            request,
            trace_id,
            invocation_id,
            1,
            int(step.timeout_s(self.settings) * 1000),
        )
        self._invocations[invocation_id] = _Invocation(step, trace_id)
        try:
            raw = await step.child.invoke(params)
        except RemoteError as exc:
            self._log_failure(step, trace_id, invocation_id, exc)
            raise
        except (InvocationTimeout, ChildError) as exc:
            self.logs.log("error", str(exc), step=step.name, trace_id=trace_id)
            raise
        finally:
            self._finish(invocation_id)
        try:
            return _api_result_decoder.decode(raw or b"null")
        except msgspec.ValidationError as exc:
            message = f"handler must return {{status, body?, headers?}}: {exc}"
            self.logs.log("error", message, step=step.name, trace_id=trace_id)
            raise RemoteError(ErrorCode.HANDLER_FAILED, message) from None

    async def _deliver(self, delivery: Delivery) -> None:
        step = self.steps[delivery.step]
        event = delivery.event
        invocation_id = new_id()
        params = InvokeParams(
            str(step.file.path),
            EventTrigger(event.topic, event.id, event.message_group_id),
            event.data,
            event.trace_id,
            invocation_id,
            delivery.attempt,
            int(step.timeout_s(self.settings) * 1000),
        )
        self._invocations[invocation_id] = _Invocation(step, event.trace_id)
        try:
            await step.child.invoke(params)
        except RemoteError as exc:
            error = self._log_failure(step, event.trace_id, invocation_id, exc)
            await self._settle_failure(step, delivery, error)
        except InvocationTimeout as exc:
            self.logs.log("error", str(exc), step=step.name, trace_id=event.trace_id)
            await self._settle_failure(step, delivery, ErrorInfo("TimeoutError", str(exc)))
        except ChildError as exc:
            self.logs.log("error", str(exc), step=step.name, trace_id=event.trace_id)
            await self._settle_failure(step, delivery, ErrorInfo("ChildError", str(exc)))
        else:
            await self.store.ack(delivery)
        finally:
            self._finish(invocation_id)

    async def _settle_failure(self, step: Step, delivery: Delivery, error: ErrorInfo) -> None:
        max_retries = step.config.infrastructure.queue.max_retries
        attempts = self.retry_policy.attempts(max_retries)
        if error.retryable and delivery.attempt < attempts:
            delay = self.retry_policy.delay_s(delivery.attempt)
            self.logs.log(
                "warn",
                f"attempt {delivery.attempt}/{attempts} failed; retrying in {delay:.1f}s",
                step=step.name,
                trace_id=delivery.event.trace_id,
            )
            await self.store.retry(delivery, error, delay)
        else:
            reason = f"after {delivery.attempt} attempts" if error.retryable else "(not retryable)"
            self.logs.log(
                "error",
                f"event {delivery.event.id} ({delivery.event.topic}) moved to the dead-letter"
                f" queue {reason}",
                step=step.name,
                trace_id=delivery.event.trace_id,
            )
            await self.store.dead_letter(delivery, error)

    def _log_failure(
        self, step: Step, trace_id: str, invocation_id: str, exc: RemoteError
    ) -> ErrorInfo:
        if exc.code == ErrorCode.HANDLER_FAILED:
            error = handler_error(exc)
            self.logs.log(
                "error",
                f"handler failed: {error.type}: {error.message}",
                step=step.name,
                trace_id=trace_id,
                invocation_id=invocation_id,
                stack=error.stack,
            )
            return error
        self.logs.log(
            "error",
            f"invocation failed: {exc.message} (code {exc.code})",
            step=step.name,
            trace_id=trace_id,
            invocation_id=invocation_id,
        )
        return ErrorInfo("InvocationError", exc.message, retryable=True)

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

    async def _emit(self, params: EmitParams) -> EmitResult:
        invocation = self._invocation(params.invocation_id)
        event = Event(
            new_id(),
            params.topic,
            params.data,
            invocation.trace_id,
            params.message_group_id,
            time.time(),
        )
        targets = self.targets.get(params.topic)
        if targets:
            await self.store.publish(event, targets)
        elif params.topic not in self._unrouted_topics:
            self._unrouted_topics.add(params.topic)
            self.logs.log(
                "warn",
                f"no step subscribes to {params.topic!r}; its events are dropped",
                step=invocation.step.name,
                trace_id=invocation.trace_id,
            )
        return EmitResult(event.id)

    async def _state_get(self, params: StateKeyParams) -> msgspec.Raw | None:
        self._invocation(params.invocation_id)
        return await self.store.state_get(params.group_id, params.key)

    async def _state_set(self, params: StateSetParams) -> msgspec.Raw:
        self._invocation(params.invocation_id)
        await self.store.state_set(params.group_id, params.key, params.value)
        return params.value

    async def _state_delete(self, params: StateKeyParams) -> msgspec.Raw | None:
        self._invocation(params.invocation_id)
        return await self.store.state_delete(params.group_id, params.key)

    async def _state_get_group(self, params: StateGroupParams) -> list[msgspec.Raw]:
        self._invocation(params.invocation_id)
        return await self.store.state_group(params.group_id)

    async def _state_clear(self, params: StateGroupParams) -> None:
        self._invocation(params.invocation_id)
        await self.store.state_clear(params.group_id)

    async def _log(self, params: LogParams) -> None:
        invocation_id = params.invocation_id or ""
        invocation = self._invocations.get(invocation_id) or self._finished.get(invocation_id)
        self.logs.log(
            params.level,
            params.message,
            step=invocation.step.name if invocation else None,
            trace_id=invocation.trace_id if invocation else None,
            invocation_id=params.invocation_id,
            **(params.fields or {}),
        )
