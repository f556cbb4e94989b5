"""The backend for several brokers serving one project: a shared Redis server.
The parts (queue, state, streams, traces) over one connection, behind the
:class:`~motiad.storage.base.Store` Protocol; this broker's pub/sub listener
wakes its consumers and feeds its stream listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio
import msgspec
from anyio.abc import TaskStatus
from redis.asyncio.client import PubSub

from ...config import TraceRetention
from ...errors import StorageUnavailable
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
from .connection import PIPELINES, PREFIX, RedisConnection
from .queue import POLL_S, RedisQueue
from .state import RedisState
from .streams import CHANNEL, RedisStreams
from .traces import RedisTraces

CRON_CLAIM_TTL_MS = 600_000
"""How long a claimed cron tick is remembered: far longer than the clock skew
between machines, so a late broker still sees the tick was taken."""
WAKE_CHANNEL = PREFIX + "wake"
"""The pub/sub channel of wake-ups: a step name whenever its queue got a new
head, ``""`` when an event waits to be routed."""


class RedisStore:
    """Queue, dead letters, state, streams, traces and cron locks in a Redis
    server shared by every broker of the project."""

    def __init__(
        self, url: str, *, health: Health | None = None, retention: TraceRetention | None = None
    ) -> None:
        self.url = url
        self.conn = RedisConnection(url, health=health)
        self.queue = RedisQueue(self.conn)
        self.state = RedisState(self.conn)
        self.streams = RedisStreams(self.conn)
        self.records = RedisTraces(self.conn, retention or TraceRetention())

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect (fails with :class:`StorageError` when Redis cannot be reached),
        then wake consumers, renew leases and route ``motiad emit`` events until cancelled."""
        try:
            await self.conn.open()
            async with anyio.create_task_group() as tg:
                # subscribed before we serve: a broker sees its own first stream change
                await tg.start(self._listen)
                tg.start_soon(self.queue.renew_leases)
                tg.start_soon(self.queue.route_loop)
                tg.start_soon(self.queue.release_loop)
                tg.start_soon(self.records.buffer.write_soon, self.records.flush)
                for _ in range(PIPELINES):
                    tg.start_soon(self.conn.send_scripts)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                try:
                    await self.queue.release_held()
                finally:
                    await self.conn.close()

    async def _listen(self, *, task_status: TaskStatus[None]) -> None:
        """Wake this broker's consumers when any broker made something due, and
        hand every stream change (from any broker) to this one's listeners."""
        streams_channel = CHANNEL.encode()
        failures = 0
        while True:
            pubsub: PubSub = self.conn.redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with self.conn.guard():
                    await pubsub.subscribe(WAKE_CHANNEL, CHANNEL)
                    task_status.started()
                    task_status = anyio.TASK_STATUS_IGNORED
                    self.queue.wake_all()  # what was published while we were away
                    failures = 0
                    while True:
                        message = await pubsub.get_message(timeout=POLL_S)
                        if message is None:
                            continue
                        if message["channel"] == streams_channel:
                            self.streams.on_change(message["data"])
                        else:
                            self.queue.wake(message["data"].decode())
            except StorageUnavailable:
                failures += 1
                await self.conn.outage_pause(failures)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await pubsub.aclose()

    # --- queue --------------------------------------------------------------

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Store one delivery per target (see :meth:`RedisQueue.publish`)."""
        return self.queue.publish(event, targets)

    async def enqueue(self, event: Event) -> None:
        """Store an event for a broker to route (``motiad emit``)."""
        await self.queue.enqueue(event)

    def open_queue(self, step: str, *, fifo: bool, lease_s: float) -> None:
        """Start taking deliveries of ``step``, each leased for ``lease_s``."""
        self.queue.open_queue(step, fifo=fifo, lease_s=lease_s)

    def close_queue(self, step: str) -> None:
        """Stop taking ``step``; what it holds comes back when the leases run out."""
        self.queue.close_queue(step)

    def route_enqueued(self, router: Router) -> None:
        """Route ``motiad emit`` events, now and as they come (any broker may)."""
        self.queue.route_enqueued(router)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries of ``step``, waiting for them."""
        return await self.queue.take(step, limit)

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken but not run: due again as soon as the release reaches Redis."""
        self.queue.release(deliveries)

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """Forget the delivery (see :meth:`RedisQueue.ack`)."""
        return self.queue.ack(delivery)

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """Count the attempt; due again after ``delay_s``."""
        await self.queue.retry(delivery, error, delay_s)

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Park the delivery with its last error."""
        await self.queue.dead_letter(delivery, error)

    async def queue_stats(self) -> dict[str, QueueStats]:
        """Per step this broker consumes, with unsettled deliveries: how many and how late."""
        return await self.queue.queue_stats()

    async def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The selected dead letters, oldest failure first."""
        return await self.queue.dead_letters(which)

    async def redrive(self, which: DeadLetterFilter) -> int:
        """Selected dead letters become due now, from attempt 1."""
        return await self.queue.redrive(which)

    async def purge(self, which: DeadLetterFilter) -> int:
        """Delete the selected dead letters."""
        return await self.queue.purge(which)

    async def claim_tick(self, step: str, tick: float) -> bool:
        """``SET NX`` on the step and tick: the first broker to ask wins."""
        async with self.conn.guard():
            key = f"{PREFIX}cron:{step}:{tick:.3f}"
            claimed = await self.conn.redis.set(
                key, self.queue.holder, nx=True, px=CRON_CLAIM_TTL_MS
            )
            return bool(claimed)

    # --- state --------------------------------------------------------------

    async def state_get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The stored value, or ``None``."""
        return await self.state.get(group_id, key)

    async def state_set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Store ``value``; durable on return."""
        await self.state.set(group_id, key, value)

    async def state_update(
        self, group_id: str, key: str, change: Callable[[bytes | None], bytes]
    ) -> tuple[msgspec.Raw | None, msgspec.Raw]:
        """Replace the value with ``change(value)``, no other write between."""
        return await self.state.update(group_id, key, change)

    async def state_delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""
        return await self.state.delete(group_id, key)

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """All values of the group, by key."""
        return [value for _, value in await self.state.items(group_id)]

    async def state_items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, by key."""
        return await self.state.items(group_id)

    async def state_clear(self, group_id: str) -> None:
        """Delete the whole group."""
        await self.state.clear(group_id)

    async def state_groups(self) -> list[StateGroup]:
        """Every group with its number of keys and last change, by group id."""
        return await self.state.groups()

    # --- streams ------------------------------------------------------------

    async def stream_get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The item, or ``None``."""
        return await self.streams.get(stream, group_id, id)

    async def stream_set(
        self, stream: str, group_id: str, id: str, item: msgspec.Raw
    ) -> StreamChange:
        """Store the item; every broker's listeners hear of it (this one's before return)."""
        return await self.streams.set(stream, group_id, id, item)

    async def stream_delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
        """Remove the item; the change carries it."""
        return await self.streams.delete(stream, group_id, id)

    async def stream_update(
        self, stream: str, group_id: str, id: str, change: Callable[[bytes | None], bytes | None]
    ) -> tuple[msgspec.Raw | None, StreamChange | None]:
        """Read, change and write the item in one optimistic transaction."""
        return await self.streams.update(stream, group_id, id, change)

    async def stream_group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """All items of the group, by id."""
        return await self.streams.group(stream, group_id)

    async def stream_send(
        self, stream: str, group_id: str, id: str | None, event: msgspec.Raw
    ) -> StreamChange:
        """Announce an ephemeral event to every broker's listeners."""
        return await self.streams.send(stream, group_id, id, event)

    async def stream_names(self) -> list[str]:
        """Streams with stored items."""
        return await self.streams.names()

    async def stream_groups(self, stream: str) -> list[str]:
        """Groups of ``stream`` with stored items."""
        return await self.streams.groups(stream)

    def watch_streams(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener`` for every change, made by any broker on this Redis."""
        return self.streams.watch(listener)

    # --- spans and logs -----------------------------------------------------

    def record_span(self, span: Span) -> None:
        """Buffer a finished span (written in the background)."""
        self.records.buffer.add_span(span)

    def record_log(self, record: LogRecord) -> None:
        """Buffer a log record (written in the background)."""
        self.records.buffer.add_log(record)

    async def flush_traces(self) -> None:
        """Write what is buffered."""
        await self.records.flush()

    async def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces that match, newest first."""
        return await self.records.traces(query)

    async def trace(self, trace_id: str) -> Trace | None:
        """One trace with its spans and logs."""
        return await self.records.trace(trace_id)

    async def logs(self, query: LogQuery) -> list[LogRecord]:
        """The newest records that match, oldest first."""
        return await self.records.logs(query)
