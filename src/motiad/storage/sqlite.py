"""The embedded default backend: one SQLite file in WAL mode.

One owner task writes. Writes from many tasks are queued to it and applied in
batches, one transaction per batch (group commit), so a busy flow is not bound
by one commit per event; each caller is answered only after its batch commits.
Reads run on the event loop on their own connection: in WAL mode they never
wait for the writer, and a small indexed read costs less than a thread hop.

One broker owns the file (the app holds a lock on it), so the lease on a
delivery is that process: the schedule of due deliveries lives in memory and
is rebuilt from the table on start, and a delivery that was in flight when the
broker died is simply due again. Other processes (``motiad emit``, ``motiad
dlq``) may write to the file while the broker runs; the owner notices their
commits (``PRAGMA data_version``) and picks up what they added.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import anyio
import msgspec
from anyio.abc import TaskStatus

from ..errors import StorageError
from ..protocol.messages import ErrorInfo
from .base import DeadLetter, DeadLetterFilter, Delivery, Event, Router, Target
from .schedule import StepSchedule

T = TypeVar("T")

BATCH_MAX = 512
"""Writes applied per transaction at most: large enough to amortise a commit,
small enough that one batch never holds the writer for long."""
EXTERNAL_CHECK_S = 0.5
"""How often the owner looks for commits made by other processes (the CLI)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    trace_id TEXT NOT NULL,
    message_group_id TEXT,
    created_at REAL NOT NULL,
    routed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS events_unrouted ON events(routed) WHERE routed = 0;
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL REFERENCES events(id),
    step TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    due_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error BLOB,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(status, step);
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries(event_id);
CREATE TABLE IF NOT EXISTS state (
    group_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (group_id, key)
) WITHOUT ROWID;
"""

_DELIVERY_COLUMNS = (
    "d.id, d.step, d.attempt, d.due_at, e.id, e.topic, e.data, e.trace_id,"
    " e.message_group_id, e.created_at"
)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_encode = msgspec.json.Encoder().encode


@dataclass(eq=False)
class _Write(Generic[T]):
    apply: Callable[[sqlite3.Connection], T]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: T | None = None
    error: BaseException | None = None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a killed process (the failure we
    # promise to survive); only a power loss may drop the last transactions.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _delivery(row: Sequence[Any]) -> tuple[Delivery, float]:
    d_id, step, attempt, due_at, e_id, topic, data, trace_id, group, created_at = row
    event = Event(e_id, topic, msgspec.Raw(data), trace_id, group, created_at)
    return Delivery(d_id, event, step, attempt), due_at


def _where(which: DeadLetterFilter) -> tuple[str, list[Any]]:
    """SQL conditions (on ``d`` and ``e``) selecting the dead letters ``which`` names."""
    clauses: list[str] = ["d.status = 'dead'"]
    args: list[Any] = []
    if which.ids:
        clauses.append(f"d.id IN ({','.join('?' * len(which.ids))})")
        args.extend(which.ids)
    if which.topic is not None:
        clauses.append("e.topic = ?")
        args.append(which.topic)
    if not (which.ids or which.topic is not None or which.all):
        clauses.append("0")  # selecting nothing unless told what
    return " AND ".join(clauses), args


class SqliteStore:
    """Queue, dead letters and state in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: deque[_Write[Any]] = deque()
        self._has_pending = anyio.Event()
        self._open = False
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._schedules: dict[str, StepSchedule] = {}
        self._router: Router | None = None
        self._data_version = 0

    # --- lifecycle ----------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the file, then apply writes (and watch for other writers) until cancelled."""
        await anyio.to_thread.run_sync(self.path.parent.mkdir, 0o777, True, True)
        try:
            self._writer = await anyio.to_thread.run_sync(_connect, self.path)
            self._writer.executescript(_SCHEMA)
            self._data_version = self._writer.execute("PRAGMA data_version").fetchone()[0]
            self._reader = _connect(self.path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        self._open = True
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_other_writers)
                task_status.started()
                await self._apply_writes()
        finally:
            self._open = False
            for write in self._pending:
                write.error = StorageError(f"{self.path}: storage closed before this write")
                write.done.set()
            self._close()

    async def _apply_writes(self) -> None:
        while True:
            await self._has_pending.wait()
            self._has_pending = anyio.Event()
            while self._pending:
                count = min(BATCH_MAX, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
                await anyio.to_thread.run_sync(self._apply, batch)
                for write in batch:
                    write.done.set()

    def _close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    def _apply(self, batch: list[_Write[Any]]) -> None:
        """Apply a batch in one transaction. Should a write fail, the batch is
        rolled back and each write applied alone, so one bad write never sinks
        its batch-mates (and the common case pays for no savepoints)."""
        conn = self._writer
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write in batch:
                write.result = write.apply(conn)
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for write in batch:
                write.result = None
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    write.result = write.apply(conn)
                    conn.execute("COMMIT")
                except Exception as exc:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    write.error = exc

    async def _write(self, apply: Callable[[sqlite3.Connection], T]) -> T:
        if not self._open:
            raise StorageError(f"{self.path}: storage is closed")
        write: _Write[T] = _Write(apply)
        self._pending.append(write)
        self._has_pending.set()
        await write.done.wait()
        if write.error is not None:
            raise StorageError(f"{self.path}: {write.error}") from write.error
        return write.result  # type: ignore[return-value]

    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageError(f"{self.path}: storage is not open")
        return self._reader

    async def _watch_other_writers(self) -> None:
        """Pick up events and redriven deliveries committed by other processes."""
        while True:
            await anyio.sleep(EXTERNAL_CHECK_S)

            def version(conn: sqlite3.Connection) -> int:
                # the writer's own commits do not change its data_version
                return int(conn.execute("PRAGMA data_version").fetchone()[0])

            current = await self._write(version)
            if current != self._data_version:
                self._data_version = current
                await self._route_pending()
                self._rescan()

    def _rescan(self) -> None:
        for step, schedule in self._schedules.items():
            self._rescan_step(step, schedule)

    # --- queue --------------------------------------------------------------

    def open_queue(self, step: str, *, fifo: bool, lease_s: float = 0.0) -> None:
        """Schedule the pending deliveries of ``step`` (all are due: no lease
        outlives us, so ``lease_s`` does not matter here)."""
        schedule = self._schedules.setdefault(step, StepSchedule(fifo=fifo))
        schedule.fifo = fifo
        self._rescan_step(step, schedule)

    def _rescan_step(self, step: str, schedule: StepSchedule) -> None:
        rows = self._read().execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id"
            " WHERE d.status = 'pending' AND d.step = ? ORDER BY d.id",
            (step,),
        )
        for row in rows:
            schedule.add(*_delivery(row))

    def close_queue(self, step: str) -> None:
        """Stop scheduling ``step`` (its deliveries stay pending in the file)."""
        schedule = self._schedules.pop(step, None)
        if schedule is not None:
            schedule.wake.set()

    def route_enqueued(self, router: Router) -> None:
        """Route events other processes enqueued, now and whenever they commit more."""
        self._router = router

    async def _route_pending(self) -> None:
        router = self._router
        if router is None:
            return
        rows = self._read().execute(
            "SELECT id, topic, data, trace_id, message_group_id, created_at FROM events"
            " WHERE routed = 0 ORDER BY rowid"
        )
        for e_id, topic, data, trace_id, group, created_at in rows.fetchall():
            event = Event(e_id, topic, msgspec.Raw(data), trace_id, group, created_at)
            await self._insert_deliveries(event, list(router(topic)), mark_routed=True)

    async def publish(self, event: Event, targets: Sequence[Target]) -> None:
        """Commit the event and its deliveries; then schedule them."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 1)",
                (
                    event.id,
                    event.topic,
                    bytes(event.data),
                    event.trace_id,
                    event.message_group_id,
                    event.created_at,
                ),
            )

        await self._insert_deliveries(event, targets, insert_event=apply)

    async def _insert_deliveries(
        self,
        event: Event,
        targets: Sequence[Target],
        *,
        insert_event: Callable[[sqlite3.Connection], None] | None = None,
        mark_routed: bool = False,
    ) -> None:
        def apply(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            if insert_event is not None:
                insert_event(conn)
            if mark_routed:
                conn.execute("UPDATE events SET routed = 1 WHERE id = ?", (event.id,))
            rows = []
            for target in targets:
                due_at = event.created_at + target.delay_s
                cursor = conn.execute(
                    "INSERT INTO deliveries (event_id, step, due_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (event.id, target.step, due_at, event.created_at),
                )
                rows.append((cursor.lastrowid or 0, due_at))
            return rows

        rows = await self._write(apply)
        for (delivery_id, due_at), target in zip(rows, targets, strict=True):
            schedule = self._schedules.get(target.step)
            if schedule is not None:
                schedule.add(Delivery(delivery_id, event, target.step, 1), due_at)

    async def enqueue(self, event: Event) -> None:
        """Commit an event with no deliveries yet; the running broker routes it."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 0)",
                (
                    event.id,
                    event.topic,
                    bytes(event.data),
                    event.trace_id,
                    event.message_group_id,
                    event.created_at,
                ),
            )

        await self._write(apply)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait for due deliveries of ``step``; return up to ``limit``."""
        schedule = self._schedules[step]
        while True:
            taken, next_due = schedule.take(limit)
            if taken:
                return taken
            await schedule.wait(next_due)

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken but not run: due again at once."""
        for delivery in deliveries:
            self._schedules[delivery.step].released(delivery)

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
        self._schedules[delivery.step].settled(delivery)

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """Record the failure and schedule the next attempt."""
        now = time.time()
        due_at = now + delay_s

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET attempt = attempt + 1, due_at = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (due_at, _encode(error), now, delivery.id),
            )

        await self._write(apply)
        again = Delivery(delivery.id, delivery.event, delivery.step, delivery.attempt + 1)
        self._schedules[delivery.step].retried(again, due_at)

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Park the delivery with its last error."""
        now = time.time()

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET status = 'dead', last_error = ?, updated_at = ?"
                " WHERE id = ?",
                (_encode(error), now, delivery.id),
            )

        await self._write(apply)
        self._schedules[delivery.step].settled(delivery)

    async def claim_tick(self, step: str, tick: float) -> bool:
        """Always the first: one broker owns the file."""
        return True

    # --- dead letters -------------------------------------------------------

    async def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The selected dead letters, oldest failure first."""
        where, args = _where(which)
        rows = self._read().execute(
            f"SELECT {_DELIVERY_COLUMNS}, d.last_error, d.updated_at FROM deliveries d"
            f" JOIN events e ON e.id = d.event_id WHERE {where} ORDER BY d.updated_at, d.id",
            args,
        )
        letters = []
        for row in rows:
            delivery, _ = _delivery(row[:10])
            error = _error_decoder.decode(row[10]) if row[10] else ErrorInfo("Error", "")
            letters.append(
                DeadLetter(
                    delivery.id, delivery.step, delivery.attempt, error, row[11], delivery.event
                )
            )
        return letters

    async def redrive(self, which: DeadLetterFilter) -> int:
        """Selected dead letters become pending again, from attempt 1."""
        where, args = _where(which)
        now = time.time()

        def apply(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows = conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN events e"
                f" ON e.id = d.event_id WHERE {where}",
                args,
            ).fetchall()
            conn.executemany(
                "UPDATE deliveries SET status = 'pending', attempt = 1, due_at = ?,"
                " updated_at = ? WHERE id = ?",
                [(now, now, row[0]) for row in rows],
            )
            return [(row[0], row[1], 1, now, *row[4:]) for row in rows]

        rows = await self._write(apply)
        for row in rows:
            delivery, due_at = _delivery(row)
            schedule = self._schedules.get(delivery.step)
            if schedule is not None:
                schedule.add(delivery, due_at)
        return len(rows)

    async def purge(self, which: DeadLetterFilter) -> int:
        """Delete the selected dead letters (and events nothing else needs)."""
        where, args = _where(which)

        def apply(conn: sqlite3.Connection) -> int:
            ids = [
                row[0]
                for row in conn.execute(
                    f"SELECT d.id FROM deliveries d JOIN events e ON e.id = d.event_id"
                    f" WHERE {where}",
                    args,
                )
            ]
            conn.executemany("DELETE FROM deliveries WHERE id = ?", [(i,) for i in ids])
            conn.execute(
                "DELETE FROM events WHERE routed = 1 AND NOT EXISTS"
                " (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)"
            )
            return len(ids)

        return await self._write(apply)

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
