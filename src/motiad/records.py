"""The records a trace is made of: log lines and spans (finished invocations).

Plain data below storage and the trace bus alike: the store keeps records,
:mod:`motiad.tracing` decides what to record."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .protocol.messages import ErrorInfo

Level = Literal["debug", "info", "warn", "error"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warn", "error")
"""The levels from the least to the most severe (a filter on a level keeps the ones above it)."""


class LogRecord(msgspec.Struct, frozen=True, rename="camel"):
    """One log line, from user code, a child's stderr, or the broker itself (camelCase
    in JSON: the workbench and ``motiad logs --json``)."""

    time: float
    level: Level
    message: str
    step: str | None = None
    trace_id: str | None = None
    invocation_id: str | None = None
    fields: dict[str, Any] | None = None


Outcome = Literal["ok", "error"]
TriggerKind = Literal["api", "event", "cron", "streamHook"]


class Span(msgspec.Struct, frozen=True, rename="camel"):
    """One finished invocation of a step's handler, within its trace."""

    id: str
    """The invocation id: log records of the invocation carry it."""
    trace_id: str
    step: str
    trigger: TriggerKind
    detail: str
    """What fired it, for people: ``POST /messages``, the topic, the schedule."""
    started_at: float
    ended_at: float
    outcome: Outcome
    attempt: int = 1
    error: ErrorInfo | None = None
    parent_id: str | None = None
    """The W3C span id of its parent: the HTTP request's span (api), the emit's
    (event, see :mod:`motiad.trace_context`); ``None`` for a cron tick. Its own
    is that of ``id``."""
    caller_id: str | None = None
    """api: the span of the caller that sent the request (its ``traceparent``'s
    parent id), the parent of the request's span ``parent_id``; ``None`` when
    the trace began with the request."""
    emitted: list[str] | None = None
    """The ids of the events it emitted (before it finished). Each emit is a
    span too (W3C id: that of the event id), a child of this one and the parent
    of the spans of its deliveries: so a stored trace is a tree although only
    invocations are stored."""
