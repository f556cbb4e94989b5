"""The backend for several brokers serving one project: a shared Redis server.

Every queue operation is one Lua script (``redis_lua``), so brokers never race
each other on a delivery. Leases are real here: a delivery taken by a broker
is leased for the step's ``lease_s`` and the broker renews the leases it holds
while it runs; when a broker dies its leases run out and any broker takes the
deliveries again. A broker whose lease ran out settles nothing (the new holder
does), so each delivery has one holder at a time.

Brokers wake each other through a pub/sub channel: a publish on one wakes the
consumers of that step on all of them. A poll every ``POLL_S`` is the safety
net for wake-ups lost while a connection was down.

When Redis is unreachable every operation fails promptly with
:class:`StorageError` (bounded socket timeouts); the backend reports the outage
once through ``health`` and once again when Redis is back. Consumers wait and
try again by themselves.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import msgspec
import redis.asyncio as aioredis
from anyio.abc import TaskStatus
from redis.asyncio.client import PubSub
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ..errors import StorageError, StorageUnavailable
from ..protocol.messages import ErrorInfo
from . import redis_lua
from .base import DeadLetter, DeadLetterFilter, Delivery, Event, Health, Router, Target

PREFIX = "motiad:"
"""Every key starts with this; one project per Redis database (``/db`` in the URL)."""
SOCKET_TIMEOUT_S = 2.0
"""A command that gets no answer in this long fails: an API request that needs
storage answers 503 within a few seconds instead of hanging."""
CONNECT_TIMEOUT_S = 1.0
"""Redis answers a connect on a LAN in milliseconds; longer means it is away."""
POLL_S = 5.0
"""How often an idle consumer looks for due deliveries without being woken:
the safety net for wake-ups lost while the pub/sub connection was down."""
RENEW_FRACTION = 1 / 3
"""Leases are renewed after this part of their length, so two renewals may be
missed (a slow event loop, a brief outage) before another broker takes over."""
OUTAGE_RETRY_S = (0.1, 2.0)
"""Backoff of a consumer while Redis is unreachable: first and longest wait."""
CRON_CLAIM_TTL_MS = 600_000
"""How long a claimed cron tick is remembered: far longer than the clock skew
between machines, so a late broker still sees the tick was taken."""
ROUTE_BATCH = 100
"""Events from ``motiad emit`` routed per look at the list."""

_event_decoder = msgspec.json.Decoder(Event)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_encode = msgspec.json.Encoder().encode
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(eq=False)
class _Queue:
    """What this broker knows of one step's queue."""

    fifo: bool
    lease_s: float
    held: set[int] = field(default_factory=set)
    """Deliveries this broker took and has not settled: it renews their leases."""
    wake: anyio.Event = field(default_factory=anyio.Event)


def _stamp(seconds: float) -> str:
    return repr(seconds)


def _group_list(step: str, group: str | None) -> str:
    # a missing group and a group named "" are different groups
    return f"{PREFIX}fifo:{step}:" + ("-" if group is None else "=" + group)


class RedisStore:
    """Queue, dead letters, state and cron locks in a Redis server shared by
    every broker of the project."""

    def __init__(self, url: str, *, health: Health | None = None) -> None:
        self.url = url
        self._health = health
        self._down = False
        self._client: aioredis.Redis | None = None
        self._holder = uuid.uuid4().hex
        """This broker's name on the leases it holds."""
        self._queues: dict[str, _Queue] = {}
        self._router: Router | None = None
        self._route_wake = anyio.Event()
        self._renew_wake = anyio.Event()
        self._released: list[Delivery] = []
        self._release_wake = anyio.Event()
        self._scripts: dict[str, Any] = {}

    # --- lifecycle ----------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect (fails with :class:`StorageError` when Redis cannot be reached),
        then wake consumers, renew leases and route ``motiad emit`` events until cancelled."""
        client = aioredis.Redis.from_url(
            self.url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            # one quick retry on a fresh connection: after a Redis restart every
            # pooled connection is dead, and that is no reason to fail a request
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self._client = client
        for name in ("PUBLISH", "TAKE", "SETTLE", "RENEW", "REDRIVE", "PURGE", "STATE_DELETE"):
            self._scripts[name] = client.register_script(getattr(redis_lua, name))
        try:
            try:
                await client.ping()
            except RedisError as exc:
                raise StorageError(f"cannot reach Redis at {self._where()}: {exc}") from exc
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen_for_wakes)
                tg.start_soon(self._renew_leases)
                tg.start_soon(self._route_loop)
                tg.start_soon(self._release_loop)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await client.aclose()
            self._client = None

    def _where(self) -> str:
        """The server's address without credentials, for messages."""
        return self.url.rsplit("@", 1)[-1]

    @property
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise StorageError(f"Redis at {self._where()}: storage is not open")
        return self._client

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Turn Redis failures into :class:`StorageError`, and report an outage
        (and the end of one) once."""
        try:
            yield
        except _CONNECTION_ERRORS as exc:
            if not self._down:
                self._down = True
                self._report(
                    "error",
                    f"storage: Redis at {self._where()} is unreachable ({exc}); requests that"
                    " need storage answer 503 until it is back",
                )
            raise StorageUnavailable(f"Redis at {self._where()} is unreachable: {exc}") from exc
        except RedisError as exc:
            raise StorageError(f"Redis at {self._where()}: {exc}") from exc
        if self._down:
            self._down = False
            self._report("info", f"storage: Redis at {self._where()} is reachable again")

    def _report(self, level: Literal["info", "error"], message: str) -> None:
        if self._health is not None:
            self._health(level, message)

    async def _script(self, name: str, args: Sequence[Any], keys: Sequence[str] = ()) -> Any:
        if self._client is None:
            raise StorageError(f"Redis at {self._where()}: storage is not open")
        async with self._guard():
            return await self._scripts[name](keys=list(keys), args=[PREFIX, *args])

    async def _outage_pause(self, failures: int) -> None:
        first, longest = OUTAGE_RETRY_S
        await anyio.sleep(min(longest, first * 2**failures))

    async def _listen_for_wakes(self) -> None:
        """Wake this broker's consumers when any broker made something due."""
        failures = 0
        while True:
            pubsub: PubSub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with self._guard():
                    await pubsub.subscribe(PREFIX + "wake")
                    self._wake_all()  # what was published while we were away
                    failures = 0
                    while True:
                        message = await pubsub.get_message(timeout=POLL_S)
                        if message is not None:
                            self._wake(message["data"].decode())
            except StorageUnavailable:
                failures += 1
                await self._outage_pause(failures)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _wake(self, step: str) -> None:
        if step == "":
            self._route_wake.set()
            return
        queue = self._queues.get(step)
        if queue is not None:
            queue.wake.set()

    def _wake_all(self) -> None:
        self._route_wake.set()
        for queue in self._queues.values():
            queue.wake.set()

    async def _renew_leases(self) -> None:
        """Keep the leases of deliveries this broker still works on."""
        while True:
            shortest = min((q.lease_s for q in self._queues.values()), default=POLL_S)
            self._renew_wake = anyio.Event()
            with anyio.move_on_after(shortest * RENEW_FRACTION):
                await self._renew_wake.wait()  # a new queue may need a shorter period
            for step, queue in list(self._queues.items()):
                if queue.held:
                    until = _stamp(time.time() + queue.lease_s)
                    try:
                        await self._script("RENEW", [step, until, *queue.held])
                    except StorageError:
                        break  # reported; the next round tries again

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

    def _entries(self, event: Event, targets: Sequence[Target]) -> list[str]:
        args = [_encode(event).decode(), event.topic, str(len(targets))]
        for target in targets:
            group = _group_list(target.step, event.message_group_id) if target.fifo else ""
            args += [target.step, group, _stamp(event.created_at + target.delay_s)]
        return args

    async def publish(self, event: Event, targets: Sequence[Target]) -> None:
        """Store one delivery per target, in one script. Durable on return (as
        durable as the server's ``appendonly`` setting makes it)."""
        await self._script("PUBLISH", [*self._entries(event, targets), ""])
        for target in targets:
            self._wake(target.step)

    async def enqueue(self, event: Event) -> None:
        """Store an event for a broker to route (``motiad emit``)."""
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(PREFIX + "enqueued", _encode(event))
            pipe.publish(PREFIX + "wake", "")
            await pipe.execute()

    async def _route_loop(self) -> None:
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
                    await self._outage_pause(failures)
                    continue
            with anyio.move_on_after(POLL_S):
                await self._route_wake.wait()

    async def _route_pending(self, router: Router) -> None:
        async with self._guard():
            entries = await self._redis.lrange(PREFIX + "enqueued", 0, ROUTE_BATCH - 1)
        for entry in entries:
            event = _event_decoder.decode(entry)
            targets = list(router(event.topic))
            # removing the entry and storing its deliveries is one script:
            # when two brokers route the same entry, one of them does nothing
            await self._script("PUBLISH", [*self._entries(event, targets), entry])
            for target in targets:
                self._wake(target.step)

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait until deliveries of ``step`` are due (or their leases ran out) and
        lease up to ``limit`` of them. Waits through outages."""
        failures = 0
        while True:
            queue = self._queues[step]
            queue.wake = anyio.Event()  # before looking, so a wake-up during the look counts
            now = time.time()
            args = [step, _stamp(now), str(limit), _stamp(now + queue.lease_s), self._holder]
            try:
                flat, next_due = await self._script("TAKE", args)
            except StorageUnavailable:
                failures += 1
                await self._outage_pause(failures)
                continue
            failures = 0
            if flat:
                taken = [
                    Delivery(int(i), _event_decoder.decode(event), step, int(attempt))
                    for i, attempt, event in zip(flat[::3], flat[1::3], flat[2::3], strict=True)
                ]
                queue.held.update(d.id for d in taken)
                return taken
            wait = POLL_S if next_due is None else float(next_due) - time.time()
            with anyio.move_on_after(max(0.0, min(POLL_S, wait))):
                await queue.wake.wait()

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken but not run: due again as soon as the release reaches Redis
        (or when the lease runs out, should this broker stop first)."""
        self._released.extend(deliveries)
        self._release_wake.set()

    async def _release_loop(self) -> None:
        while True:
            await self._release_wake.wait()
            self._release_wake = anyio.Event()
            while self._released:
                delivery = self._released.pop()
                # should this fail, its lease runs out and it is due again anyway
                with contextlib.suppress(StorageError):
                    await self._settle(delivery, "release", due=_stamp(time.time()))

    async def _settle(
        self,
        delivery: Delivery,
        action: Literal["ack", "retry", "release", "dead"],
        *,
        due: str = "0",
        error: ErrorInfo | None = None,
    ) -> None:
        queue = self._queues.get(delivery.step)
        if queue is not None:
            # settled or not, stop renewing: if this fails the lease runs out
            # and another broker (or this one) delivers it again
            queue.held.discard(delivery.id)
        encoded = "" if error is None else _encode(error).decode()
        args = [str(delivery.id), self._holder, action, due, encoded, _stamp(time.time())]
        await self._script("SETTLE", args)

    async def ack(self, delivery: Delivery) -> None:
        """Forget the delivery (a FIFO group moves on to its next event)."""
        await self._settle(delivery, "ack")

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """Count the attempt; due again after ``delay_s`` (a FIFO head stays the head)."""
        await self._settle(delivery, "retry", due=_stamp(time.time() + delay_s), error=error)

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Park the delivery with its last error."""
        await self._settle(delivery, "dead", error=error)

    # --- dead letters -------------------------------------------------------

    async def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The selected dead letters, oldest failure first."""
        if not (which.ids or which.topic is not None or which.all):
            return []
        async with self._guard():
            members: list[Any] = await self._redis.zrange(PREFIX + "dead", 0, -1)
            ids = [int(m) for m in members]
            if which.ids:
                ids = [i for i in ids if i in set(which.ids)]
            async with self._redis.pipeline(transaction=False) as pipe:
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
        return int(await self._script("REDRIVE", [_stamp(time.time()), *ids]))

    async def purge(self, which: DeadLetterFilter) -> int:
        """Delete the selected dead letters."""
        ids = [str(x.id) for x in await self.dead_letters(which)]
        if not ids:
            return 0
        return int(await self._script("PURGE", ids))

    # --- cron ---------------------------------------------------------------

    async def claim_tick(self, step: str, tick: float) -> bool:
        """``SET NX`` on the step and tick: the first broker to ask wins."""
        async with self._guard():
            key = f"{PREFIX}cron:{step}:{tick:.3f}"
            return bool(await self._redis.set(key, self._holder, nx=True, px=CRON_CLAIM_TTL_MS))

    # --- state --------------------------------------------------------------

    @staticmethod
    def _state_key(group_id: str) -> str:
        return f"{PREFIX}state:{group_id}"

    async def state_get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The stored value, or ``None``."""
        async with self._guard():
            value = await self._redis.hget(self._state_key(group_id), key)
        return None if value is None else msgspec.Raw(value)

    async def state_set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Store ``value``; durable on return."""
        async with self._guard():
            await self._redis.hset(self._state_key(group_id), key, bytes(value))

    async def state_delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""
        old = await self._script("STATE_DELETE", [key], keys=[self._state_key(group_id)])
        return None if old is None else msgspec.Raw(old)

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """All values of the group, by key."""
        async with self._guard():
            values = await self._redis.hgetall(self._state_key(group_id))
        return [msgspec.Raw(values[k]) for k in sorted(values)]

    async def state_clear(self, group_id: str) -> None:
        """Delete the whole group."""
        async with self._guard():
            await self._redis.delete(self._state_key(group_id))
