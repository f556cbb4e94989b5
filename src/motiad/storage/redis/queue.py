"""The queue on Redis: deliveries leased by the broker that takes them, FIFO
groups, retries and dead letters, each operation one Lua script (:mod:`.lua`)
so brokers never race each other on a delivery.

Leases are real here: a delivery taken by a broker is leased for the step's
``lease_s`` and the broker renews the leases it holds while it runs; when a
broker dies its leases run out and any broker takes the deliveries again. A
broker whose lease ran out settles nothing (the new holder does), so each
delivery has one holder at a time. Brokers wake each other through a pub/sub
channel (the store listens); a poll every :data:`POLL_S` is the safety net for
wake-ups lost while a connection was down."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import msgspec
from redis.exceptions import RedisError

from ...errors import StorageError, StorageUnavailable
from ...protocol.messages import ErrorInfo
from ..base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    QueueStats,
    Router,
    Target,
)
from .connection import PREFIX, RedisConnection, stamp

POLL_S = 5.0
"""How often an idle consumer looks for due deliveries without being woken:
the safety net for wake-ups lost while the pub/sub connection was down."""
RENEW_FRACTION = 1 / 3
"""Leases are renewed after this part of their length, so two renewals may be
missed (a slow event loop, a brief outage) before another broker takes over."""
ROUTE_BATCH = 100
"""Events from ``motiad emit`` routed per look at the list."""

_event_decoder = msgspec.json.Decoder(Event)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_encode = msgspec.json.Encoder().encode

Action = Literal["ack", "retry", "release", "dead"]


@dataclass(eq=False)
class _Queue:
    """What this broker knows of one step's queue."""

    fifo: bool
    lease_s: float
    held: dict[int, int] = field(default_factory=dict)
    """Deliveries this broker took and has not settled, by id, with their
    attempt: it renews their leases."""
    wake: anyio.Event = field(default_factory=anyio.Event)


def _group_list(step: str, group: str | None) -> str:
    # a missing group and a group named "" are different groups
    return f"{PREFIX}fifo:{step}:" + ("-" if group is None else "=" + group)


class RedisQueue:
    """This broker's side of the queues every broker of the project shares."""

    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self.holder = uuid.uuid4().hex
        """This broker's name on the leases it holds (and its cron claims)."""
        self._queues: dict[str, _Queue] = {}
        self._router: Router | None = None
        self._route_wake = anyio.Event()
        self._renew_wake = anyio.Event()
        self._released: list[Delivery] = []
        self._release_wake = anyio.Event()
        self._waking: dict[asyncio.Future[None], set[str]] = {}
        """The steps to wake once a joined publish is stored, by its future."""

    # --- waking consumers ---------------------------------------------------

    def wake(self, step: str) -> None:
        """Something may be due for ``step`` (``""``: events to route)."""
        if step == "":
            self._route_wake.set()
            return
        queue = self._queues.get(step)
        if queue is not None:
            queue.wake.set()

    def wake_all(self) -> None:
        """Everything may be due (wake-ups may have been lost)."""
        self._route_wake.set()
        for queue in self._queues.values():
            queue.wake.set()

    # --- leases -------------------------------------------------------------

    async def renew_leases(self) -> None:
        """Keep the leases of deliveries this broker still works on, until cancelled."""
        while True:
            shortest = min((q.lease_s for q in self._queues.values()), default=POLL_S)
            self._renew_wake = anyio.Event()
            with anyio.move_on_after(shortest * RENEW_FRACTION):
                await self._renew_wake.wait()  # a new queue may need a shorter period
            with contextlib.suppress(StorageError):  # reported; the next round tries again
                await self.renew_held()

    async def renew_held(self) -> None:
        """Extend the lease of every delivery this broker holds by its queue's ``lease_s``."""
        for step, queue in list(self._queues.items()):
            if queue.held:
                until = stamp(time.time() + queue.lease_s)
                await self._conn.script("RENEW", [step, until, *queue.held])

    async def release_held(self) -> None:
        """Closing: what this broker still holds is due again now, for the other
        brokers (rather than when the leases run out)."""
        settle = self._conn.scripts["SETTLE"]
        now = stamp(time.time())
        for queue in self._queues.values():
            for delivery_id, attempt in list(queue.held.items()):
                with contextlib.suppress(RedisError, OSError):
                    args = [PREFIX, str(delivery_id), self.holder, "release", now, "", now]
                    args.append(str(attempt))  # not run: it counts as not made
                    await settle(keys=[], args=args)
            queue.held.clear()

    # --- queue --------------------------------------------------------------

    def open_queue(self, step: str, *, fifo: bool, lease_s: float) -> None:
        """Start taking deliveries of ``step``, each leased for ``lease_s``."""
        queue = self._queues.get(step)
        if queue is None:
            self._queues[step] = _Queue(fifo, lease_s)
        else:
            queue.fifo, queue.lease_s = fifo, lease_s
            queue.wake.set()
        self._renew_wake.set()

    def close_queue(self, step: str) -> None:
        """Stop taking ``step``; what it holds comes back when the leases run out."""
        queue = self._queues.pop(step, None)
        if queue is not None:
            queue.wake.set()

    def route_enqueued(self, router: Router) -> None:
        """Route ``motiad emit`` events, now and as they come (any broker may)."""
        self._router = router
        self._route_wake.set()

    def _entries(self, event: Event, targets: Sequence[Target]) -> list[Any]:
        args: list[Any] = [_encode(event), event.topic, str(len(targets))]
        for target in targets:
            group = _group_list(target.step, event.message_group_id) if target.fifo else ""
            args += [target.step, group, stamp(event.created_at + target.delay_s)]
        return args

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Store one delivery per target, joined to the one ``PUBLISH_MANY``
        call waiting for the next pipeline: durable (as the server's
        ``appendonly`` setting makes it) when the future is done."""
        stored = self._conn.join_soon("PUBLISH", [*self._entries(event, targets), ""])
        waking = self._waking.get(stored)
        if waking is None:  # one callback per joined call, not per publish
            waking = self._waking[stored] = set()
            stored.add_done_callback(self._wake_published)
        waking.update(target.step for target in targets)
        return stored

    def _wake_published(self, stored: asyncio.Future[None]) -> None:
        steps = self._waking.pop(stored)
        if not stored.cancelled() and stored.exception() is None:
            for step in steps:
                self.wake(step)

    async def enqueue(self, event: Event) -> None:
        """Store an event for a broker to route (``motiad emit``)."""
        async with self._conn.guard(), self._conn.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(PREFIX + "enqueued", _encode(event))
            pipe.publish(PREFIX + "wake", "")
            await pipe.execute()

    async def route_loop(self) -> None:
        """Route ``motiad emit`` events as they come, until cancelled."""
        failures = 0
        while True:
            self._route_wake = anyio.Event()
            router = self._router
            if router is not None:
                try:
                    await self._route_pending(router)
                    failures = 0
                except StorageUnavailable:
                    failures += 1
                    await self._conn.outage_pause(failures)
                    continue
            with anyio.move_on_after(POLL_S):
                await self._route_wake.wait()

    async def _route_pending(self, router: Router) -> None:
        async with self._conn.guard():
            entries = await self._conn.redis.lrange(PREFIX + "enqueued", 0, ROUTE_BATCH - 1)
        for entry in entries:
            event = _event_decoder.decode(entry)
            targets = list(router(event.topic))
            # removing the entry and storing its deliveries is one script:
            # when two brokers route the same entry, one of them does nothing
            await self._conn.script("PUBLISH", [*self._entries(event, targets), entry])
            for target in targets:
                self.wake(target.step)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait until deliveries of ``step`` are due (or their leases ran out) and
        lease up to ``limit`` of them. Waits through outages."""
        failures = 0
        while True:
            queue = self._queues[step]
            queue.wake = anyio.Event()  # before looking, so a wake-up during the look counts
            now = time.time()
            args = [step, stamp(now), str(limit), stamp(now + queue.lease_s), self.holder]
            try:
                flat, next_due = await self._conn.script("TAKE", args)
            except StorageUnavailable:
                failures += 1
                await self._conn.outage_pause(failures)
                continue
            failures = 0
            if flat:
                taken = []
                for one in flat:
                    i, attempt, event = one.split(b" ", 2)
                    taken.append(Delivery(int(i), _event_decoder.decode(event), step, int(attempt)))
                queue.held.update((d.id, d.attempt) for d in taken)
                return taken
            wait = POLL_S if next_due is None else float(next_due) - time.time()
            with anyio.move_on_after(max(0.0, min(POLL_S, wait))):
                await queue.wake.wait()

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken but not run: due again as soon as the release reaches Redis
        (or when the lease runs out, should this broker stop first)."""
        self._released.extend(deliveries)
        self._release_wake.set()

    async def release_loop(self) -> None:
        """Send the releases of :meth:`release`, until cancelled."""
        while True:
            await self._release_wake.wait()
            self._release_wake = anyio.Event()
            while self._released:
                delivery = self._released.pop()
                # should this fail, its lease runs out and it is due again anyway
                with contextlib.suppress(StorageError):
                    await self._settle(delivery, "release", due=stamp(time.time()))

    def _settle_args(
        self, delivery: Delivery, action: Action, *, due: str = "0", error: ErrorInfo | None = None
    ) -> list[str]:
        queue = self._queues.get(delivery.step)
        if queue is not None:
            # settled or not, stop renewing: if this fails the lease runs out
            # and another broker (or this one) delivers it again
            queue.held.pop(delivery.id, None)
        encoded = "" if error is None else _encode(error).decode()
        # what the delivery's attempt says from now on (see lua.TAKE): the next
        # delivery's number, or for a dead letter the attempts made
        attempt = delivery.attempt + 1 if action == "retry" else delivery.attempt
        args = [str(delivery.id), self.holder, action, due, encoded, stamp(time.time())]
        args.append(str(attempt))
        return args

    def _settle(
        self, delivery: Delivery, action: Action, *, due: str = "0", error: ErrorInfo | None = None
    ) -> asyncio.Future[Any]:
        args = self._settle_args(delivery, action, due=due, error=error)
        return self._conn.script_soon("SETTLE", args)

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """Forget the delivery (a FIFO group moves on to its next event), joined
        to the one ``SETTLE_MANY`` call waiting for the next pipeline; done once
        Redis has."""
        return self._conn.join_soon("SETTLE", self._settle_args(delivery, "ack"))

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """Count the attempt; due again after ``delay_s`` (a FIFO head stays the head)."""
        await self._settle(delivery, "retry", due=stamp(time.time() + delay_s), error=error)

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Park the delivery with its last error."""
        await self._settle(delivery, "dead", error=error)

    async def queue_stats(self) -> dict[str, QueueStats]:
        """Per step this broker consumes, with unsettled deliveries: how many and
        how late (one script: a consistent look at the step's keys)."""
        steps = sorted(self._queues)
        if not steps:
            return {}
        async with self._conn.guard():
            flat = await self._conn.scripts["QUEUE_STATS"](args=[PREFIX, *steps])
        stats = {}
        for step, pending, oldest in zip(steps, flat[::2], flat[1::2], strict=True):
            if int(pending):
                stats[step] = QueueStats(int(pending), float(oldest) if oldest else time.time())
        return stats

    # --- dead letters -------------------------------------------------------

    async def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The selected dead letters, oldest failure first."""
        if not (which.ids or which.topic is not None or which.all):
            return []
        redis = self._conn.redis
        async with self._conn.guard():
            members: list[Any] = await redis.zrange(PREFIX + "dead", 0, -1)
            ids = [int(m) for m in members]
            if which.ids:
                ids = [i for i in ids if i in set(which.ids)]
            async with redis.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.hmget(f"{PREFIX}d:{i}", "step", "attempt", "error", "failed_at", "event")
                rows = await pipe.execute()
        letters = []
        for i, (step, attempt, error, failed_at, event) in zip(ids, rows, strict=True):
            if event is None:
                continue
            letter = DeadLetter(
                i,
                step.decode(),
                int(attempt),
                _error_decoder.decode(error) if error else ErrorInfo("Error", ""),
                float(failed_at),
                _event_decoder.decode(event),
            )
            if which.topic is None or letter.event.topic == which.topic:
                letters.append(letter)
        return sorted(letters, key=lambda x: (x.failed_at, x.id))

    async def redrive(self, which: DeadLetterFilter) -> int:
        """Selected dead letters become due now, from attempt 1."""
        ids = [str(x.id) for x in await self.dead_letters(which)]
        if not ids:
            return 0
        return int(await self._conn.script("REDRIVE", [stamp(time.time()), *ids]))

    async def purge(self, which: DeadLetterFilter) -> int:
        """Delete the selected dead letters."""
        ids = [str(x.id) for x in await self.dead_letters(which)]
        if not ids:
            return 0
        return int(await self._conn.script("PURGE", ids))
