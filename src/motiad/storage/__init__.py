"""Durable storage behind small Protocols: SQLite by default, Redis when several
brokers serve one project."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from .base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    Health,
    LogQuery,
    QueueStats,
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
    durable,
)
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .redis import RedisStore


def __getattr__(name: str) -> Any:
    # redis-py costs a sixth of a second to import: only projects on Redis pay it
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(settings: Settings, project: Path, *, health: Health | None = None) -> Store:
    """The backend ``settings.storage`` names (not yet serving: run its ``serve``)."""
    if settings.uses_redis:
        from .redis import RedisStore

        return RedisStore(settings.storage, health=health, retention=settings.traces)
    return SqliteStore(settings.sqlite_path(project), health=health, retention=settings.traces)


__all__ = [
    "DeadLetter",
    "DeadLetterFilter",
    "Delivery",
    "Event",
    "Health",
    "LogQuery",
    "QueueStats",
    "RedisStore",
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
    "durable",
    "open_store",
]
