"""The embedded default backend: one SQLite file in WAL mode.

One owner task writes. Writes from many tasks are queued to it and applied in
batches, one transaction per batch (group commit), so a busy flow is not bound
by one commit per event; each caller is answered only after its batch commits.
Reads run on the event loop on their own connection: in WAL mode they never
wait for the writer, and a small indexed read costs less than a thread hop.

This backend assumes one broker owns the file (the app takes a lock), so the
schedule of due deliveries lives in memory and is rebuilt from the table on
start; a delivery that was in flight when the broker died is simply due again.
"""

from __future__ import annotations

import heapq
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..errors import StorageError
from .base import Delivery, Event

T = TypeVar("T")

BATCH_MAX = 512
"""Writes applied per transaction at most: large enough to amortise a commit,
small enough that one batch never holds the writer for long."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    trace_id TEXT NOT NULL,
    message_group_id TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL REFERENCES events(id),
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    due_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(status, step);
CREATE TABLE IF NOT EXISTS state (
    group_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (group_id, key)
) WITHOUT ROWID;
"""


@dataclass(eq=False)
class _Write(Generic[T]):
    apply: Callable[[sqlite3.Connection], T]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: T | None = None
    error: BaseException | None = None


@dataclass
class _StepSchedule:
    ready: deque[Delivery] = field(default_factory=deque)
    delayed: list[tuple[float, int, Delivery]] = field(default_factory=list)
    wake: anyio.Event = field(default_factory=anyio.Event)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a killed process (the failure we
    # promise to survive); only a power loss may drop the last transactions.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class SqliteStore:
    """Queue and state in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._send: MemoryObjectSendStream[_Write[Any]]
        self._receive: MemoryObjectReceiveStream[_Write[Any]]
        self._send, self._receive = anyio.create_memory_object_stream[_Write[Any]](10_000)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._schedules: dict[str, _StepSchedule] = {}
        self._seq = 0

    # --- lifecycle ----------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the file, load pending deliveries, then apply writes until cancelled."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await anyio.to_thread.run_sync(_connect, self.path)
            self._writer.executescript(_SCHEMA)
            self._reader = _connect(self.path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        try:
            self._load_pending()
            task_status.started()
            async with self._receive:
                async for first in self._receive:
                    batch = [first]
                    while len(batch) < BATCH_MAX:
                        try:
                            batch.append(self._receive.receive_nowait())
                        except anyio.WouldBlock:
                            break
                    await anyio.to_thread.run_sync(self._apply, batch)
                    for write in batch:
                        write.done.set()
        finally:
            self._send.close()
            self._close()

    def _close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    def _apply(self, batch: list[_Write[Any]]) -> None:
        conn = self._writer
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        for write in batch:
            conn.execute("SAVEPOINT op")
            try:
                write.result = write.apply(conn)
                conn.execute("RELEASE op")
            except Exception as exc:  # one bad write must not sink its batch-mates
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                write.error = exc
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            for write in batch:
                write.error = write.error or exc

    async def _write(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        write: _Write[T] = _Write(apply)
        try:
            await self._send.send(write)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise StorageError(f"{self.path}: storage is closed") from None
        await write.done.wait()
        if write.error is not None:
            raise StorageError(f"{self.path}: {write.error}") from write.error
        return write.result  # type: ignore[return-value]

    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageError(f"{self.path}: storage is not open")
        return self._reader

    # --- queue --------------------------------------------------------------

    def _load_pending(self) -> None:
        rows = self._read().execute(
            "SELECT d.id, d.step, d.attempt, d.due_at, e.id, e.topic, e.data, e.trace_id,"
            " e.message_group_id, e.created_at FROM deliveries d JOIN events e"
            " ON e.id = d.event_id WHERE d.status = 'pending' ORDER BY d.id"
        )
        for d_id, step, attempt, due_at, *event in rows:
            ev = Event(event[0], event[1], msgspec.Raw(event[2]), *event[3:])
            self._schedule(Delivery(d_id, ev, step, attempt), due_at)

    def _schedule(self, delivery: Delivery, due_at: float) -> None:
        schedule = self._schedules.setdefault(delivery.step, _StepSchedule())
        if due_at <= time.time():
            schedule.ready.append(delivery)
        else:
            self._seq += 1
            heapq.heappush(schedule.delayed, (due_at, self._seq, delivery))
        schedule.wake.set()

    async def publish(self, event: Event, subscribers: list[str], delay_s: float = 0) -> None:
        """Commit the event and its deliveries; then make them due."""
        due_at = event.created_at + delay_s

        def apply(conn: sqlite3.Connection) -> list[int]:
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (
                    event.id,
                    event.topic,
                    bytes(event.data),
                    event.trace_id,
                    event.message_group_id,
                    event.created_at,
                ),
            )
            return [
                conn.execute(
                    "INSERT INTO deliveries (event_id, step, due_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (event.id, step, due_at, event.created_at),
                ).lastrowid
                or 0
                for step in subscribers
            ]

        ids = await self._write(apply)
        for delivery_id, step in zip(ids, subscribers, strict=True):
            self._schedule(Delivery(delivery_id, event, step, 1), due_at)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait for due deliveries of ``step``; return up to ``limit``."""
        schedule = self._schedules.setdefault(step, _StepSchedule())
        while True:
            now = time.time()
            while schedule.delayed and schedule.delayed[0][0] <= now:
                schedule.ready.append(heapq.heappop(schedule.delayed)[2])
            if schedule.ready:
                count = min(limit, len(schedule.ready))
                return [schedule.ready.popleft() for _ in range(count)]
            schedule.wake = anyio.Event()
            wait_s = schedule.delayed[0][0] - now if schedule.delayed else None
            with anyio.move_on_after(wait_s):
                await schedule.wake.wait()

    async def ack(self, delivery: Delivery) -> None:
        """Delete the delivery, and its event once no delivery needs it."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM deliveries WHERE id = ?", (delivery.id,))
            conn.execute(
                "DELETE FROM events WHERE id = ?1 AND NOT EXISTS"
                " (SELECT 1 FROM deliveries WHERE event_id = ?1)",
                (delivery.event.id,),
            )

        await self._write(apply)

    async def retry(self, delivery: Delivery, error: str, delay_s: float) -> None:
        """Record the failure and schedule the next attempt."""
        now = time.time()
        due_at = now + delay_s

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET attempt = attempt + 1, due_at = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (due_at, error, now, delivery.id),
            )

        await self._write(apply)
        self._schedule(
            Delivery(delivery.id, delivery.event, delivery.step, delivery.attempt + 1), due_at
        )

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Park the delivery with its last error."""
        now = time.time()

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ?"
                " WHERE id = ?",
                (error, now, delivery.id),
            )

        await self._write(apply)

    # --- state --------------------------------------------------------------

    async def state_get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The stored value, or ``None``."""
        row = (
            self._read()
            .execute("SELECT value FROM state WHERE group_id = ? AND key = ?", (group_id, key))
            .fetchone()
        )
        return None if row is None else msgspec.Raw(row[0])

    async def state_set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Insert or replace; durable on return."""
        now = time.time()
        data = bytes(value)

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO state VALUES (?, ?, ?, ?) ON CONFLICT (group_id, key)"
                " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (group_id, key, data, now),
            )

        await self._write(apply)

    async def state_delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""

        def apply(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "DELETE FROM state WHERE group_id = ? AND key = ? RETURNING value",
                (group_id, key),
            ).fetchone()
            return None if row is None else bytes(row[0])

        old = await self._write(apply)
        return None if old is None else msgspec.Raw(old)

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """All values of the group, by key."""
        rows = self._read().execute(
            "SELECT value FROM state WHERE group_id = ? ORDER BY key", (group_id,)
        )
        return [msgspec.Raw(value) for (value,) in rows]

    async def state_clear(self, group_id: str) -> None:
        """Delete the whole group."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM state WHERE group_id = ?", (group_id,))

        await self._write(apply)
