"""A loaded step: its file, its config, the children that run it, and what its
config compiles to (schemas, schedule, the topics it emits). Built complete by
:meth:`Step.compile` and never changed after: a reload makes a new one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .config import ApiStepConfig, CronStepConfig, EventStepConfig, Settings, StepConfig
from .cron import CronError, Schedule
from .discovery import StepFile
from .errors import ConfigError
from .flows import trigger_text
from .pool import ChildPool
from .schemas import Schema, SchemaError

LEASE_MARGIN_S = 5.0
"""Added to a step's handler timeout to make the lease on its deliveries: room
for the outcome of an invocation that timed out to reach storage."""


@dataclass(frozen=True, eq=False, slots=True)
class Step:
    """A loaded step and the children that run it."""

    file: StepFile
    config: StepConfig
    pool: ChildPool
    body_schema: Schema | None = None
    """``bodySchema`` of an API step, compiled."""
    input_schema: Schema | None = None
    """``input`` of an event step, compiled: checked on every emit to it."""
    schedule: Schedule | None = None
    """``cron`` of a cron step, parsed."""
    response_schemas: Mapping[int, Schema] = field(default_factory=dict)
    """``responseSchema`` of an API step by status, compiled (checked in ``motiad dev``)."""
    emits: frozenset[str] = frozenset()
    """Every topic the step declares it emits (``emits`` and ``virtualEmits``)."""
    stream_body: bool = False
    """An API step that reads its request body as a stream (``streamBody``)."""

    @classmethod
    def compile(cls, file: StepFile, config: StepConfig, pool: ChildPool) -> Step:
        """The step with its schemas and schedule compiled.

        Raises :class:`ConfigError` naming the file and the field that does not compile.
        """
        source = file.relative
        body_schema = input_schema = None
        response_schemas: dict[int, Schema] = {}
        if isinstance(config, ApiStepConfig):
            responses = config.response_schema or {}
            for status in responses:
                if not status.isdigit():
                    raise ConfigError(
                        source,
                        f"keys are HTTP statuses, got {status!r}",
                        field="config.responseSchema",
                    )
            if config.body_schema is not None:
                if config.stream_body:
                    raise ConfigError(
                        source,
                        "a body read as a stream cannot be checked against bodySchema;"
                        " drop one of them",
                        field="config.streamBody",
                    )
                body_schema = _compiled(source, "bodySchema", config.body_schema)
            for status, raw in responses.items():
                response_schemas[int(status)] = _compiled(source, f"responseSchema.{status}", raw)
        if isinstance(config, EventStepConfig) and config.input is not None:
            input_schema = _compiled(source, "input", config.input)
        schedule = None
        if isinstance(config, CronStepConfig):
            try:
                schedule = Schedule.parse(config.cron)
            except CronError as exc:
                raise ConfigError(source, exc.message, field="config.cron") from None
        virtual = [e if isinstance(e, str) else e.topic for e in config.virtual_emits]
        return cls(
            file,
            config,
            pool,
            body_schema=body_schema,
            input_schema=input_schema,
            schedule=schedule,
            response_schemas=MappingProxyType(response_schemas),
            emits=frozenset([*config.emitted_topics, *virtual]),
            stream_body=isinstance(config, ApiStepConfig) and config.stream_body,
        )

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


def _compiled(source: str, name: str, raw: Any) -> Schema:
    try:
        return Schema.compile(raw)
    except SchemaError as exc:
        raise ConfigError(source, exc.message, field=f"config.{name}") from None
