"""Durable storage behind small Protocols: SQLite by default, Redis later."""

from .base import Delivery, Event, Store
from .sqlite import SqliteStore

__all__ = ["Delivery", "Event", "SqliteStore", "Store"]
