"""What the broker reports about its work besides invocation spans and log
records, for the metrics and the OpenTelemetry export: answered HTTP requests,
emits and dead letters. In-memory fan-out, as :mod:`motiad.tracing`'s buses."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from .tracing import Bus


@dataclass(slots=True)
class RequestSpan:
    """One HTTP request to the API, from arrival to response: the server span
    its step's invocation is a child of."""

    trace_id: str
    span_id: str
    parent_id: str | None
    """The caller's span, from its ``traceparent``; ``None``: the trace starts here."""
    method: str
    started_at: float
    ended_at: float = 0.0
    status: int = 0
    """0 when no response started (the client went away)."""
    step: str = ""
    """The API step that served it; empty when no route matched."""
    route: str = ""
    """The step's path pattern (``/pets/:id``), never the raw path."""
    tracestate: str | None = None
    """The caller's ``tracestate``, passed on as received."""


CURRENT_REQUEST: ContextVar[RequestSpan | None] = ContextVar("motiad_request", default=None)
"""The request being served, in its task (set by ``http.observed``): a
request refused before any handler ran records its one span as the child of
this one without every refusal passing it along."""


@dataclass(frozen=True, slots=True)
class EmitSpan:
    """One emitted event. Its W3C span id is that of the event id (see
    :mod:`motiad.trace_context`); its parent, the emitting invocation's."""

    event_id: str
    topic: str
    trace_id: str
    at: float
    step: str | None
    """The emitting step; ``None`` for an emit from outside (workbench, CLI)."""
    invocation_id: str | None


@dataclass(frozen=True, slots=True)
class DeadLetterNote:
    """A delivery moved to the dead-letter queue."""

    step: str
    topic: str
    trace_id: str


@dataclass(slots=True)
class Signals:
    """The buses; the broker publishes, the metrics and the export subscribe."""

    requests: Bus[RequestSpan] = field(default_factory=Bus)
    emits: Bus[EmitSpan] = field(default_factory=Bus)
    dead_letters: Bus[DeadLetterNote] = field(default_factory=Bus)
