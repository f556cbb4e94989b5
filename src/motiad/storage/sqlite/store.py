"""The SQLite store: the parts (queue, state, streams, traces) over one writer,
behind the :class:`~motiad.storage.base.Store` Protocol.

Readers are ``async`` here only because the Protocol is: the Redis backend
waits for its server. Here they are plain calls on the loop (see
:meth:`~motiad.storage.sqlite.writer.Writer.read`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import msgspec
from anyio.abc import TaskStatus

from ...config import TraceRetention
from ...protocol.messages import ErrorInfo
from ...records import LogRecord, Span
from ..base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    Health,
    LogQuery,
    QueueStats,
    Router,
    StateGroup,
    StreamChange,
    StreamListener,
    Target,
    Trace,
    TraceQuery,
    TraceSummary,
)
from .queue import SqliteQueue
from .state import SqliteState
from .streams import SqliteStreams
from .traces import SqliteTraces
from .writer import Writer


class SqliteStore:
    """Queue, dead letters, state, streams, spans and logs in one SQLite file."""

    def __init__(
        self, path: Path, *, health: Health | None = None, retention: TraceRetention | None = None
    ) -> None:
        self.path = path
        self.writer = Writer(path, health=health)
        self.queue = SqliteQueue(self.writer)
        self.state = SqliteState(self.writer)
        self.streams = SqliteStreams(self.writer)
        self.records = SqliteTraces(self.writer, retention or TraceRetention())

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Open the file, then apply writes (and watch for other writers) until cancelled."""
        await self.writer.open()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.queue.watch_other_writers)
                tg.start_soon(self.records.buffer.write_soon, self.records.flush)
                task_status.started()
                await self.writer.run()
        finally:
            self.writer.close()

    # --- queue --------------------------------------------------------------

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Commit the event and one delivery per target (see :meth:`SqliteQueue.publish`)."""
        return self.queue.publish(event, targets)

    async def enqueue(self, event: Event) -> None:
        """Commit an event with no deliveries yet; the running broker routes it."""
        await self.queue.enqueue(event)

    def open_queue(self, step: str, *, fifo: bool, lease_s: float = 0.0) -> None:
        """Schedule the pending deliveries of ``step`` (all are due: no lease
        outlives us, so ``lease_s`` does not matter here)."""
        self.queue.open_queue(step, fifo=fifo)

    def close_queue(self, step: str) -> None:
        """Stop scheduling ``step`` (its deliveries stay pending in the file)."""
        self.queue.close_queue(step)

    def route_enqueued(self, router: Router) -> None:
        """Route events other processes enqueued, now and whenever they commit more."""
        self.queue.route_enqueued(router)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait for due deliveries of ``step``; return up to ``limit``."""
        return await self.queue.take(step, limit)

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken but not run: due again at once."""
        self.queue.release(deliveries)

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """Forget the delivery (see :meth:`SqliteQueue.ack`)."""
        return self.queue.ack(delivery)

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """Record the failure and schedule the next attempt."""
        await self.queue.retry(delivery, error, delay_s)

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Park the delivery with its last error."""
        await self.queue.dead_letter(delivery, error)

    async def claim_tick(self, step: str, tick: float) -> bool:
        """Always the first: one broker owns the file."""
        return True

    async def queue_stats(self) -> dict[str, QueueStats]:
        """Per step with pending deliveries, how many and how late."""
        return self.queue.queue_stats()

    async def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The selected dead letters, oldest failure first."""
        return self.queue.dead_letters(which)

    async def redrive(self, which: DeadLetterFilter) -> int:
        """Selected dead letters become pending again, from attempt 1."""
        return await self.queue.redrive(which)

    async def purge(self, which: DeadLetterFilter) -> int:
        """Delete the selected dead letters (and events nothing else needs)."""
        return await self.queue.purge(which)

    # --- state --------------------------------------------------------------

    async def state_get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The stored value, or ``None``."""
        return self.state.get(group_id, key)

    async def state_set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Insert or replace; durable on return."""
        await self.state.set(group_id, key, value)

    async def state_delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""
        return await self.state.delete(group_id, key)

    async def state_update(
        self, group_id: str, key: str, change: Callable[[bytes | None], bytes]
    ) -> tuple[msgspec.Raw | None, msgspec.Raw]:
        """Replace the value with ``change(value)`` in one write."""
        return await self.state.update(group_id, key, change)

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """All values of the group, by key."""
        return self.state.group(group_id)

    async def state_clear(self, group_id: str) -> None:
        """Delete the whole group."""
        await self.state.clear(group_id)

    async def state_groups(self) -> list[StateGroup]:
        """Every group with its number of keys and last change, by group id."""
        return self.state.groups()

    async def state_items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, by key."""
        return self.state.items(group_id)

    # --- streams ------------------------------------------------------------

    async def stream_get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The stored item, or ``None``."""
        return self.streams.get(stream, group_id, id)

    async def stream_set(
        self, stream: str, group_id: str, id: str, item: msgspec.Raw
    ) -> StreamChange:
        """Store the item; listeners hear of it once committed."""
        return await self.streams.set(stream, group_id, id, item)

    async def stream_delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
        """Delete; the change carries the removed item."""
        return await self.streams.delete(stream, group_id, id)

    async def stream_update(
        self, stream: str, group_id: str, id: str, change: Callable[[bytes | None], bytes | None]
    ) -> tuple[msgspec.Raw | None, StreamChange | None]:
        """Read, change and write the item in one write."""
        return await self.streams.update(stream, group_id, id, change)

    async def stream_group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """All items of the group, by id."""
        return self.streams.group(stream, group_id)

    async def stream_send(
        self, stream: str, group_id: str, id: str | None, event: msgspec.Raw
    ) -> StreamChange:
        """Announce at once: nothing to commit."""
        return self.streams.announce(stream, group_id, id, "event", event)

    async def stream_names(self) -> list[str]:
        """Streams with stored items."""
        return self.streams.names()

    async def stream_groups(self, stream: str) -> list[str]:
        """Groups of ``stream`` with stored items."""
        return self.streams.groups(stream)

    def watch_streams(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener`` for every change made through this store."""
        return self.streams.watch(listener)

    # --- spans and logs -----------------------------------------------------

    @property
    def dropped_records(self) -> int:
        """Spans and log records lost (buffer full, or a write failed)."""
        return self.records.buffer.dropped

    def record_span(self, span: Span) -> None:
        """Buffer a finished span; it is written with the next batch of records."""
        self.records.buffer.add_span(span)

    def record_log(self, record: LogRecord) -> None:
        """Buffer a log record; it is written with the next batch of records."""
        self.records.buffer.add_log(record)

    async def flush_traces(self) -> None:
        """Write what is buffered (see :meth:`SqliteTraces.flush`)."""
        await self.records.flush()

    async def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces that match, newest first."""
        return self.records.traces(query)

    async def trace(self, trace_id: str) -> Trace | None:
        """The trace's summary, spans (by start) and logs (by time)."""
        return self.records.trace(trace_id)

    async def logs(self, query: LogQuery) -> list[LogRecord]:
        """The newest records that match every filter given, oldest first."""
        return self.records.logs(query)
