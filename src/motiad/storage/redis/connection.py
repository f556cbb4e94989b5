"""The connection of the Redis backend: the pool, the Lua scripts sent in
pipelines (many calls per round trip), and the outage guard that turns Redis
failures into :class:`StorageError` and reports an outage once.

When Redis is unreachable every operation fails promptly with
:class:`StorageError` (bounded socket timeouts); the connection reports the
outage once through ``health`` and once again when Redis is back."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import redis.asyncio as aioredis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import StorageError, StorageUnavailable
from ..base import Health
from . import lua

PREFIX = "motiad:"
"""Every key starts with this; one project per Redis database (``/db`` in the URL)."""
SOCKET_TIMEOUT_S = 2.0
"""A command that gets no answer in this long fails: an API request that needs
storage answers 503 within a few seconds instead of hanging."""
CONNECT_TIMEOUT_S = 1.0
"""Redis answers a connect on a LAN in milliseconds; longer means it is away."""
OUTAGE_RETRY_S = (0.1, 2.0)
"""Backoff of a consumer while Redis is unreachable: first and longest wait."""
OUTAGE_REPORT_S = 10.0
"""At most one "unreachable" line this often: a flapping network is one line."""
HEALTH_CHECK_S = 1
"""A pooled connection idle this long is checked (PING) before use, so one that
died with a Redis restart is replaced instead of failing a request."""
POOL_SIZE = 32
"""Connections to Redis at most; a caller beyond waits (bounded) for one."""
PIPELINES = 4
"""Pipelines of script calls in flight at once: a few, so one slow batch does not
hold up the others; each is one round trip whatever its size."""
PIPELINE_MAX = 256
"""Script calls per pipeline at most."""

_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def stamp(seconds: float) -> str:
    """A time as the scripts take it (exact: ``repr`` of the float)."""
    return repr(seconds)


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
    joined: bool = False
    """A ``NAME_MANY`` call others join until it is sent (:meth:`RedisConnection.join_soon`):
    its outcome is ``None``, shared by them all."""


class RedisConnection:
    """One Redis server as the backend's parts use it."""

    def __init__(self, url: str, *, health: Health | None = None) -> None:
        self.url = url
        self.prefix = PREFIX
        self._health = health
        self._down = False
        self._down_at = 0.0
        self._reported = False
        """The current outage was logged (and its end will be)."""
        self._reported_at = -OUTAGE_REPORT_S
        self._client: aioredis.Redis | None = None
        self.scripts: dict[str, AsyncScript] = {}
        self._calls: deque[_Call] = deque()
        self._joining: dict[str, _Call] = {}
        """Per batched script, the ``NAME_MANY`` call still waiting for a pipeline."""
        self._calls_waiting = anyio.Event()

    async def open(self) -> None:
        """Connect; fails with :class:`StorageError` when Redis cannot be reached."""
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
        for name in lua.SCRIPTS:
            self.scripts[name] = client.register_script(getattr(lua, name))
        try:
            await client.ping()
        except RedisError as exc:
            raise StorageError(
                f"cannot reach Redis at {self.where()} ({exc}): is redis-server running"
                " there? (storage comes from --storage, MOTIAD_STORAGE or motiad.toml)"
            ) from exc

    async def close(self) -> None:
        """Close the pool; script calls still waiting fail."""
        client, self._client = self._client, None
        try:
            if client is not None:
                await client.aclose()
        finally:
            self._abandon(self._calls)
            self._calls.clear()
            self._joining.clear()

    def where(self) -> str:
        """The server's address without credentials, for messages."""
        return self.url.rsplit("@", 1)[-1]

    @property
    def redis(self) -> aioredis.Redis:
        """The client (:class:`StorageError` when the store is not open)."""
        if self._client is None:
            raise StorageError(f"Redis at {self.where()}: storage is not open")
        return self._client

    # --- the outage guard ----------------------------------------------------

    async def read_then_write(
        self, key: str, field: str, write: Callable[[Pipeline, bytes | None], bool]
    ) -> tuple[bytes | None, list[Any]]:
        """An optimistic transaction on one hash: WATCH ``key``, read ``field``,
        then ``write`` queues the writes for what was read inside MULTI (it
        answers ``False`` to write nothing) and EXEC runs them; again from the
        read when another client wrote ``key`` in between, so brokers sharing
        the Redis never lose each other's updates. Returns what was read and
        EXEC's answers (``[]`` when nothing was written)."""
        async with self.guard():
            while True:
                async with self.redis.pipeline(transaction=True) as pipe:
                    try:
                        await pipe.watch(key)
                        read: Any = await pipe.hget(key, field)
                        old = None if read is None else bytes(read)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        if not write(pipe, old):  # leaving the pipeline unwatches
                            return old, []
                        return old, list(await pipe.execute())
                    except WatchError:
                        continue

    @asynccontextmanager
    async def guard(self, started: float | None = None) -> AsyncIterator[None]:
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
            return StorageError(f"Redis at {self.where()}: {exc}")
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
                f"storage: Redis at {self.where()} is unreachable ({exc}); requests that"
                " need storage answer 503 until it is back",
            )
        return StorageUnavailable(f"Redis at {self.where()} is unreachable: {exc}")

    def _answered(self, started: float) -> None:
        """An operation ``started`` at that time was answered: an outage before it is over."""
        if self._down and started > self._down_at:
            self._down = False
            if self._reported:
                self._reported = False
                self._report("info", f"storage: Redis at {self.where()} is reachable again")

    def _report(self, level: Literal["info", "error"], message: str) -> None:
        if self._health is not None:
            self._health(level, message)

    @staticmethod
    async def outage_pause(failures: int) -> None:
        """Wait before trying again after ``failures`` failures in a row."""
        first, longest = OUTAGE_RETRY_S
        await anyio.sleep(min(longest, first * 2**failures))

    # --- scripts in pipelines -----------------------------------------------

    async def script(self, name: str, args: Sequence[Any], keys: Sequence[str] = ()) -> Any:
        """Run a script of :mod:`.lua`; concurrent calls share a pipeline."""
        return await self.script_soon(name, args, keys)

    def script_soon(
        self, name: str, args: Sequence[Any], keys: Sequence[str] = ()
    ) -> asyncio.Future[Any]:
        """Queue a script call for the next pipeline: a future of its own (the
        caller may await it, or add a callback), done with its result or failed
        with a :class:`StorageError`. No task and no coroutine per call."""
        if self._client is None:
            raise StorageError(f"Redis at {self.where()}: storage is not open")
        outcome = asyncio.get_running_loop().create_future()
        self._calls.append(_Call(name, self.scripts[name], [*keys], [PREFIX, *args], outcome))
        self._calls_waiting.set()
        return outcome

    def join_soon(self, name: str, args: Sequence[Any]) -> asyncio.Future[None]:
        """Join a call of a batched script (``PUBLISH``, ``SETTLE``) to the one
        ``NAME_MANY`` call of it waiting for the next pipeline (queued by the
        first to join): one queued call, one future and one script run for all
        the calls made before it is sent, with no wait added. The future is done
        once Redis ran them (their own results are dropped: for writes whose
        callers need to know only that Redis has them), or failed as
        :meth:`script_soon`'s."""
        many = f"{name}_MANY"
        call = self._joining.get(many)
        if call is None:
            self.script_soon(many, [0])
            call = self._joining[many] = self._calls[-1]
            call.joined = True
        call.args[1] -= 1  # negative: Redis answers the count, not each result
        call.args.append(len(args))
        call.args += args
        return call.outcome

    async def send_scripts(self) -> None:
        """Send the waiting script calls, many per round trip (the Redis side of
        SQLite's group commit: a busy flow is not bound by one round trip per emit)."""
        while True:
            while not self._calls:
                self._calls_waiting = anyio.Event()
                await self._calls_waiting.wait()
            batch = [self._calls.popleft() for _ in range(min(PIPELINE_MAX, len(self._calls)))]
            for call in batch:
                if call.joined:  # sent: later calls start another
                    self._joining.pop(call.name, None)
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
                    StorageError(f"Redis at {self.where()}: storage closed before it answered")
                )

    def _settle_call(self, call: _Call) -> None:
        """Hand a call's result or mapped failure to its future (unless its
        waiter gave up: then there is nobody to tell)."""
        if call.outcome.done():
            return
        if call.error is None:
            self._answered(call.queued_at)
            call.outcome.set_result(None if call.joined else call.result)
        elif isinstance(call.error, RedisError):
            call.outcome.set_exception(self._failed(call.error))
        else:
            call.outcome.set_exception(StorageError(f"Redis at {self.where()}: {call.error}"))

    async def _run_batch(self, batch: list[_Call]) -> None:
        for reloaded in (False, True):
            entries = self._pipeline_entries(batch)
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
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
                elif calls[0].name in lua.BATCHED:  # NAME_MANY: a result per call
                    for call, one in zip(calls, result, strict=True):
                        call.result = one
                else:
                    calls[0].result = result
            if not again:
                return
            try:
                for script in self.scripts.values():
                    script.sha = await self.redis.script_load(script.script)
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
            if call.name in lua.BATCHED:
                grouped.setdefault(call.name, []).append(call)
            else:
                entries.append((call.script, call.keys, call.args, [call]))
        for name, calls in grouped.items():
            args: list[Any] = [PREFIX, len(calls)]
            for call in calls:
                args += [len(call.args) - 1, *call.args[1:]]
            entries.append((self.scripts[f"{name}_MANY"], [], args, calls))
        return entries
