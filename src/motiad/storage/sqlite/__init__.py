"""The embedded default backend: one SQLite file in WAL mode, one owner task
writing it (:mod:`.writer`), its tables made by versioned migrations
(:mod:`.schema`), the queue, state, streams and traces each in its module,
composed by :class:`SqliteStore`."""

from .store import SqliteStore

__all__ = ["SqliteStore"]
