"""The embedded default backend: one SQLite file in WAL mode.

One owner task writes. Writes from many tasks are queued to it and applied in
batches, one transaction per batch (group commit), so a busy flow is not bound
by one commit per event; each caller is answered only after its batch commits.
Reads run on the event loop on their own connection: in WAL mode they never
wait for the writer, and a small indexed read costs less than a thread hop.

Spans and log records (the workbench's traces) are recorded without a wait:
they gather in memory and are written a few times a second as one more write
in the owner's queue, and only the newest traces and logs are kept
(:class:`~motiad.config.TraceRetention`).

One broker owns the file (the app holds a lock on it), so the lease on a
delivery is that process: the schedule of due deliveries lives in memory and
is rebuilt from the table on start, and a delivery that was in flight when the
broker died is simply due again. Other processes (``motiad emit``, ``motiad
dlq``) may write to the file while the broker runs; the owner notices their
commits (``PRAGMA data_version``) and picks up what they added.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import anyio
import msgspec
from anyio.abc import TaskStatus

from ..config import TraceRetention
from ..errors import StorageError
from ..protocol.messages import ErrorInfo
from ..tracing import LEVELS, LogRecord, Span
from .base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    LogQuery,
    Router,
    StateGroup,
    StreamChange,
    StreamChangeType,
    StreamListener,
    Target,
    Trace,
    TraceQuery,
    TraceSummary,
)
from .records import RecordBuffer, assemble_trace
from .schedule import StepSchedule

T = TypeVar("T")
U = TypeVar("U")

BATCH_MAX = 512
"""Writes applied per transaction at most: large enough to amortise a commit,
small enough that one batch never holds the writer for long."""
INLINE_BATCH_MAX = 4096
"""Batches up to this many statements (:attr:`_Write.rows`; a busy second's
acks, publishes and spans) are committed on the event loop itself, in a few
milliseconds at most. In WAL mode with ``synchronous=NORMAL`` a commit is a
write to the page cache, and rows keyed by time-ordered ids (``new_id``) touch
few pages. The worker thread costs more than it saves: every statement there
gives the GIL away and waits to get it back from a busy loop, so the writer,
which every emit waits for, ran at half speed (events-durable: 8,400 events/s
with commits p90 75-95 ms in the thread; 13,800-14,800/s, p90 17-23 ms on the
loop). What may take long stays off the loop: checkpoints (they sync the file;
automatic ones are off on the writer, :data:`CHECKPOINT_AFTER`), larger batches
(a redrive of a big dead-letter queue, a backlog of records after an outage),
and a batch that would wait for another process's lock."""
CHECKPOINT_AFTER = 1000
"""Writes between two checkpoints of the WAL (in the worker thread); SQLite's own
automatic checkpoint runs every 1000 pages."""
EXTERNAL_CHECK_S = 0.5
"""How often the owner looks for commits made by other processes (the CLI)."""
PRUNE_EVERY = 500
"""Records written between two deletions of the oldest traces and logs: the
file holds at most this many beyond the retention bounds."""

_SPANS_TABLE = """
CREATE TABLE IF NOT EXISTS spans (
    id TEXT NOT NULL UNIQUE,
    trace_id TEXT NOT NULL,
    step TEXT NOT NULL,
    trig TEXT NOT NULL,
    detail TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    error BLOB
);
"""

_SCHEMA = f"""
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
CREATE TABLE IF NOT EXISTS stream_items (
    stream TEXT NOT NULL,
    group_id TEXT NOT NULL,
    id TEXT NOT NULL,
    data BLOB NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (stream, group_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    step TEXT NOT NULL,
    trig TEXT NOT NULL,
    detail TEXT NOT NULL,
    spans INTEGER NOT NULL,
    errors INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS traces_by_start ON traces(started_at);
{_SPANS_TABLE}
-- spans: a rowid table (each span appended) with its id in a unique index, not
-- a WITHOUT ROWID table keyed by it: a row is narrow in an index, wide in a table.
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id, started_at);
CREATE INDEX IF NOT EXISTS spans_by_step ON spans(step);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    step TEXT,
    trace_id TEXT,
    invocation_id TEXT,
    fields BLOB
);
CREATE INDEX IF NOT EXISTS logs_by_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_by_step ON logs(step);
"""

_SPAN_COLUMNS = "id, trace_id, step, trig, detail, started_at, ended_at, outcome, attempt, error"
_LOG_COLUMNS = "time, level, message, step, trace_id, invocation_id, fields"
_TRACE_COLUMNS = "trace_id, started_at, ended_at, step, trig, detail, spans, errors"
# The summary of a trace follows its spans: the earliest span names it.
_UPSERT_TRACE = """
INSERT INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id) DO UPDATE SET
    step = CASE WHEN excluded.started_at < started_at THEN excluded.step ELSE step END,
    trig = CASE WHEN excluded.started_at < started_at THEN excluded.trig ELSE trig END,
    detail = CASE WHEN excluded.started_at < started_at THEN excluded.detail ELSE detail END,
    started_at = min(started_at, excluded.started_at),
    ended_at = max(ended_at, excluded.ended_at),
    spans = spans + excluded.spans,
    errors = errors + excluded.errors
"""

_INSERT_SPAN = (
    f"INSERT INTO spans ({_SPAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO NOTHING"
)


def _insert_spans(conn: sqlite3.Connection, spans: list[Span]) -> None:
    """Insert the spans not stored yet, and fold them into their traces'
    summaries: one ``executemany`` per table (a busy flow finishes thousands of
    spans a second, most of a trace's in one flush)."""
    rows = [
        (
            span.id,
            span.trace_id,
            span.step,
            span.trigger,
            span.detail,
            span.started_at,
            span.ended_at,
            span.outcome,
            span.attempt,
            None if span.error is None else _encode(span.error),
        )
        for span in spans
    ]
    conn.execute("SAVEPOINT spans")
    before = conn.total_changes
    conn.executemany(_INSERT_SPAN, rows)
    new = spans
    if conn.total_changes - before != len(spans):  # some were stored before: which?
        conn.execute("ROLLBACK TO spans")
        new = [
            span
            for span, row in zip(spans, rows, strict=True)
            if conn.execute(_INSERT_SPAN, row).rowcount
        ]
    conn.execute("RELEASE spans")
    # trace_id -> [trace_id, started_at, ended_at, step, trig, detail, spans, errors]
    summaries: dict[str, list[Any]] = {}
    for span in new:
        failed = int(span.outcome == "error")
        summary = summaries.get(span.trace_id)
        if summary is None:
            summaries[span.trace_id] = [
                span.trace_id,
                span.started_at,
                span.ended_at,
                span.step,
                span.trigger,
                span.detail,
                1,
                failed,
            ]
            continue
        if span.started_at < summary[1]:  # the earliest span names the trace
            summary[1], summary[3], summary[4], summary[5] = (
                span.started_at,
                span.step,
                span.trigger,
                span.detail,
            )
        summary[2] = max(summary[2], span.ended_at)
        summary[6] += 1
        summary[7] += failed
    conn.executemany(_UPSERT_TRACE, list(summaries.values()))


_DELIVERY_COLUMNS = (
    "d.id, d.step, d.attempt, d.due_at, e.id, e.topic, e.data, e.trace_id,"
    " e.message_group_id, e.created_at"
)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_fields_decoder = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.Encoder().encode


@dataclass(eq=False)
class _Write(Generic[T]):
    apply: Callable[[sqlite3.Connection], Any]
    then: Callable[[Any], T] | None = None
    """Runs on the event loop once the batch committed, in batch order (stream
    changes are announced in commit order); its value is the write's result."""
    # A bare asyncio.Event (motiad runs on asyncio): one per write is a hot
    # path, and anyio's costs several times as much to make. Several tasks may
    # wait on one write (batched acks).
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: T | None = None
    error: BaseException | None = None
    taken: bool = False
    """Handed to the writer thread: nothing may be added to it any more."""
    rows: int = 1
    """The statements it runs, as :data:`INLINE_BATCH_MAX` counts them: one write
    may stand for many (a batch of acks, a second's spans and logs)."""
    ready: asyncio.Future[None] | None = None
    """Done (or failed) with ``done``, for callers that may not wait: see
    :meth:`settled`."""

    def settled(self) -> asyncio.Future[None]:
        """A future done once this write is committed (failed if it is not),
        shared by all who ask (:meth:`SqliteStore.publish`)."""
        if self.ready is None:
            self.ready = asyncio.get_running_loop().create_future()
        return self.ready

    def finish(self, path: Path) -> None:
        """Run ``then`` (after a commit), then wake whoever waits."""
        if self.then is not None and self.error is None:
            try:
                self.result = self.then(self.result)
            except Exception as exc:  # a listener's bug: the writer lives on
                self.error = exc
        self.done.set()
        ready = self.ready
        if ready is not None and not ready.done():
            if self.error is None:
                ready.set_result(None)
            else:
                ready.set_exception(_failure(path, self.error))


def _failure(path: Path, error: BaseException) -> StorageError:
    failure = StorageError(f"{path}: {error}")
    failure.__cause__ = error
    return failure


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a file an earlier motiad made up to :data:`_SCHEMA`: its spans
    table was keyed by id (WITHOUT ROWID); the rows move to today's table."""
    found = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'spans'"
    ).fetchone()
    if found is None or "WITHOUT ROWID" not in found[0].upper():
        return
    try:
        conn.executescript(
            f"""
            BEGIN IMMEDIATE;
            ALTER TABLE spans RENAME TO spans_keyed_by_id;
            DROP INDEX IF EXISTS spans_by_trace;
            DROP INDEX IF EXISTS spans_by_step;
            {_SPANS_TABLE}
            INSERT INTO spans ({_SPAN_COLUMNS}) SELECT {_SPAN_COLUMNS} FROM spans_keyed_by_id;
            DROP TABLE spans_keyed_by_id;
            COMMIT;
            """
        )
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a killed process (the failure we
    # promise to survive); only a power loss may drop the last transactions.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


_Published = list[tuple[Event, Sequence[Target]]]
"""Events with the targets each gets a delivery for, in commit order."""


def _insert_deliveries(conn: sqlite3.Connection, published: _Published) -> int:
    """Insert one delivery per target of each event, in order; returns the first
    one's id. The others follow it: inside the writer's transaction nobody else
    inserts, so AUTOINCREMENT ids are consecutive."""
    rows = [
        (event.id, target.step, event.created_at + target.delay_s, event.created_at)
        for event, targets in published
        for target in targets
    ]
    conn.executemany(
        "INSERT INTO deliveries (event_id, step, due_at, updated_at) VALUES (?, ?, ?, ?)", rows
    )
    last: int = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    return last - len(rows) + 1


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


def _span(row: Sequence[Any]) -> Span:
    s_id, trace_id, step, trigger, detail, started_at, ended_at, outcome, attempt, error = row
    return Span(
        s_id,
        trace_id,
        step,
        trigger,
        detail,
        started_at,
        ended_at,
        outcome,
        attempt,
        _error_decoder.decode(error) if error else None,
    )


def _log(row: Sequence[Any]) -> LogRecord:
    at, level, message, step, trace_id, invocation_id, fields = row
    decoded = _fields_decoder.decode(fields) if fields else None
    return LogRecord(at, level, message, step, trace_id, invocation_id, decoded)


class SqliteStore:
    """Queue, dead letters, state, streams, spans and logs in one SQLite file."""

    def __init__(self, path: Path, *, retention: TraceRetention | None = None) -> None:
        self.path = path
        self.retention = retention or TraceRetention()
        self._records = RecordBuffer()
        self._written_since_prune = PRUNE_EVERY  # prune once soon after opening
        """Spans and log records lost: storage was too slow, or failed to write them."""
        self._pending: deque[_Write[Any]] = deque()
        self._has_pending = asyncio.Event()
        self._open = False
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._schedules: dict[str, StepSchedule] = {}
        self._router: Router | None = None
        self._data_version = 0
        self._stream_listeners: list[StreamListener] = []
        self._last_change_ms = 0
        self._since_checkpoint = 0
        self._publish_write: _Write[None] | None = None
        self._published: _Published = []
        """The events of ``_publish_write``, the publish write not yet taken."""
        self._acks_write: _Write[None] | None = None
        self._acks: list[Delivery] = []
        """The deliveries of ``_acks_write``, the ack write not yet taken."""

    # --- lifecycle ----------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the file, then apply writes (and watch for other writers) until cancelled."""
        await anyio.to_thread.run_sync(self.path.parent.mkdir, 0o777, True, True)
        try:
            self._writer = await anyio.to_thread.run_sync(_connect, self.path)
            self._writer.execute("PRAGMA wal_autocheckpoint=0")  # done in the thread instead
            _migrate(self._writer)
            self._writer.executescript(_SCHEMA)
            self._data_version = self._writer.execute("PRAGMA data_version").fetchone()[0]
            self._reader = _connect(self.path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        self._open = True
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_other_writers)
                tg.start_soon(self._records.write_soon, self.flush_traces)
                task_status.started()
                await self._apply_writes()
        finally:
            self._open = False
            for write in self._pending:
                write.error = StorageError(f"{self.path}: storage closed before this write")
                write.finish(self.path)
            self._close()

    async def _apply_writes(self) -> None:
        while True:
            await self._has_pending.wait()
            self._has_pending.clear()
            while self._pending:
                count = min(BATCH_MAX, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
                rows = 0
                for write in batch:
                    write.taken = True
                    rows += write.rows
                if rows > INLINE_BATCH_MAX or not self._apply_inline(batch):
                    await anyio.to_thread.run_sync(self._apply, batch)
                for write in batch:
                    write.finish(self.path)
                self._since_checkpoint += count
                if self._since_checkpoint >= CHECKPOINT_AFTER:
                    self._since_checkpoint = 0
                    await anyio.to_thread.run_sync(self._checkpoint)

    def _apply_inline(self, batch: list[_Write[Any]]) -> bool:
        """Apply a small batch on the loop (see :data:`INLINE_BATCH_MAX`); False,
        with nothing applied, when it must go to the thread instead: another
        process holds the write lock, or a write failed (the thread's path
        then applies each alone)."""
        conn = self._writer
        assert conn is not None
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        finally:
            conn.execute("PRAGMA busy_timeout=5000")
        try:
            for write in batch:
                write.result = write.apply(conn)
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for write in batch:
                write.result = None
            return False
        return True

    def _checkpoint(self) -> None:
        assert self._writer is not None
        self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

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

    @overload
    async def _write(self, apply: Callable[[sqlite3.Connection], T]) -> T: ...

    @overload
    async def _write(
        self, apply: Callable[[sqlite3.Connection], U], then: Callable[[U], T]
    ) -> T: ...

    async def _write(
        self,
        apply: Callable[[sqlite3.Connection], Any],
        then: Callable[[Any], Any] | None = None,
    ) -> Any:
        return await self._wait(self._submit(apply, then))

    def _submit(
        self,
        apply: Callable[[sqlite3.Connection], Any],
        then: Callable[[Any], Any] | None = None,
    ) -> _Write[Any]:
        """Queue a write for the writer; ``then`` runs on the loop after its commit."""
        if not self._open:
            raise StorageError(f"{self.path}: storage is closed")
        write: _Write[Any] = _Write(apply, then)
        self._pending.append(write)
        self._has_pending.set()
        return write

    async def _wait(self, write: _Write[T]) -> T:
        """The result of ``write`` once its batch is committed."""
        await write.done.wait()
        if write.error is not None:
            raise _failure(self.path, write.error)
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
        routed: _Published = [
            (Event(e_id, topic, msgspec.Raw(data), trace_id, group, created_at), router(topic))
            for e_id, topic, data, trace_id, group, created_at in rows.fetchall()
        ]
        if not routed:
            return

        def apply(conn: sqlite3.Connection) -> int:
            conn.executemany(
                "UPDATE events SET routed = 1 WHERE id = ?", [(e.id,) for e, _ in routed]
            )
            return _insert_deliveries(conn, routed)

        await self._write(apply, partial(self._schedule_published, routed))

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Commit the event and its deliveries, then schedule them: the future
        is done once committed (failed with :class:`StorageError` if it is not).
        Many share one future (see :func:`~motiad.storage.base.durable`)."""
        return self._publish(event, targets).settled()

    def _publish(self, event: Event, targets: Sequence[Target]) -> _Write[None]:
        """The write that commits ``event``: publishes made before the writer
        takes the current one join it, as acks do (one ``executemany`` per table
        for all of them; a busy emitter makes hundreds a batch)."""
        write = self._publish_write
        if write is None or write.taken:
            published: _Published = []

            def apply(conn: sqlite3.Connection) -> int:
                conn.executemany(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 1)",
                    [
                        (e.id, e.topic, bytes(e.data), e.trace_id, e.message_group_id, e.created_at)
                        for e, _ in published
                    ],
                )
                return _insert_deliveries(conn, published)

            write = self._publish_write = self._submit(
                apply, partial(self._schedule_published, published)
            )
            write.rows = 0
            self._published = published
        self._published.append((event, targets))
        write.rows += 1 + len(targets)
        return write

    def _schedule_published(self, published: _Published, first_id: int) -> None:
        """Schedule the deliveries :func:`_insert_deliveries` committed."""
        delivery_id = first_id
        for event, targets in published:
            for target in targets:
                schedule = self._schedules.get(target.step)
                if schedule is not None:
                    delivery = Delivery(delivery_id, event, target.step, 1)
                    schedule.add(delivery, event.created_at + target.delay_s)
                delivery_id += 1

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

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """Delete the delivery, and its event once no delivery needs it: the
        future is done once committed (shared, as :meth:`publish`'s)."""
        return self._ack(delivery).settled()

    def _ack(self, delivery: Delivery) -> _Write[None]:
        """The write that acks ``delivery``: acks made before the writer takes
        the current one join it (two ``executemany`` instead of two statements
        and a write each); their deliveries are settled once it commits."""
        write = self._acks_write
        if write is None or write.taken:
            acks: list[Delivery] = []

            def apply(conn: sqlite3.Connection) -> None:
                conn.executemany("DELETE FROM deliveries WHERE id = ?", [(d.id,) for d in acks])
                conn.executemany(
                    "DELETE FROM events WHERE id = ?1 AND NOT EXISTS"
                    " (SELECT 1 FROM deliveries WHERE event_id = ?1)",
                    [(d.event.id,) for d in acks],
                )

            def settle(_: None) -> None:
                for acked in acks:
                    schedule = self._schedules.get(acked.step)
                    if schedule is not None:  # None: the step is gone (a reload)
                        schedule.settled(acked)

            write = self._acks_write = self._submit(apply, settle)
            self._acks = acks
        self._acks.append(delivery)
        write.rows = 2 * len(self._acks)
        return write

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

    # --- streams ------------------------------------------------------------

    async def stream_get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The stored item, or ``None``."""
        row = (
            self._read()
            .execute(
                "SELECT data FROM stream_items WHERE stream = ? AND group_id = ? AND id = ?",
                (stream, group_id, id),
            )
            .fetchone()
        )
        return None if row is None else msgspec.Raw(row[0])

    async def stream_set(
        self, stream: str, group_id: str, id: str, item: msgspec.Raw
    ) -> StreamChange:
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
            return self._announce(stream, group_id, id, kind, item)

        return await self._write(apply, announce)

    async def stream_delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
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
            return self._announce(stream, group_id, id, "delete", msgspec.Raw(old))

        return await self._write(apply, announce)

    async def stream_group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """All items of the group, by id."""
        rows = self._read().execute(
            "SELECT data FROM stream_items WHERE stream = ? AND group_id = ? ORDER BY id",
            (stream, group_id),
        )
        return [msgspec.Raw(data) for (data,) in rows]

    async def stream_send(
        self, stream: str, group_id: str, id: str | None, event: msgspec.Raw
    ) -> StreamChange:
        """Announce at once: nothing to commit."""
        return self._announce(stream, group_id, id, "event", event)

    async def stream_names(self) -> list[str]:
        """Streams with stored items."""
        rows = self._read().execute("SELECT DISTINCT stream FROM stream_items ORDER BY stream")
        return [name for (name,) in rows]

    async def stream_groups(self, stream: str) -> list[str]:
        """Groups of ``stream`` with stored items."""
        rows = self._read().execute(
            "SELECT DISTINCT group_id FROM stream_items WHERE stream = ? ORDER BY group_id",
            (stream,),
        )
        return [group for (group,) in rows]

    def watch_streams(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener`` for every change made through this store."""
        self._stream_listeners.append(listener)

        def stop() -> None:
            if listener in self._stream_listeners:
                self._stream_listeners.remove(listener)

        return stop

    def _announce(
        self,
        stream: str,
        group_id: str,
        id: str | None,
        kind: StreamChangeType,
        data: msgspec.Raw,
    ) -> StreamChange:
        """Stamp a change (strictly increasing milliseconds) and hand it to every listener."""
        self._last_change_ms = max(int(time.time() * 1000), self._last_change_ms + 1)
        change = StreamChange(stream, group_id, id, kind, data, self._last_change_ms)
        for listener in list(self._stream_listeners):
            listener(change)
        return change

    async def state_groups(self) -> list[StateGroup]:
        """Every group with its number of keys and last change, by group id."""
        rows = self._read().execute(
            "SELECT group_id, count(*), max(updated_at) FROM state GROUP BY group_id"
            " ORDER BY group_id"
        )
        return [StateGroup(group_id, keys, updated_at) for group_id, keys, updated_at in rows]

    async def state_items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, by key."""
        rows = self._read().execute(
            "SELECT key, value FROM state WHERE group_id = ? ORDER BY key", (group_id,)
        )
        return [(key, msgspec.Raw(value)) for key, value in rows]

    # --- spans and logs -----------------------------------------------------

    @property
    def dropped_records(self) -> int:
        """Spans and log records lost (buffer full, or a write failed)."""
        return self._records.dropped

    def record_span(self, span: Span) -> None:
        """Buffer a finished span; it is written with the next batch of records."""
        self._records.add_span(span)

    def record_log(self, record: LogRecord) -> None:
        """Buffer a log record; it is written with the next batch of records."""
        self._records.add_log(record)

    async def flush_traces(self) -> None:
        """Write what is buffered. Writes apply in order, so once this one has
        committed, so have the records an earlier flush took."""
        spans, logs = self._records.take()
        write = self._submit(lambda conn: self._insert_records(conn, spans, logs))
        write.rows = len(spans) + len(logs)
        try:
            await self._wait(write)
        except StorageError:
            self._records.dropped += len(spans) + len(logs)
            raise

    def _insert_records(
        self, conn: sqlite3.Connection, spans: list[Span], logs: list[LogRecord]
    ) -> None:
        if spans:
            _insert_spans(conn, spans)
        conn.executemany(
            f"INSERT INTO logs ({_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.time,
                    r.level,
                    r.message,
                    r.step,
                    r.trace_id,
                    r.invocation_id,
                    None if r.fields is None else _encode(r.fields),
                )
                for r in logs
            ],
        )
        self._written_since_prune += len(spans) + len(logs)
        if self._written_since_prune >= PRUNE_EVERY:
            self._written_since_prune = 0
            self._prune(conn)

    def _prune(self, conn: sqlite3.Connection) -> None:
        """Delete the traces (with their spans and logs) and the log records
        beyond the retention bounds, oldest first."""
        keep = self.retention
        cutoff = conn.execute(
            "SELECT started_at FROM traces ORDER BY started_at DESC LIMIT 1 OFFSET ?",
            (keep.max_traces,),
        ).fetchone()
        if cutoff is not None:
            old = conn.execute(
                "DELETE FROM traces WHERE started_at <= ? RETURNING trace_id", cutoff
            ).fetchall()
            conn.executemany("DELETE FROM spans WHERE trace_id = ?", old)
            conn.executemany("DELETE FROM logs WHERE trace_id = ?", old)
        last = conn.execute(
            "SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET ?", (keep.max_logs,)
        ).fetchone()
        if last is not None:
            conn.execute("DELETE FROM logs WHERE id <= ?", last)

    async def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces that match, newest first."""
        clauses, args = ["1"], list[Any]()
        if query.before is not None:
            clauses.append("started_at < ?")
            args.append(query.before)
        if query.step is not None:
            clauses.append("trace_id IN (SELECT trace_id FROM spans WHERE step = ?)")
            args.append(query.step)
        rows = self._read().execute(
            f"SELECT {_TRACE_COLUMNS} FROM traces WHERE {' AND '.join(clauses)}"
            " ORDER BY started_at DESC LIMIT ?",
            (*args, query.limit),
        )
        return [TraceSummary(*row) for row in rows]

    async def trace(self, trace_id: str) -> Trace | None:
        """The trace's summary, spans (by start) and logs (by time)."""
        reader = self._read()
        spans = [
            _span(row)
            for row in reader.execute(
                f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY started_at",
                (trace_id,),
            )
        ]
        logs = [
            _log(row)
            for row in reader.execute(
                f"SELECT {_LOG_COLUMNS} FROM logs WHERE trace_id = ? ORDER BY time, id",
                (trace_id,),
            )
        ]
        row = reader.execute(
            f"SELECT {_TRACE_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id,)
        ).fetchone()
        return assemble_trace(trace_id, None if row is None else TraceSummary(*row), spans, logs)

    async def logs(self, query: LogQuery) -> list[LogRecord]:
        """The newest records that match every filter given, oldest first."""
        clauses, args = ["1"], list[Any]()
        if query.step is not None:
            clauses.append("step = ?")
            args.append(query.step)
        if query.level is not None:
            levels = LEVELS[LEVELS.index(query.level) :]
            clauses.append(f"level IN ({','.join('?' * len(levels))})")
            args.extend(levels)
        if query.trace_id is not None:
            clauses.append("trace_id = ?")
            args.append(query.trace_id)
        if query.text:
            clauses.append("instr(lower(message), lower(?)) > 0")
            args.append(query.text)
        if query.before is not None:
            clauses.append("time < ?")
            args.append(query.before)
        rows = self._read().execute(
            f"SELECT {_LOG_COLUMNS} FROM logs WHERE {' AND '.join(clauses)}"
            " ORDER BY id DESC LIMIT ?",
            (*args, query.limit),
        )
        return [_log(row) for row in reversed(rows.fetchall())]
