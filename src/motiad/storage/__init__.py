"""Durable storage behind small Protocols: SQLite by default, Redis later."""

from .base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    Router,
    Store,
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
    "Target",
]
