"""The steps that run and the tables that find them: by name, by API route,
by topic (subscribers and the deliveries an emit creates), and the streams.

Synchronous and free of I/O: the loader fills it as children report their
steps; the HTTP layer, the dispatch and the child services read it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from .config import ApiStepConfig, EventStepConfig, StepConfig, check_step
from .discovery import StepFile
from .errors import ConfigError, MotiadError, StepLoadError
from .flows import BrokenFlowStep, FlowStep, trigger_text
from .pool import ChildPool
from .routes import Match, RouteConflict, RouteTable
from .steps import Step
from .storage import Target
from .streams import StreamRegistry

_STEP_TYPES = frozenset(str(config.__struct_config__.tag) for config in get_args(StepConfig))
_TRIGGER_TYPES = {"http": "api", "queue": "event", "cron": "cron"}
"""Motia 1.x trigger types as the step types they are served as."""


@dataclass(frozen=True, slots=True)
class KnownStep:
    """What is known of a step that does not run: from its last loaded config
    (``motiad dev``: the file was edited into a broken state), or from the
    config its child reported when motiad could not accept it. Its routes
    answer 503 naming the error; the workbench draws it, broken, in its flows."""

    name: str | None
    type: str | None
    """``api``, ``event``, ``cron`` or ``noop``; ``None`` when it cannot be told."""
    trigger: str | None
    """What makes it run, for people (``GET /orders``)."""
    flows: tuple[str, ...]
    routes: tuple[tuple[str, str], ...]
    """``(method, path)`` of each route it would serve."""

    @classmethod
    def of_configs(cls, configs: Sequence[StepConfig]) -> KnownStep | None:
        """From the accepted configs of one step file (a Motia 1.x step has
        one per trigger), ``None`` when there are none."""
        if not configs:
            return None
        first = FlowStep("", "", configs[0])
        routes = tuple((c.method, c.path) for c in configs if isinstance(c, ApiStepConfig))
        return cls(
            first.name,
            first.type,
            ", ".join(trigger_text(c) for c in configs),
            tuple(configs[0].flows),
            routes,
        )

    @classmethod
    def of_raw(cls, raw: Mapping[str, Any] | None) -> KnownStep | None:
        """From a config a child reported but motiad did not accept: each field
        read only if it has the right shape (the bad one is named by the load
        error); a route only when its method and path are ones a step may serve."""
        if not isinstance(raw, Mapping):
            return None
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        flows = raw.get("flows")
        flows = tuple(f for f in flows if isinstance(f, str)) if isinstance(flows, list) else ()
        triggers = raw.get("triggers")
        if isinstance(triggers, list):  # Motia 1.x: the routes of its http triggers
            entries = [t for t in triggers if isinstance(t, Mapping)]
            types = [_TRIGGER_TYPES.get(str(t.get("type"))) for t in entries]
            routes = [_route(t) for t in entries if t.get("type") == "http"]
            type_ = next((t for t in types if t is not None), None)
        else:
            declared = raw.get("type")
            type_ = declared if isinstance(declared, str) and declared in _STEP_TYPES else None
            routes = [_route(raw)] if type_ == "api" else []
        served = tuple(r for r in routes if r is not None)
        trigger = ", ".join(f"{m} {p}" for m, p in served) or None
        if name is None and type_ is None and not served:
            return None
        return cls(name, str(type_) if type_ else None, trigger, flows, served)


def _route(raw: Mapping[str, Any]) -> tuple[str, str] | None:
    """The route of a refused config, if its method and path pass the checks
    an accepted one does."""
    method, path = raw.get("method"), raw.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        return None
    try:
        check_step(ApiStepConfig(name="route", path=path, method=method.upper()), "")
    except ConfigError:
        return None
    return method.upper(), path


class BrokenConfig(ConfigError):
    """A step config that was read but not accepted (a bad field, a schema that
    does not compile, a name already taken), with what could be read of it."""

    def __init__(self, error: ConfigError, step: KnownStep | None) -> None:
        super().__init__(error.source, error.message, field=error.field)
        self.step = step


class UnrunnableStep(StepLoadError):
    """A step file that failed to load; ``step``: what could be read of its
    config when its child reported one beside the error (a step without a
    handler, SPEC ``lifecycle.initialize``), else ``None``."""

    def __init__(self, error: StepLoadError, step: KnownStep | None) -> None:
        super().__init__(error.path, error.type, error.detail, error.stack)
        self.step = step


class BuildFailed(ConfigError):
    """A language's build failed: every step file it built is broken by it
    (one error, shown once, recorded for each of them)."""

    def __init__(self, error: ConfigError, files: Sequence[str]) -> None:
        super().__init__(error.source, error.message, field=error.field)
        self.files = tuple(files)


@dataclass(frozen=True, slots=True)
class BrokenFile:
    """A step file that does not load now (``""``: a problem of the project's),
    its errors, and what is known of its step."""

    file: str
    errors: tuple[MotiadError, ...]
    step: KnownStep | None = None

    @property
    def messages(self) -> list[str]:
        """Each error as people read it (file:line, what failed)."""
        return [str(error) for error in self.errors]

    @property
    def line(self) -> int | None:
        """The line of the file the first error that names one points at."""
        lines = (e.line for e in self.errors if isinstance(e, StepLoadError))
        return next((line for line in lines if line is not None), None)

    def flow_step(self) -> BrokenFlowStep:
        """What the flow graph draws of it (the workbench)."""
        known = self.step
        return BrokenFlowStep(
            self.file,
            known.name if known else None,
            known.type if known else None,
            known.trigger if known else None,
            known.flows if known else (),
            tuple(self.messages),
            self.line,
        )


def broken_files(
    errors: Iterable[MotiadError], known: Mapping[str, KnownStep] | None = None
) -> dict[str, BrokenFile]:
    """Load errors as records by the file they name; each file's step is what
    its errors could read of it, else what ``known`` (its last loaded config) says."""
    grouped: dict[str, list[MotiadError]] = {}
    for error in errors:
        files = (
            error.files
            if isinstance(error, BuildFailed)
            else (error.source,)
            if isinstance(error, ConfigError)
            else (error.path,)
            if isinstance(error, StepLoadError)
            else ("",)
        )
        for file in files:
            grouped.setdefault(file, []).append(error)
    records = {}
    for file, found in grouped.items():
        read = (
            e.step
            for e in found
            if isinstance(e, BrokenConfig | UnrunnableStep) and e.step is not None
        )
        step = next(read, None) or (known or {}).get(file)
        records[file] = BrokenFile(file, tuple(found), step)
    return records


class StepRegistry:
    """Every registered step, its route or its topics, and the streams."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        """By name."""
        self.routes: RouteTable[Step] = RouteTable()
        """API steps by method and path."""
        self.streams = StreamRegistry()
        self.stream_hooks: dict[str, Step] = {}
        """By stream name, the stream file (as a step that never routes anything)
        whose child runs the stream's join and leave hooks (SPEC ``stream.hooks``)."""
        self.stream_auth: Step | None = None
        """``motia.config.ts`` as such a step, when it exports ``authenticateStream``."""
        self._subscribers: dict[str, list[Step]] = {}
        self._targets: dict[str, list[Target]] = {}
        self.broken: dict[str, BrokenFile] = {}
        """The step files that do not load now, by relative path."""
        self._broken_routes: RouteTable[BrokenFile] = RouteTable()

    def record_broken(self, files: Iterable[str], broken: Mapping[str, BrokenFile]) -> None:
        """The step files ``files`` were (re)loaded: forget what kept them from
        loading, and record ``broken``; the broken steps' routes follow."""
        for file in files:
            self.broken.pop(file, None)
        self.broken.update(broken)
        routes: RouteTable[BrokenFile] = RouteTable()
        for record in self.broken.values():
            for method, path in record.step.routes if record.step else ():
                # two broken steps claiming one route: the first one is named
                with contextlib.suppress(RouteConflict):
                    routes.add(method, path, record)
        self._broken_routes = routes

    def unread(self) -> list[str]:
        """The step files that failed before any config could be read: a path
        no step serves may be one of theirs (a 404 says so)."""
        return sorted(f for f, record in self.broken.items() if f and record.step is None)

    def broken_flow_steps(self) -> list[BrokenFlowStep]:
        """What the flow graph draws of the files that do not load: not the
        project's own problems (they belong to no step), nor a file whose last
        good version still serves (its new one did not build: drawn as its
        running steps, the banner says what failed)."""
        return [
            record.flow_step()
            for record in self.broken.values()
            if record.file and not self.in_file(record.file)
        ]

    def broken_route(self, method: str, path: str) -> BrokenFile | None:
        """The broken step whose route this would be (no running step serves it)."""
        match = self._broken_routes.match(method, path)
        return match.target if isinstance(match, Match) else None

    def subscribers(self, topic: str) -> Sequence[Step]:
        """The event steps that subscribe to ``topic``, in registration order."""
        return self._subscribers.get(topic, ())

    def targets(self, topic: str) -> Sequence[Target]:
        """The deliveries an event of ``topic`` creates (subscriber and first delay)."""
        return self._targets.get(topic, ())

    def in_file(self, relative: str) -> list[Step]:
        """The registered steps of one step file."""
        return [s for s in self.steps.values() if s.file.relative == relative]

    def add(self, file: StepFile, config: StepConfig, pool: ChildPool) -> Step:
        """Compile and register the step ``config`` describes.

        Raises :class:`ConfigError` (naming the file and field) when it does not
        compile, or its name or route is already taken: nothing is registered then.
        """
        step = Step.compile(file, config, pool)
        other = self.steps.get(step.name)
        if other is not None:
            raise ConfigError(
                step.file.relative,
                f"step name {step.name!r} is already used by {other.file.relative}",
                field="config.name",
            )
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
                self._subscribers.setdefault(topic, []).append(step)
                self._targets.setdefault(topic, []).append(target)
        self.steps[step.name] = step
        return step

    def remove(self, step: Step) -> None:
        """Unregister ``step``: no route, topic or name leads to it any more."""
        del self.steps[step.name]
        config = step.config
        if isinstance(config, ApiStepConfig):
            self.routes.remove(config.method, config.path)
        if isinstance(config, EventStepConfig):
            for topic in config.subscribes:
                self._subscribers[topic] = [s for s in self._subscribers[topic] if s is not step]
                self._targets[topic] = [t for t in self._targets[topic] if t.step != step.name]
