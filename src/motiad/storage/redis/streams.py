"""Streams on Redis: items in a hash per (stream, group); every change, from any
broker, published on one channel and handed to this broker's listeners in the
order Redis applied them (stamped in Redis, so stamps rise across brokers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import msgspec
from redis.asyncio.client import Pipeline

from ..base import StreamChange, StreamChangeType, StreamListener, StreamListeners
from .connection import PREFIX, SOCKET_TIMEOUT_S, RedisConnection
from .lua import STREAM_SET

CHANNEL = PREFIX + "streams"
"""The pub/sub channel of stream changes."""

_change_decoder = msgspec.json.Decoder(StreamChange)


def _items_key(stream: str, group_id: str) -> str:
    return f"{PREFIX}stream:{stream}:{group_id}"


class RedisStreams:
    """Stream items shared by every broker, and this broker's listeners."""

    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._listeners = StreamListeners()
        self._feed_high = 0
        """The newest stream change stamp this broker's listeners have seen."""
        self._feed_moved = anyio.Event()

    async def get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The item, or ``None``."""
        async with self._conn.guard():
            item = await self._conn.redis.hget(_items_key(stream, group_id), id)
        return None if item is None else msgspec.Raw(item)

    async def set(self, stream: str, group_id: str, id: str, item: msgspec.Raw) -> StreamChange:
        """Store the item; every broker's listeners hear of it (this one's before return)."""
        kind, stamp = await self._conn.script("STREAM_SET", [stream, group_id, id, bytes(item)])
        change_type: StreamChangeType = "create" if kind == b"create" else "update"
        return await self._announced(
            StreamChange(stream, group_id, id, change_type, item, int(stamp))
        )

    async def update(
        self, stream: str, group_id: str, id: str, change: Callable[[bytes | None], bytes | None]
    ) -> tuple[msgspec.Raw | None, StreamChange | None]:
        """Optimistic transaction, as state's ``update``: WATCH the group's hash,
        read the item, change it, then store it with the ``STREAM_SET`` script
        inside MULTI/EXEC (so the write is stamped and announced as any set);
        again from the read when another client wrote the group in between:
        brokers sharing the Redis never lose each other's updates."""
        written: list[bytes] = []

        def write(pipe: Pipeline, old: bytes | None) -> bool:
            new = change(old)
            if new is None:
                return False
            written.append(new)
            # EVAL, not EVALSHA: a restarted Redis that forgot the script
            # would fail the whole transaction.
            pipe.eval(STREAM_SET, 0, PREFIX, stream, group_id, id, new)
            return True

        old, answers = await self._conn.read_then_write(_items_key(stream, group_id), id, write)
        if not answers:
            return (None if old is None else msgspec.Raw(old)), None
        (result,), new = answers, written[-1]  # the last try's write is the one stored
        kind, stamp = result
        change_type: StreamChangeType = "create" if kind == b"create" else "update"
        announced = await self._announced(
            StreamChange(stream, group_id, id, change_type, msgspec.Raw(new), int(stamp))
        )
        return (None if old is None else msgspec.Raw(old)), announced

    async def delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
        """Remove the item; the change carries it."""
        found = await self._conn.script("STREAM_DELETE", [stream, group_id, id])
        if found is None:
            return None
        _, stamp, old = found
        return await self._announced(
            StreamChange(stream, group_id, id, "delete", msgspec.Raw(old), int(stamp))
        )

    async def group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """All items of the group, by id."""
        async with self._conn.guard():
            items = await self._conn.redis.hgetall(_items_key(stream, group_id))
        return [msgspec.Raw(items[k]) for k in sorted(items)]

    async def send(
        self, stream: str, group_id: str, id: str | None, event: msgspec.Raw
    ) -> StreamChange:
        """Announce an ephemeral event to every broker's listeners."""
        args = [stream, group_id, id or "", bytes(event)]
        _, stamp = await self._conn.script("STREAM_SEND", args)
        return await self._announced(StreamChange(stream, group_id, id, "event", event, int(stamp)))

    async def names(self) -> list[str]:
        """Streams with stored items."""
        async with self._conn.guard():
            names: Any = await self._conn.redis.smembers(PREFIX + "streamnames")
        return sorted(name.decode() for name in names)

    async def groups(self, stream: str) -> list[str]:
        """Groups of ``stream`` with stored items."""
        async with self._conn.guard():
            groups: Any = await self._conn.redis.smembers(f"{PREFIX}streamgroups:{stream}")
        return sorted(group.decode() for group in groups)

    def watch(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener`` for every change, made by any broker on this Redis."""
        return self._listeners.add(listener)

    def on_change(self, payload: bytes) -> None:
        """A change arrived on :data:`CHANNEL`: hand it to every listener."""
        change = _change_decoder.decode(payload)
        self._feed_high = max(self._feed_high, change.timestamp)
        self._listeners.tell(change)
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
