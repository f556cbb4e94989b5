"""The queue in the SQLite file: events, one delivery per subscribing step,
retries and dead letters.

One broker owns the file (the app holds a lock on it), so the lease on a
delivery is that process: the schedule of due deliveries lives in memory
(:class:`~motiad.storage.schedule.StepSchedule`) and is rebuilt from the table
on start, and a delivery that was in flight when the broker died is simply due
again. Other processes (``motiad emit``, ``motiad dlq``) may write to the file
while the broker runs; the owner notices their commits (``PRAGMA
data_version``) and picks up what they added.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio
import msgspec

from ...errors import StorageError
from ...protocol.messages import ErrorInfo
from ..base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    QueueStats,
    Router,
    Target,
    durable,
)
from ..schedule import StepSchedule
from .writer import Joining, Writer

EXTERNAL_CHECK_S = 0.5
"""How often the owner looks for commits made by other processes (the CLI)."""
FAULT_RETRY_S = (0.1, 2.0)
"""Backoff of a consumer while the file cannot be written: first and longest wait."""

_DELIVERY_COLUMNS = (
    "d.id, d.step, d.attempt, d.due_at, e.id, e.topic, e.data, e.trace_id,"
    " e.message_group_id, e.created_at"
)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_encode = msgspec.json.Encoder().encode

Published = list[tuple[Event, Sequence[Target]]]
"""Events with the targets each gets a delivery for, in commit order."""


def _insert_deliveries(conn: sqlite3.Connection, published: Published) -> int:
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


def _insert_published(published: Published, conn: sqlite3.Connection) -> int:
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, 1)",
        [
            (e.id, e.topic, bytes(e.data), e.trace_id, e.message_group_id, e.created_at)
            for e, _ in published
        ],
    )
    return _insert_deliveries(conn, published)


def _delete_acked(acked: list[Delivery], conn: sqlite3.Connection) -> None:
    conn.executemany("DELETE FROM deliveries WHERE id = ?", [(d.id,) for d in acked])
    conn.executemany(
        "DELETE FROM events WHERE id = ?1 AND NOT EXISTS"
        " (SELECT 1 FROM deliveries WHERE event_id = ?1)",
        [(d.event.id,) for d in acked],
    )


# A delivery's ``attempt`` column is the number its next delivery carries: it
# counts every delivery made, including one a crash or a lost ack interrupted.
def _count_deliveries(made: list[Delivery], conn: sqlite3.Connection) -> None:
    conn.executemany(
        "UPDATE deliveries SET attempt = ? WHERE id = ?", [(d.attempt + 1, d.id) for d in made]
    )


def _uncount_deliveries(released: list[Delivery], conn: sqlite3.Connection) -> None:
    conn.executemany(
        "UPDATE deliveries SET attempt = ? WHERE id = ?", [(d.attempt, d.id) for d in released]
    )


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


class SqliteQueue:
    """Deliveries in the file, and the in-memory schedule of each open step's."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._schedules: dict[str, StepSchedule] = {}
        self._router: Router | None = None
        self._data_version = 0
        self._publishes = Joining(
            writer, _insert_published, self._schedule_published, rows=lambda p: 1 + len(p[1])
        )
        self._acks = Joining(writer, _delete_acked, self._settle_acked, rows=lambda _: 2)
        self._deliveries_made = Joining(writer, _count_deliveries)
        self._not_made = Joining(writer, _uncount_deliveries)

    async def watch_other_writers(self) -> None:
        """Pick up events and redriven deliveries committed by other processes."""
        self._data_version = self._writer.data_version_at_open
        while True:
            await anyio.sleep(EXTERNAL_CHECK_S)
            # a storage fault (reported by the writer) is looked at again next time
            with contextlib.suppress(StorageError):
                current = await self._writer.data_version()
                if current != self._data_version:
                    await self._route_pending()
                    self._data_version = current
                    for step, schedule in self._schedules.items():
                        self._rescan_step(step, schedule)

    def open_queue(self, step: str, *, fifo: bool) -> None:
        """Schedule the pending deliveries of ``step``."""
        schedule = self._schedules.setdefault(step, StepSchedule(fifo=fifo))
        schedule.fifo = fifo
        self._rescan_step(step, schedule)

    def _rescan_step(self, step: str, schedule: StepSchedule) -> None:
        rows = self._writer.read().execute(
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
        rows = self._writer.read().execute(
            "SELECT id, topic, data, trace_id, message_group_id, created_at FROM events"
            " WHERE routed = 0 ORDER BY rowid"
        )
        routed: Published = [
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

        await self._writer.write(apply, partial(self._schedule_published, routed))

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Commit the event and its deliveries, then schedule them: the future
        is done once committed (failed with :class:`StorageError` if it is not).
        Many share one future (see :func:`~motiad.storage.base.durable`)."""
        return self._publishes.add((event, targets)).settled()

    def _schedule_published(self, published: Published, first_id: int) -> None:
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

        await self._writer.write(apply)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait for due deliveries of ``step``; return up to ``limit``, once
        the file counts them as made (a crash from now on redelivers them as
        the next attempt). Waits through storage faults."""
        schedule = self._schedules[step]
        failures = 0
        while True:
            taken, next_due = schedule.take(limit)
            if not taken:
                await schedule.wait(next_due)
                continue
            try:
                for delivery in taken:
                    counted = self._deliveries_made.add(delivery)
                await durable(counted.settled())
            except anyio.get_cancelled_exc_class():
                self.release(taken)
                raise
            except StorageError:  # not counted: due again, once the file can be written
                for delivery in taken:
                    schedule.released(delivery)
                if not self._writer.is_open:
                    raise
                failures += 1
                await anyio.sleep(min(FAULT_RETRY_S[1], FAULT_RETRY_S[0] * 2**failures))
                continue
            return taken

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken but not run: due again at once, and not counted as made."""
        for delivery in deliveries:
            schedule = self._schedules.get(delivery.step)
            if schedule is not None:  # None: closed (a step stopped); reopening rescans
                schedule.released(delivery)
            # should this not commit, a crash counts one attempt too many
            with contextlib.suppress(StorageError):
                self._not_made.add(delivery)

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """Delete the delivery, and its event once no delivery needs it: the
        future is done once committed (shared, as :meth:`publish`'s)."""
        return self._acks.add(delivery).settled()

    def _settle_acked(self, acked: list[Delivery], _: None) -> None:
        for delivery in acked:
            schedule = self._schedules.get(delivery.step)
            if schedule is not None:  # None: the step is gone (a reload)
                schedule.settled(delivery)

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """Record the failure and schedule the next attempt."""
        now = time.time()
        due_at = now + delay_s

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET attempt = ?, due_at = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (delivery.attempt + 1, due_at, _encode(error), now, delivery.id),
            )

        await self._writer.write(apply)
        again = Delivery(delivery.id, delivery.event, delivery.step, delivery.attempt + 1)
        self._schedules[delivery.step].retried(again, due_at)

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Park the delivery with its last error."""
        now = time.time()

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET status = 'dead', attempt = ?, last_error = ?,"
                " updated_at = ? WHERE id = ?",
                (delivery.attempt, _encode(error), now, delivery.id),
            )

        await self._writer.write(apply)
        self._schedules[delivery.step].settled(delivery)

    def queue_stats(self) -> dict[str, QueueStats]:
        """Per step with pending deliveries: how many, and the earliest due time."""
        rows = self._writer.read().execute(
            "SELECT step, COUNT(*), MIN(due_at) FROM deliveries WHERE status = 'pending'"
            " GROUP BY step"
        )
        return {step: QueueStats(pending, oldest) for step, pending, oldest in rows}

    # --- dead letters -------------------------------------------------------

    def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The selected dead letters, oldest failure first."""
        where, args = _where(which)
        rows = self._writer.read().execute(
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

        rows = await self._writer.write(apply)
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

        return await self._writer.write(apply)
