"""SQLite storage: durable events and state, group commit, recovery on start."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import msgspec
import pytest

from motiad.storage import Event, SqliteStore

pytestmark = pytest.mark.anyio


def event(topic: str = "t", data: bytes = b'{"n":1}') -> Event:
    return Event(f"e-{time.monotonic_ns()}", topic, msgspec.Raw(data), "trace", None, time.time())


async def test_state_round_trip(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        await store.state_set("g", "b", msgspec.Raw(b'{"v":2}'))
        await store.state_set("g", "a", msgspec.Raw(b"1"))
        assert await store.state_get("g", "a") == msgspec.Raw(b"1")
        assert [bytes(v) for v in await store.state_group("g")] == [b"1", b'{"v":2}']
        assert await store.state_delete("g", "a") == msgspec.Raw(b"1")
        assert await store.state_get("g", "a") is None
        await store.state_clear("g")
        assert await store.state_group("g") == []
        tg.cancel_scope.cancel()


async def test_published_events_are_delivered_to_each_subscriber(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        await store.publish(event(), ["A", "B"])
        with anyio.fail_after(5):
            (a,) = await store.take("A", 10)
            (b,) = await store.take("B", 10)
        assert a.event.id == b.event.id
        assert a.attempt == 1
        tg.cancel_scope.cancel()


async def test_many_concurrent_writes_commit_together(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        async with anyio.create_task_group() as writers:
            for n in range(300):
                writers.start_soon(store.state_set, "g", f"k{n:03}", msgspec.Raw(b"1"))
        assert len(await store.state_group("g")) == 300
        tg.cancel_scope.cancel()


async def test_unacked_deliveries_come_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path)
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        await store.publish(event(), ["A"])
        await store.publish(event(), ["A"])
        with anyio.fail_after(5):
            first, second = await store.take("A", 10)
        await store.ack(first)
        tg.cancel_scope.cancel()
    again = SqliteStore(path)
    async with anyio.create_task_group() as tg:
        await tg.start(again.serve)
        with anyio.fail_after(5):
            (redelivered,) = await again.take("A", 10)
        assert redelivered.event.id == second.event.id
        tg.cancel_scope.cancel()


async def test_a_retry_waits_for_its_delay_and_counts_the_attempt(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        await store.publish(event(), ["A"])
        with anyio.fail_after(5):
            (delivery,) = await store.take("A", 10)
            await store.retry(delivery, "boom", 0.05)
            (again,) = await store.take("A", 10)
        assert again.attempt == 2
        tg.cancel_scope.cancel()
