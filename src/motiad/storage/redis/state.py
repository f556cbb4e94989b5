"""State on Redis: a hash per group, and a sorted set of groups by last change."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from redis.asyncio.client import Pipeline

from ..base import StateGroup
from .connection import PREFIX, RedisConnection, stamp


def _key(group_id: str) -> str:
    return f"{PREFIX}state:{group_id}"


class RedisState:
    """JSON values by (group, key), shared by every broker of the project."""

    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn

    async def get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The stored value, or ``None``."""
        async with self._conn.guard():
            value = await self._conn.redis.hget(_key(group_id), key)
        return None if value is None else msgspec.Raw(value)

    async def set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Store ``value``; durable on return."""
        args = [group_id, key, bytes(value), stamp(time.time())]
        await self._conn.script("STATE_SET", args, keys=[_key(group_id)])

    async def update(
        self, group_id: str, key: str, change: Callable[[bytes | None], bytes]
    ) -> tuple[msgspec.Raw | None, msgspec.Raw]:
        """Optimistic transaction (WATCH, read, change, MULTI/EXEC), again
        from the read when another client wrote the group in between: brokers
        sharing the Redis never lose each other's updates."""
        group = _key(group_id)
        written: list[bytes] = []

        def write(pipe: Pipeline, old: bytes | None) -> bool:
            new = change(old)
            written.append(new)
            pipe.hset(group, key, new)
            pipe.zadd(PREFIX + "stategroups", {group_id: time.time()})
            return True

        old, _ = await self._conn.read_then_write(group, key, write)
        return (None if old is None else msgspec.Raw(old)), msgspec.Raw(written[-1])

    async def delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Delete and return the old value."""
        old = await self._conn.script("STATE_FORGET", [group_id, key], keys=[_key(group_id)])
        return None if old is None else msgspec.Raw(old)

    async def items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, by key."""
        async with self._conn.guard():
            values: Any = await self._conn.redis.hgetall(_key(group_id))
        return [(k.decode(), msgspec.Raw(values[k])) for k in sorted(values)]

    async def clear(self, group_id: str) -> None:
        """Delete the whole group."""
        await self._conn.script("STATE_FORGET", [group_id, ""], keys=[_key(group_id)])

    async def groups(self) -> list[StateGroup]:
        """Every group with its number of keys and last change, by group id."""
        redis = self._conn.redis
        async with self._conn.guard():
            groups: Any = await redis.zrange(PREFIX + "stategroups", 0, -1, withscores=True)
            async with redis.pipeline(transaction=False) as pipe:
                for group, _ in groups:
                    pipe.hlen(_key(group.decode()))
                counts: Any = await pipe.execute()
        listed = [
            StateGroup(group.decode(), int(count), float(updated))
            for (group, updated), count in zip(groups, counts, strict=True)
            if count
        ]
        return sorted(listed, key=lambda g: g.group_id)
