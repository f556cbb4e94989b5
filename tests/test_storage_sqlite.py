"""SQLite storage: durable events and state, group commit, FIFO groups, dead
letters, recovery on start, and writes from other processes."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest

from motiad.protocol.messages import ErrorInfo
from motiad.storage import DeadLetterFilter, Event, SqliteStore, Target

pytestmark = pytest.mark.anyio
_ids = itertools.count()
BOOM = ErrorInfo("ValueError", "boom", "Traceback ...")


def event(topic: str = "t", group: str | None = None, n: int = 0) -> Event:
    data = msgspec.json.encode({"n": n})
    return Event(f"e{next(_ids)}", topic, msgspec.Raw(data), "trace", group, time.time())


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(path)
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        yield store
        tg.cancel_scope.cancel()


async def test_state_round_trip(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        await store.state_set("g", "b", msgspec.Raw(b'{"v":2}'))
        await store.state_set("g", "a", msgspec.Raw(b"1"))
        assert await store.state_get("g", "a") == msgspec.Raw(b"1")
        assert [bytes(v) for v in await store.state_group("g")] == [b"1", b'{"v":2}']
        assert await store.state_delete("g", "a") == msgspec.Raw(b"1")
        assert await store.state_get("g", "a") is None
        await store.state_clear("g")
        assert await store.state_group("g") == []


async def test_published_events_are_delivered_to_each_subscriber(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False)
        store.open_queue("B", fifo=False)
        await store.publish(event(), [Target("A"), Target("B")])
        with anyio.fail_after(5):
            (a,) = await store.take("A", 10)
            (b,) = await store.take("B", 10)
        assert a.event.id == b.event.id
        assert a.attempt == 1


async def test_many_concurrent_writes_commit_together(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store, anyio.create_task_group() as writers:
        for n in range(300):
            writers.start_soon(store.state_set, "g", f"k{n:03}", msgspec.Raw(b"1"))
    async with opened(tmp_path / "db") as store:
        assert len(await store.state_group("g")) == 300


async def test_unacked_deliveries_come_back_after_a_restart(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False)
        await store.publish(event(), [Target("A")])
        await store.publish(event(), [Target("A")])
        with anyio.fail_after(5):
            first, second = await store.take("A", 10)
        await store.ack(first)
    async with opened(tmp_path / "db") as again:
        again.open_queue("A", fifo=False)
        with anyio.fail_after(5):
            (redelivered,) = await again.take("A", 10)
        assert redelivered.event.id == second.event.id


async def test_a_retry_waits_for_its_delay_and_counts_the_attempt(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False)
        await store.publish(event(), [Target("A")])
        with anyio.fail_after(5):
            (delivery,) = await store.take("A", 10)
            await store.retry(delivery, BOOM, 0.05)
            (again,) = await store.take("A", 10)
        assert again.attempt == 2


async def test_a_delayed_delivery_is_not_due_before_its_time(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False)
        published = event()
        await store.publish(published, [Target("A", delay_s=0.2)])
        with anyio.fail_after(5):
            (delivery,) = await store.take("A", 10)
        assert time.time() >= published.created_at + 0.2
        assert delivery.event.id == published.id


async def test_fifo_hands_out_one_event_per_group_in_emit_order(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("F", fifo=True)
        for n in range(3):
            await store.publish(event(group="g1", n=n), [Target("F")])
            await store.publish(event(group="g2", n=n), [Target("F")])
        with anyio.fail_after(5):
            heads = await store.take("F", 10)
            assert [(d.event.message_group_id, d.event.data) for d in heads] == [
                ("g1", msgspec.Raw(b'{"n":0}')),
                ("g2", msgspec.Raw(b'{"n":0}')),
            ]
            g1, g2 = heads
            await store.retry(g1, BOOM, 0)  # a failing head keeps its place
            (again,) = await store.take("F", 10)
            assert (again.id, again.attempt) == (g1.id, 2)
            await store.ack(again)
            (next_g1,) = await store.take("F", 10)
            assert next_g1.event.data == msgspec.Raw(b'{"n":1}')
            await store.dead_letter(g2, BOOM)  # a dead head frees its group too
            (next_g2,) = await store.take("F", 10)
            assert next_g2.event.message_group_id == "g2"


async def test_dead_letters_keep_their_error_and_can_be_redriven_or_purged(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False)
        await store.publish(event("orders"), [Target("A")])
        await store.publish(event("other"), [Target("A")])
        with anyio.fail_after(5):
            first, second = await store.take("A", 10)
        await store.dead_letter(first, BOOM)
        await store.dead_letter(second, BOOM)
        assert await store.dead_letters(DeadLetterFilter()) == []  # nothing unless told what
        letters = await store.dead_letters(DeadLetterFilter(all=True))
        assert [(d.event.topic, d.error, d.attempts) for d in letters] == [
            ("orders", BOOM, 1),
            ("other", BOOM, 1),
        ]
        assert await store.redrive(DeadLetterFilter(topic="orders")) == 1
        with anyio.fail_after(5):
            (redriven,) = await store.take("A", 10)
        assert redriven.event.topic == "orders"
        assert await store.purge(DeadLetterFilter(ids=(second.id,))) == 1
        assert await store.dead_letters(DeadLetterFilter(all=True)) == []


async def test_events_and_redrives_from_another_process_are_picked_up(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as broker:
        broker.open_queue("A", fifo=False)
        broker.route_enqueued(lambda topic: [Target("A")] if topic == "cli" else [])
        async with opened(tmp_path / "db") as cli:  # as `motiad emit` would
            await cli.enqueue(event("cli", n=5))
        with anyio.fail_after(5):
            (delivery,) = await broker.take("A", 10)
        assert delivery.event.data == msgspec.Raw(b'{"n":5}')
        await broker.dead_letter(delivery, BOOM)
        async with opened(tmp_path / "db") as cli:  # as `motiad dlq redrive` would
            assert await cli.redrive(DeadLetterFilter(all=True)) == 1
        with anyio.fail_after(5):
            (again,) = await broker.take("A", 10)
        assert again.id == delivery.id


async def test_a_small_write_never_blocks_the_loop_on_another_processs_lock(
    tmp_path: Path,
) -> None:
    # Small batches commit on the event loop; one that would wait for a lock held
    # by another connection (``motiad emit`` from a shell) waits in the thread.
    import sqlite3

    async with opened(tmp_path / "db") as store:
        await store.state_set("g", "warm", msgspec.Raw(b"0"))
        other = sqlite3.connect(tmp_path / "db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        done = anyio.Event()

        async def write() -> None:
            await store.state_set("g", "k", msgspec.Raw(b"1"))
            done.set()

        from motiad.storage.sqlite import _Write

        probe = _Write(lambda conn: conn.execute("SELECT 1"))
        assert store._apply_inline([probe]) is False  # not applied: the lock is held
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            for _ in range(10):  # the writer takes the batch and tries it
                await anyio.lowlevel.checkpoint()
            assert not done.is_set()
            other.execute("ROLLBACK")
            with anyio.fail_after(10):
                await done.wait()
        other.close()
        assert await store.state_get("g", "k") == msgspec.Raw(b"1")


async def test_the_wal_is_checkpointed_by_the_broker(tmp_path: Path) -> None:
    from motiad.storage import sqlite as sqlite_module

    async with opened(tmp_path / "db") as store:
        for n in range(sqlite_module.CHECKPOINT_AFTER + 10):
            await store.state_set("g", f"k{n}", msgspec.Raw(b"1"))
        assert store._since_checkpoint < sqlite_module.CHECKPOINT_AFTER
        assert len(await store.state_group("g")) == sqlite_module.CHECKPOINT_AFTER + 10
