"""The steps that run and the tables that find them: by name, by API route,
by topic (subscribers and the deliveries an emit creates), and the streams.

Synchronous and free of I/O: the loader fills it as children report their
steps; the HTTP layer, the dispatch and the child services read it."""

from __future__ import annotations

from collections.abc import Sequence

from .config import ApiStepConfig, EventStepConfig, StepConfig
from .discovery import StepFile
from .errors import ConfigError
from .pool import ChildPool
from .routes import RouteConflict, RouteTable
from .steps import Step
from .storage import Target
from .streams import StreamRegistry


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
