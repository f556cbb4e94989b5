"""State in the SQLite file: JSON values by (group, key)."""

from __future__ import annotations

import sqlite3
import time

import msgspec

from ..base import StateGroup
from .writer import Writer


class SqliteState:
    """The ``state`` table. Reads are plain calls: they run on the loop, on
    the reader connection (see :meth:`Writer.read`)."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The stored value, or ``None``."""
        row = (
            self._writer.read()
            .execute("SELECT value FROM state WHERE group_id = ? AND key = ?", (group_id, key))
            .fetchone()
        )
        return None if row is None else msgspec.Raw(row[0])

    async def set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Insert or replace; durable on return."""
        now = time.time()
        data = bytes(value)

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT (group_id, key)"
                " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (group_id, key, data, now),
            )

        await self._writer.write(apply)

    async def delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""

        def apply(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "DELETE FROM state WHERE group_id = ? AND key = ? RETURNING value",
                (group_id, key),
            ).fetchone()
            return None if row is None else bytes(row[0])

        old = await self._writer.write(apply)
        return None if old is None else msgspec.Raw(old)

    def group(self, group_id: str) -> list[msgspec.Raw]:
        """All values of the group, by key."""
        rows = self._writer.read().execute(
            "SELECT value FROM state WHERE group_id = ? ORDER BY key", (group_id,)
        )
        return [msgspec.Raw(value) for (value,) in rows]

    async def clear(self, group_id: str) -> None:
        """Delete the whole group."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM state WHERE group_id = ?", (group_id,))

        await self._writer.write(apply)

    def groups(self) -> list[StateGroup]:
        """Every group with its number of keys and last change, by group id."""
        rows = self._writer.read().execute(
            "SELECT group_id, count(*), max(updated_at) FROM state GROUP BY group_id"
            " ORDER BY group_id"
        )
        return [StateGroup(group_id, keys, updated_at) for group_id, keys, updated_at in rows]

    def items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, by key."""
        rows = self._writer.read().execute(
            "SELECT key, value FROM state WHERE group_id = ? ORDER BY key", (group_id,)
        )
        return [(key, msgspec.Raw(value)) for key, value in rows]
