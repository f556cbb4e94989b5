"""Streams in the SQLite file: items by (stream, group, id), and the feed of
their changes to the listeners of this process (one broker owns the file)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import msgspec

from ..base import StreamChange, StreamChangeType, StreamListener, StreamListeners
from .writer import Writer


class SqliteStreams:
    """The ``stream_items`` table and its listeners."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._listeners = StreamListeners()
        self._last_change_ms = 0

    def get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The stored item, or ``None``."""
        row = (
            self._writer.read()
            .execute(
                "SELECT data FROM stream_items WHERE stream = ? AND group_id = ? AND id = ?",
                (stream, group_id, id),
            )
            .fetchone()
        )
        return None if row is None else msgspec.Raw(row[0])

    async def set(self, stream: str, group_id: str, id: str, item: msgspec.Raw) -> StreamChange:
        """Update or insert (one statement in the common case of an update)."""
        now = time.time()
        data = bytes(item)

        def apply(conn: sqlite3.Connection) -> StreamChangeType:
            updated = conn.execute(
                "UPDATE stream_items SET data = ?, updated_at = ?"
                " WHERE stream = ? AND group_id = ? AND id = ?",
                (data, now, stream, group_id, id),
            ).rowcount
            if updated:
                return "update"
            conn.execute(
                "INSERT INTO stream_items VALUES (?, ?, ?, ?, ?)", (stream, group_id, id, data, now)
            )
            return "create"

        def announce(kind: StreamChangeType) -> StreamChange:
            return self.announce(stream, group_id, id, kind, item)

        return await self._writer.write(apply, announce)

    async def update(
        self, stream: str, group_id: str, id: str, change: Callable[[bytes | None], bytes | None]
    ) -> tuple[msgspec.Raw | None, StreamChange | None]:
        """Read, change and write the item inside one write of the writer, which
        applies writes one after the other: nothing comes between (as state's
        ``update``; one broker owns the file)."""
        now = time.time()

        def apply(conn: sqlite3.Connection) -> tuple[bytes | None, bytes | None]:
            row = conn.execute(
                "SELECT data FROM stream_items WHERE stream = ? AND group_id = ? AND id = ?",
                (stream, group_id, id),
            ).fetchone()
            old = None if row is None else bytes(row[0])
            new = change(old)
            if new is not None:
                conn.execute(
                    "INSERT INTO stream_items VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (stream, group_id, id)"
                    " DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                    (stream, group_id, id, new, now),
                )
            return old, new

        def announce(
            written: tuple[bytes | None, bytes | None],
        ) -> tuple[msgspec.Raw | None, StreamChange | None]:
            old, new = written
            before = None if old is None else msgspec.Raw(old)
            if new is None:
                return before, None
            kind: StreamChangeType = "create" if old is None else "update"
            return before, self.announce(stream, group_id, id, kind, msgspec.Raw(new))

        return await self._writer.write(apply, announce)

    async def delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
        """Delete; the change carries the removed item."""

        def apply(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "DELETE FROM stream_items WHERE stream = ? AND group_id = ? AND id = ?"
                " RETURNING data",
                (stream, group_id, id),
            ).fetchone()
            return None if row is None else bytes(row[0])

        def announce(old: bytes | None) -> StreamChange | None:
            if old is None:
                return None
            return self.announce(stream, group_id, id, "delete", msgspec.Raw(old))

        return await self._writer.write(apply, announce)

    def group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """All items of the group, by id."""
        rows = self._writer.read().execute(
            "SELECT data FROM stream_items WHERE stream = ? AND group_id = ? ORDER BY id",
            (stream, group_id),
        )
        return [msgspec.Raw(data) for (data,) in rows]

    def names(self) -> list[str]:
        """Streams with stored items."""
        rows = self._writer.read().execute(
            "SELECT DISTINCT stream FROM stream_items ORDER BY stream"
        )
        return [name for (name,) in rows]

    def groups(self, stream: str) -> list[str]:
        """Groups of ``stream`` with stored items."""
        rows = self._writer.read().execute(
            "SELECT DISTINCT group_id FROM stream_items WHERE stream = ? ORDER BY group_id",
            (stream,),
        )
        return [group for (group,) in rows]

    def watch(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener`` for every change made through this store."""
        return self._listeners.add(listener)

    def announce(
        self,
        stream: str,
        group_id: str,
        id: str | None,
        kind: StreamChangeType,
        data: msgspec.Raw,
    ) -> StreamChange:
        """Stamp a change (strictly increasing milliseconds) and hand it to every
        listener (``send``: at once, nothing to commit; the others once committed)."""
        self._last_change_ms = max(int(time.time() * 1000), self._last_change_ms + 1)
        change = StreamChange(stream, group_id, id, kind, data, self._last_change_ms)
        self._listeners.tell(change)
        return change
