"""Durable storage behind small Protocols: SQLite by default, Redis later."""

from .base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    Router,
    Store,
    StreamChange,
    StreamListener,
    StreamStore,
    Target,
)
from .sqlite import SqliteStore

__all__ = [
    "DeadLetter",
    "DeadLetterFilter",
    "Delivery",
    "Event",
    "Router",
    "SqliteStore",
    "Store",
    "StreamChange",
    "StreamListener",
    "StreamStore",
    "Target",
]
