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

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import anyio
import msgspec
import redis.asyncio as aioredis
from anyio.abc import TaskStatus
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..config import TraceRetention
from ..errors import StorageError, StorageUnavailable
from ..protocol.messages import ErrorInfo
from ..tracing import LogRecord, Span
from . import redis_lua
from .base import (
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    Event,
    Health,
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
from .redis_traces import RedisTraces

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
OUTAGE_REPORT_S = 10.0
"""At most one "unreachable" line this often: a flapping network is one line."""
HEALTH_CHECK_S = 1
"""A pooled connection idle this long is checked (PING) before use, so one that
died with a Redis restart is replaced instead of failing a request."""
CRON_CLAIM_TTL_MS = 600_000
"""How long a claimed cron tick is remembered: far longer than the clock skew
between machines, so a late broker still sees the tick was taken."""
POOL_SIZE = 32
"""Connections to Redis at most; a caller beyond waits (bounded) for one."""
PIPELINES = 4
"""Pipelines of script calls in flight at once: a few, so one slow batch does not
hold up the others; each is one round trip whatever its size."""
PIPELINE_MAX = 256
"""Script calls per pipeline at most."""
ROUTE_BATCH = 100
"""Events from ``motiad emit`` routed per look at the list."""

_event_decoder = msgspec.json.Decoder(Event)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_change_decoder = msgspec.json.Decoder(StreamChange)
_encode = msgspec.json.Encoder().encode
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


@dataclass(eq=False)
class _Call:
    """A script call waiting for its pipeline."""

    name: str
    script: AsyncScript
    keys: list[str]
    args: list[Any]
    outcome: asyncio.Future[Any]
    """Done with the script's result once its pipeline answered, or failed with
    the :class:`StorageError` its failure maps to."""
    queued_at: float = field(default_factory=time.monotonic)
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Queue:
    """What this broker knows of one step's queue."""

    fifo: bool
    lease_s: float
    held: set[int] = field(default_factory=set)
    """Deliveries this broker took and has not settled: it renews their leases."""
    wake: anyio.Event = field(default_factory=anyio.Event)


def _then(answered: asyncio.Future[Any], after: Callable[[], None] | None) -> asyncio.Future[None]:
    """A future done once ``answered`` is, after running ``after`` on success;
    failed as ``answered`` failed. (The script's own result is not the caller's.)"""
    done: asyncio.Future[None] = answered.get_loop().create_future()

    def settle(answered: asyncio.Future[Any]) -> None:
        if done.done():
            return
        if answered.cancelled():
            done.cancel()
        elif (error := answered.exception()) is not None:
            done.set_exception(error)
        else:
            if after is not None:
                after()
            done.set_result(None)

    answered.add_done_callback(settle)
    return done


def _stamp(seconds: float) -> str:
    return repr(seconds)


def _group_list(step: str, group: str | None) -> str:
    # a missing group and a group named "" are different groups
    return f"{PREFIX}fifo:{step}:" + ("-" if group is None else "=" + group)


class RedisStore:
    """Queue, dead letters, state and cron locks in a Redis server shared by
    every broker of the project."""

    def __init__(
        self, url: str, *, health: Health | None = None, retention: TraceRetention | None = None
    ) -> None:
        self.url = url
        self._health = health
        self._down = False
        self._down_at = 0.0
        self._reported = False
        """The current outage was logged (and its end will be)."""
        self._reported_at = -OUTAGE_REPORT_S
        self._client: aioredis.Redis | None = None
        self.prefix = PREFIX
        self._holder = uuid.uuid4().hex
        """This broker's name on the leases it holds."""
        self._queues: dict[str, _Queue] = {}
        self._router: Router | None = None
        self._route_wake = anyio.Event()
        self._renew_wake = anyio.Event()
        self._released: list[Delivery] = []
        self._release_wake = anyio.Event()
        self._scripts: dict[str, AsyncScript] = {}
        self._calls: deque[_Call] = deque()
        self._calls_waiting = anyio.Event()
        self._streams_channel = (PREFIX + "streams").encode()
        self._stream_listeners: list[StreamListener] = []
        self._feed_high = 0
        """The newest stream change stamp this broker's listeners have seen."""
        self._feed_moved = anyio.Event()
        self._traces = RedisTraces(self, retention or TraceRetention())

    # --- lifecycle ----------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connect (fails with :class:`StorageError` when Redis cannot be reached),
        then wake consumers, renew leases and route ``motiad emit`` events until cancelled."""
        pool = BlockingConnectionPool.from_url(
            self.url,
            max_connections=POOL_SIZE,
            timeout=SOCKET_TIMEOUT_S,  # waiting for a free connection is bounded too
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_S,
            # one quick retry on a fresh connection: after a Redis restart every
            # pooled connection is dead, and that is no reason to fail a request
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
        self._client = client
        for name in redis_lua.SCRIPTS:
            self._scripts[name] = client.register_script(getattr(redis_lua, name))
        try:
            try:
                await client.ping()
            except RedisError as exc:
                raise StorageError(
                    f"cannot reach Redis at {self._where()} ({exc}): is redis-server running"
                    " there? (storage comes from --storage, MOTIAD_STORAGE or motiad.toml)"
                ) from exc
            async with anyio.create_task_group() as tg:
                # subscribed before we serve: a broker sees its own first stream change
                await tg.start(self._listen)
                tg.start_soon(self._renew_leases)
                tg.start_soon(self._route_loop)
                tg.start_soon(self._release_loop)
                tg.start_soon(self._traces.buffer.write_soon, self._traces.flush)
                for _ in range(PIPELINES):
                    tg.start_soon(self._send_scripts)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await self._release_held()
                await client.aclose()
            self._client = None
            self._abandon(self._calls)
            self._calls.clear()

    async def _release_held(self) -> None:
        """Closing: what this broker still holds is due again now, for the other
        brokers (rather than when the leases run out)."""
        settle = self._scripts["SETTLE"]
        now = _stamp(time.time())
        for queue in self._queues.values():
            for delivery_id in list(queue.held):
                with contextlib.suppress(RedisError, OSError):
                    args = [PREFIX, str(delivery_id), self._holder, "release", now, "", now]
                    await settle(keys=[], args=args)
            queue.held.clear()

    def _where(self) -> str:
        """The server's address without credentials, for messages."""
        return self.url.rsplit("@", 1)[-1]

    @property
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise StorageError(f"Redis at {self._where()}: storage is not open")
        return self._client

    @asynccontextmanager
    async def _guard(self, started: float | None = None) -> AsyncIterator[None]:
        """Turn Redis failures into :class:`StorageError`, and report an outage
        (and the end of one) once. Only an operation ``started`` after the outage
        began ends it: one that was answered just before Redis went away does not."""
        started = time.monotonic() if started is None else started
        try:
            yield
        except RedisError as exc:
            raise self._failed(exc) from exc
        self._answered(started)

    def _failed(self, exc: RedisError) -> StorageError:
        """The :class:`StorageError` a Redis failure maps to; the first failure
        to reach the server of an outage reports it."""
        if not isinstance(exc, _CONNECTION_ERRORS):
            return StorageError(f"Redis at {self._where()}: {exc}")
        now = time.monotonic()
        if not self._down:
            self._down = True
            self._down_at = now
        # one line per outage: a connection that went stale in it and fails
        # just after Redis came back is the same outage, not a new one
        if not self._reported and now - self._reported_at >= OUTAGE_REPORT_S:
            self._reported, self._reported_at = True, now
            self._report(
                "error",
                f"storage: Redis at {self._where()} is unreachable ({exc}); requests that"
                " need storage answer 503 until it is back",
            )
        return StorageUnavailable(f"Redis at {self._where()} is unreachable: {exc}")

    def _answered(self, started: float) -> None:
        """An operation ``started`` at that time was answered: an outage before it is over."""
        if self._down and started > self._down_at:
            self._down = False
            if self._reported:
                self._reported = False
                self._report("info", f"storage: Redis at {self._where()} is reachable again")

    def _report(self, level: Literal["info", "error"], message: str) -> None:
        if self._health is not None:
            self._health(level, message)

    async def _script(self, name: str, args: Sequence[Any], keys: Sequence[str] = ()) -> Any:
        """Run a script of ``redis_lua``; concurrent calls share a pipeline."""
        return await self._script_soon(name, args, keys)

    def _script_soon(
        self, name: str, args: Sequence[Any], keys: Sequence[str] = ()
    ) -> asyncio.Future[Any]:
        """Queue a script call for the next pipeline: a future of its own (the
        caller may await it, or add a callback), done with its result or failed
        with a :class:`StorageError`. No task and no coroutine per call."""
        if self._client is None:
            raise StorageError(f"Redis at {self._where()}: storage is not open")
        outcome = asyncio.get_running_loop().create_future()
        self._calls.append(_Call(name, self._scripts[name], [*keys], [PREFIX, *args], outcome))
        self._calls_waiting.set()
        return outcome

    async def _send_scripts(self) -> None:
        """Send the waiting script calls, many per round trip (the Redis side of
        SQLite's group commit: a busy flow is not bound by one round trip per emit)."""
        while True:
            while not self._calls:
                self._calls_waiting = anyio.Event()
                await self._calls_waiting.wait()
            batch = [self._calls.popleft() for _ in range(min(PIPELINE_MAX, len(self._calls)))]
            try:
                await self._run_batch(batch)
            except BaseException:
                self._abandon(batch)
                raise
            for call in batch:
                self._settle_call(call)

    def _abandon(self, calls: Iterable[_Call]) -> None:
        """The store closes with ``calls`` unanswered: their callers get an error
        rather than a wait that never ends."""
        for call in calls:
            if not call.outcome.done():
                call.outcome.set_exception(
                    StorageError(f"Redis at {self._where()}: storage closed before it answered")
                )

    def _settle_call(self, call: _Call) -> None:
        """Hand a call's result or mapped failure to its future (unless its
        waiter gave up: then there is nobody to tell)."""
        if call.outcome.done():
            return
        if call.error is None:
            self._answered(call.queued_at)
            call.outcome.set_result(call.result)
        elif isinstance(call.error, RedisError):
            call.outcome.set_exception(self._failed(call.error))
        else:
            call.outcome.set_exception(StorageError(f"Redis at {self._where()}: {call.error}"))

    async def _run_batch(self, batch: list[_Call]) -> None:
        for reloaded in (False, True):
            entries = self._pipeline_entries(batch)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for script, keys, args, _ in entries:
                        pipe.evalsha(script.sha, len(keys), *keys, *args)
                    results = await pipe.execute(raise_on_error=False)
            except RedisError as exc:  # the connection: the whole batch failed
                for call in batch:
                    call.error = exc
                return
            again: list[_Call] = []
            for (_, _, _, calls), result in zip(entries, results, strict=True):
                if isinstance(result, NoScriptError) and not reloaded:
                    again += calls  # Redis restarted and forgot its scripts
                elif isinstance(result, Exception):
                    for call in calls:
                        call.error = result
                elif calls[0].name in redis_lua.BATCHED:  # NAME_MANY: a result per call
                    for call, one in zip(calls, result, strict=True):
                        call.result = one
                else:
                    calls[0].result = result
            if not again:
                return
            try:
                for script in self._scripts.values():
                    script.sha = await self._redis.script_load(script.script)
            except RedisError as exc:
                for call in again:
                    call.error = exc
                return
            batch = again

    def _pipeline_entries(
        self, batch: list[_Call]
    ) -> list[tuple[AsyncScript, list[str], list[Any], list[_Call]]]:
        """What to send for ``batch``: the calls of a batched script together as
        one ``NAME_MANY`` call, the others as they are."""
        entries: list[tuple[AsyncScript, list[str], list[Any], list[_Call]]] = []
        grouped: dict[str, list[_Call]] = {}
        for call in batch:
            if call.name in redis_lua.BATCHED:
                grouped.setdefault(call.name, []).append(call)
            else:
                entries.append((call.script, call.keys, call.args, [call]))
        for name, calls in grouped.items():
            args: list[Any] = [PREFIX, len(calls)]
            for call in calls:
                args += [len(call.args) - 1, *call.args[1:]]
            entries.append((self._scripts[f"{name}_MANY"], [], args, calls))
        return entries

    async def _outage_pause(self, failures: int) -> None:
        first, longest = OUTAGE_RETRY_S
        await anyio.sleep(min(longest, first * 2**failures))

    async def _listen(self, *, task_status: TaskStatus[None]) -> None:
        """Wake this broker's consumers when any broker made something due, and
        hand every stream change (from any broker) to this one's listeners."""
        failures = 0
        while True:
            pubsub: PubSub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with self._guard():
                    await pubsub.subscribe(PREFIX + "wake", PREFIX + "streams")
                    task_status.started()
                    task_status = anyio.TASK_STATUS_IGNORED
                    self._wake_all()  # what was published while we were away
                    failures = 0
                    while True:
                        message = await pubsub.get_message(timeout=POLL_S)
                        if message is None:
                            continue
                        if message["channel"] == self._streams_channel:
                            self._on_stream_change(message["data"])
                        else:
                            self._wake(message["data"].decode())
            except StorageUnavailable:
                failures += 1
                await self._outage_pause(failures)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await pubsub.aclose()

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
            with contextlib.suppress(StorageError):  # reported; the next round tries again
                await self.renew_held()

    async def renew_held(self) -> None:
        """Extend the lease of every delivery this broker holds by its queue's ``lease_s``."""
        for step, queue in list(self._queues.items()):
            if queue.held:
                until = _stamp(time.time() + queue.lease_s)
                await self._script("RENEW", [step, until, *queue.held])

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

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Store one delivery per target, in one script call of the next
        pipeline: durable (as the server's ``appendonly`` setting makes it)
        when the future is done."""
        stored = self._script_soon("PUBLISH", [*self._entries(event, targets), ""])
        return _then(stored, partial(self._wake_targets, targets))

    def _wake_targets(self, targets: Sequence[Target]) -> None:
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
        await self._settle_soon(delivery, action, due=due, error=error)

    def _settle_soon(
        self,
        delivery: Delivery,
        action: Literal["ack", "retry", "release", "dead"],
        *,
        due: str = "0",
        error: ErrorInfo | None = None,
    ) -> asyncio.Future[Any]:
        queue = self._queues.get(delivery.step)
        if queue is not None:
            # settled or not, stop renewing: if this fails the lease runs out
            # and another broker (or this one) delivers it again
            queue.held.discard(delivery.id)
        encoded = "" if error is None else _encode(error).decode()
        args = [str(delivery.id), self._holder, action, due, encoded, _stamp(time.time())]
        return self._script_soon("SETTLE", args)

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """Forget the delivery (a FIFO group moves on to its next event) in the
        next pipeline; done once Redis has."""
        return _then(self._settle_soon(delivery, "ack"), None)

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
        args = [group_id, key, bytes(value), _stamp(time.time())]
        await self._script("STATE_SET", args, keys=[self._state_key(group_id)])

    async def state_delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""
        keys = [self._state_key(group_id)]
        old = await self._script("STATE_FORGET", [group_id, key], keys=keys)
        return None if old is None else msgspec.Raw(old)

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """All values of the group, by key."""
        return [value for _, value in await self.state_items(group_id)]

    async def state_items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, by key."""
        async with self._guard():
            values: Any = await self._redis.hgetall(self._state_key(group_id))
        return [(k.decode(), msgspec.Raw(values[k])) for k in sorted(values)]

    async def state_clear(self, group_id: str) -> None:
        """Delete the whole group."""
        await self._script("STATE_FORGET", [group_id, ""], keys=[self._state_key(group_id)])

    async def state_groups(self) -> list[StateGroup]:
        """Every group with its number of keys and last change, by group id."""
        async with self._guard():
            groups: Any = await self._redis.zrange(PREFIX + "stategroups", 0, -1, withscores=True)
            async with self._redis.pipeline(transaction=False) as pipe:
                for group, _ in groups:
                    pipe.hlen(self._state_key(group.decode()))
                counts: Any = await pipe.execute()
        listed = [
            StateGroup(group.decode(), int(count), float(updated))
            for (group, updated), count in zip(groups, counts, strict=True)
            if count
        ]
        return sorted(listed, key=lambda g: g.group_id)

    # --- streams ------------------------------------------------------------

    @staticmethod
    def _items_key(stream: str, group_id: str) -> str:
        return f"{PREFIX}stream:{stream}:{group_id}"

    async def stream_get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The item, or ``None``."""
        async with self._guard():
            item = await self._redis.hget(self._items_key(stream, group_id), id)
        return None if item is None else msgspec.Raw(item)

    async def stream_set(
        self, stream: str, group_id: str, id: str, item: msgspec.Raw
    ) -> StreamChange:
        """Store the item; every broker's listeners hear of it (this one's before return)."""
        kind, stamp = await self._script("STREAM_SET", [stream, group_id, id, bytes(item)])
        change_type: StreamChangeType = "create" if kind == b"create" else "update"
        return await self._announced(
            StreamChange(stream, group_id, id, change_type, item, int(stamp))
        )

    async def stream_delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
        """Remove the item; the change carries it."""
        found = await self._script("STREAM_DELETE", [stream, group_id, id])
        if found is None:
            return None
        _, stamp, old = found
        return await self._announced(
            StreamChange(stream, group_id, id, "delete", msgspec.Raw(old), int(stamp))
        )

    async def stream_group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """All items of the group, by id."""
        async with self._guard():
            items = await self._redis.hgetall(self._items_key(stream, group_id))
        return [msgspec.Raw(items[k]) for k in sorted(items)]

    async def stream_send(
        self, stream: str, group_id: str, id: str | None, event: msgspec.Raw
    ) -> StreamChange:
        """Announce an ephemeral event to every broker's listeners."""
        _, stamp = await self._script("STREAM_SEND", [stream, group_id, id or "", bytes(event)])
        return await self._announced(StreamChange(stream, group_id, id, "event", event, int(stamp)))

    async def stream_names(self) -> list[str]:
        """Streams with stored items."""
        async with self._guard():
            names: Any = await self._redis.smembers(PREFIX + "streamnames")
        return sorted(name.decode() for name in names)

    async def stream_groups(self, stream: str) -> list[str]:
        """Groups of ``stream`` with stored items."""
        async with self._guard():
            groups: Any = await self._redis.smembers(f"{PREFIX}streamgroups:{stream}")
        return sorted(group.decode() for group in groups)

    def watch_streams(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener`` for every change, made by any broker on this Redis."""
        self._stream_listeners.append(listener)

        def stop() -> None:
            if listener in self._stream_listeners:
                self._stream_listeners.remove(listener)

        return stop

    def _on_stream_change(self, payload: bytes) -> None:
        change = _change_decoder.decode(payload)
        self._feed_high = max(self._feed_high, change.timestamp)
        for listener in list(self._stream_listeners):
            listener(change)
        self._feed_moved.set()
        self._feed_moved = anyio.Event()

    async def _announced(self, change: StreamChange) -> StreamChange:
        """Return once this broker's listeners had ``change`` (changes reach them
        through the channel, in the order Redis applied them, whoever made them).
        Bounded: with the channel down the change is stored, just not yet heard."""
        with anyio.move_on_after(SOCKET_TIMEOUT_S):
            while self._feed_high < change.timestamp:
                await self._feed_moved.wait()
        return change

    # --- spans and logs -----------------------------------------------------

    def record_span(self, span: Span) -> None:
        """Buffer a finished span (written in the background)."""
        self._traces.buffer.add_span(span)

    def record_log(self, record: LogRecord) -> None:
        """Buffer a log record (written in the background)."""
        self._traces.buffer.add_log(record)

    async def flush_traces(self) -> None:
        """Write what is buffered."""
        await self._traces.flush()

    async def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces that match, newest first."""
        return await self._traces.traces(query)

    async def trace(self, trace_id: str) -> Trace | None:
        """One trace with its spans and logs."""
        return await self._traces.trace(trace_id)

    async def logs(self, query: LogQuery) -> list[LogRecord]:
        """The newest records that match, oldest first."""
        return await self._traces.logs(query)
