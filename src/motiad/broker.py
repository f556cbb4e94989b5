"""The broker: everything between the HTTP layer and the children, composed
of small parts with one job each:

- :class:`~motiad.registry.StepRegistry`: the steps that run, by name, route and topic;
- :class:`~motiad.loader.StepLoader`: starts the children that host the
  steps, fills the registry, reloads a file (``motiad dev``); owns the children;
- :class:`~motiad.dispatch.Dispatch`: invokes steps (API calls, event
  deliveries with the retry policy, cron ticks); owns the workers;
- :class:`~motiad.services.ChildServices`: what children call (emit, state,
  streams, log).

The app owns the broker; the broker owns the tasks of its parts through the
task groups the app hands it."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import msgspec
from anyio.abc import TaskGroup

from .config import Settings
from .dispatch import Dispatch
from .invocations import InFlight, Invocations
from .loader import LoadReport, Reload, StepLoader
from .protocol.messages import ApiRequest, ApiResult
from .registry import BrokenFile, KnownStep, StepRegistry, broken_files
from .request_stream import BodyStreamStats, RequestBodyStream
from .response_stream import ResponseSink
from .routes import RouteTable
from .services import ChildServices
from .signals import Signals
from .steps import Step
from .storage import Event, Store
from .streams import StreamRegistry
from .supervisor import ChildStopping
from .tracing import Bus, LogBus, SpanBus


class Broker:
    """The registry, loader, dispatch and child services of one project, over one store."""

    def __init__(
        self, project: Path, settings: Settings, store: Store, logs: LogBus, *, dev: bool = False
    ) -> None:
        self.project = project.resolve()
        self.settings = settings
        self.store = store
        self.logs = logs
        self.spans = SpanBus()
        """Every finished invocation (storage and the workbench subscribe)."""
        self.signals = Signals()
        self.body_streams = BodyStreamStats()
        """What streamed request bodies hold at once (the metrics page shows it)."""
        """HTTP requests, emits and dead letters (the metrics and the export subscribe)."""
        self.registry = StepRegistry()
        invocations = Invocations()
        self.services = ChildServices(
            store, logs, self.registry, invocations, emits=self.signals.emits
        )
        self.dispatch = Dispatch(
            settings,
            store,
            logs,
            self.spans,
            invocations,
            dead_letters=self.signals.dead_letters,
            dev=dev,
        )
        self.loader = StepLoader(
            self.project,
            settings,
            logs,
            self.registry,
            methods=self.services.methods,
            notifications=self.services.notifications,
            spares=dev,
        )

    @property
    def steps(self) -> dict[str, Step]:
        """The steps that run, by name."""
        return self.registry.steps

    @property
    def routes(self) -> RouteTable[Step]:
        """API steps by method and path."""
        return self.registry.routes

    def broken_route(self, method: str, path: str) -> BrokenFile | None:
        """The step file that does not load whose step would serve this route
        (see :meth:`StepRegistry.broken_route`)."""
        return self.registry.broken_route(method, path)

    @property
    def streams(self) -> StreamRegistry:
        """The streams the stream files declare."""
        return self.registry.streams

    @property
    def reloaded(self) -> Bus[str]:
        """Step files reloaded by ``motiad dev``, by relative path (the workbench redraws)."""
        return self.loader.reloaded

    @property
    def problems(self) -> dict[str, list[str]]:
        """What keeps step files from loading now, by file (``motiad dev`` and
        the workbench show it until the file is fixed)."""
        return {file: record.messages for file, record in self.registry.broken.items()}

    async def load(self, tg: TaskGroup) -> LoadReport:
        """Discover the step files and start their warm children, in ``tg``;
        what loaded and what did not (see :meth:`StepLoader.load`)."""
        report = await self.loader.load(tg)
        self.registry.record_broken(list(self.registry.broken), broken_files(report.errors))
        return report

    async def serve(self, tg: TaskGroup) -> None:
        """Start consuming events for every event step and the schedule of every
        cron step, in ``tg``, and route the events ``motiad emit`` enqueues.

        The store is handed a lookup (the registry's :meth:`~StepRegistry.targets`)
        rather than handing enqueued events to the broker: routing an enqueued
        event must remove it and store its deliveries in one step of the backend
        (one transaction in SQLite, one script in Redis, so that of two brokers
        routing the same event one does nothing), and only the store sees such
        events arrive (another process's commit, a pub/sub wake-up). The store
        learns no routing rule: it asks for a topic's targets as it routes."""
        self.dispatch.serve(tg, list(self.registry.steps.values()))
        self.store.route_enqueued(self.registry.targets)

    async def reload_file(self, relative: str) -> LoadReport:
        """``motiad dev``: a step file changed, appeared or went away. The child
        that hosts it starts again beside the old one, then takes over its steps
        in one instant (workers included: their deliveries stay due); the old
        child finishes what it runs and stops. Every other child keeps serving."""
        reload = await self.loader.start_reload(relative)
        before = self.problems
        removed = self.loader.swap(reload)
        self._record_broken(reload, removed)
        for step in removed:
            self.dispatch.stop(step)
        for step in reload.report.steps:
            self.dispatch.start(step)
        await self.loader.finish_reload(reload)
        if not reload.announce and self.problems != before:
            # no step changed (a stream file, a failed build), but what the
            # workbench shows of the problems did
            self.reloaded.publish(relative)
        return reload.report

    def _record_broken(self, reload: Reload, removed: list[Step]) -> None:
        """What keeps the reloaded files from loading now, in the same instant
        as their steps change: a step that ran and broke keeps its last known
        routes (they answer 503 naming the error until the file is fixed)."""
        errors = reload.report.errors
        now = broken_files(errors)
        reloaded = {reload.relative, *reload.loaded, *now}
        known: dict[str, KnownStep] = {}
        for file in now:
            last = KnownStep.of_configs([s.config for s in removed if s.file.relative == file])
            earlier = self.registry.broken.get(file)
            step = last or (earlier.step if earlier else None)
            if step is not None:
                known[file] = step
        self.registry.record_broken(reloaded, broken_files(errors, known))

    async def drain(self, grace_s: float) -> None:
        """Stop taking events and ticks; wait up to ``grace_s`` for the running ones."""
        await self.dispatch.drain(grace_s)

    def in_flight(self) -> InFlight:
        """What runs now: requests, events, and for how long the oldest has."""
        return self.dispatch.in_flight()

    async def stop(self, *, now: bool = False) -> None:
        """Abandon deliveries still running (they stay due in storage), stop
        children: in stages, or ``now`` (a second Ctrl-C) with SIGKILL."""
        self.dispatch.cancel()
        await self.loader.stop(now=now)

    async def call_api(
        self,
        step: Step,
        request: ApiRequest,
        trace_id: str,
        sink: ResponseSink | None = None,
        *,
        parent_id: str | None = None,
        body: RequestBodyStream | None = None,
        caller_id: str | None = None,
    ) -> ApiResult:
        """Run an API step's handler under ``trace_id``, as a child of the
        request's span ``parent_id`` (a child of the caller's ``caller_id``);
        returns its response (see :meth:`Dispatch.call_api`)."""
        call = partial(
            self.dispatch.call_api,
            request=request,
            trace_id=trace_id,
            sink=sink,
            parent_id=parent_id,
            body_stream=body,
            caller_id=caller_id,
        )
        try:
            return await call(step)
        except ChildStopping:
            current = self.registry.steps.get(step.name)
            if current is None or current is step:
                raise
            # ``motiad dev`` replaced the step while this request was on its way
            # to the old child, which never got it: the new one answers it
            return await call(current)

    def refused(self, step: str, detail: str, trace_id: str, status: int, why: str) -> None:
        """Record a request refused before any handler ran (see :meth:`Dispatch.refused`)."""
        self.dispatch.refused(step, detail, trace_id, status, why)

    async def emit_event(
        self, topic: str, data: msgspec.Raw, message_group_id: str | None = None
    ) -> Event:
        """Emit an event from outside any step (the workbench), in a new trace
        (see :meth:`ChildServices.emit_event`)."""
        return await self.services.emit_event(topic, data, message_group_id)
