"""Durable storage behind small Protocols: SQLite by default, Redis later."""

from .base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    LogQuery,
    Router,
    StateGroup,
    Store,
    StreamChange,
    StreamListener,
    StreamStore,
    Target,
    Trace,
    TraceQuery,
    TraceStore,
    TraceSummary,
    dead_letter_json,
)
from .sqlite import SqliteStore

__all__ = [
    "DeadLetter",
    "DeadLetterFilter",
    "Delivery",
    "Event",
    "LogQuery",
    "Router",
    "SqliteStore",
    "StateGroup",
    "Store",
    "StreamChange",
    "StreamListener",
    "StreamStore",
    "Target",
    "Trace",
    "TraceQuery",
    "TraceStore",
    "TraceSummary",
    "dead_letter_json",
]
