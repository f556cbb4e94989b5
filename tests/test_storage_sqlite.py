"""What only the SQLite backend does: small batches committed on the event loop,
publishes batched into one write, checkpoints of the WAL by the broker (the
contract both backends keep is in test_storage_contract.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest

from motiad.errors import StorageError
from motiad.records import Span
from motiad.storage import Event, SqliteStore, Target, durable
from motiad.storage.sqlite.writer import CHECKPOINT_AFTER, Write

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(path)
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        yield store
        tg.cancel_scope.cancel()


async def test_a_small_write_never_blocks_the_loop_on_another_processs_lock(
    tmp_path: Path,
) -> None:
    # Small batches commit on the event loop; one that would wait for a lock held
    # by another connection (``motiad emit`` from a shell) waits in the thread.
    async with opened(tmp_path / "db") as store:
        await store.state_set("g", "warm", msgspec.Raw(b"0"))
        other = sqlite3.connect(tmp_path / "db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        done = anyio.Event()

        async def write() -> None:
            await store.state_set("g", "k", msgspec.Raw(b"1"))
            done.set()

        probe: Write[object] = Write(lambda conn: conn.execute("SELECT 1"))
        assert store.writer.apply_inline([probe]) is False  # not applied: the lock is held
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
    async with opened(tmp_path / "db") as store:
        for n in range(CHECKPOINT_AFTER + 10):
            await store.state_set("g", f"k{n}", msgspec.Raw(b"1"))
        assert store.writer.since_checkpoint < CHECKPOINT_AFTER
        assert len(await store.state_group("g")) == CHECKPOINT_AFTER + 10


async def test_publishes_of_one_turn_share_a_commit_and_each_delivery_has_its_row(
    tmp_path: Path,
) -> None:
    # The emits a child sends in one burst join one write (two executemany); the
    # deliveries scheduled from it carry the ids their rows got.
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False, lease_s=30)
        store.open_queue("B", fifo=False, lease_s=30)
        events = [
            Event(f"e{n}", "t", msgspec.Raw(b"{}"), "trace", None, time.time()) for n in range(300)
        ]
        futures = {store.publish(e, [Target("A"), Target("B")]) for e in events}
        assert len(futures) == 1  # one write for all of them
        with anyio.fail_after(10):
            await asyncio.shield(futures.pop())
            taken = [*await store.take("A", 1000), *await store.take("B", 1000)]
        rows = sqlite3.connect(tmp_path / "db").execute("SELECT id, event_id, step FROM deliveries")
        assert sorted((d.id, d.event.id, d.step) for d in taken) == sorted(rows)
        assert len(taken) == 600
        acks = {store.ack(delivery) for delivery in taken}
        assert len(acks) == 1  # one write for all of them too
        with anyio.fail_after(10):
            await durable(acks.pop())
        left = sqlite3.connect(tmp_path / "db").execute(
            "SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM events)"
        )
        assert left.fetchone() == (0, 0)


async def test_a_publish_that_cannot_commit_fails_its_future(tmp_path: Path) -> None:
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False, lease_s=30)
        published = Event("e1", "t", msgspec.Raw(b"{}"), "trace", None, time.time())
        await durable(store.publish(published, [Target("A")]))
        committed = store.publish(published, [Target("A")])  # the same id again
        with anyio.fail_after(10), pytest.raises(StorageError, match="UNIQUE constraint"):
            await asyncio.shield(committed)


async def test_spans_of_a_file_an_earlier_motiad_made_move_to_todays_table(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(
        """
        CREATE TABLE spans (
            id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, step TEXT NOT NULL,
            trig TEXT NOT NULL, detail TEXT NOT NULL, started_at REAL NOT NULL,
            ended_at REAL NOT NULL, outcome TEXT NOT NULL, attempt INTEGER NOT NULL,
            error BLOB
        ) WITHOUT ROWID;
        CREATE INDEX spans_by_trace ON spans(trace_id, started_at);
        INSERT INTO spans VALUES ('s1', 't1', 'A', 'event', 'x', 1.0, 2.0, 'ok', 1, NULL);
        """
    )
    old.close()
    async with opened(path) as store:
        store.record_span(Span("s2", "t1", "B", "event", "x", 3.0, 4.0, "ok", 1, None))
        store.record_span(Span("s1", "t1", "A", "event", "x", 1.0, 2.0, "ok", 1, None))
        await store.flush_traces()  # s1 is known: stored once
        trace = await store.trace("t1")
    assert trace is not None
    assert [s.id for s in trace.spans] == ["s1", "s2"]
    (sql,) = sqlite3.connect(path).execute("SELECT sql FROM sqlite_master WHERE name = 'spans'")
    assert "WITHOUT ROWID" not in sql[0]


async def test_deliveries_released_after_their_queue_closed_stay_pending_uncounted(
    tmp_path: Path,
) -> None:
    # A step stopped (a reload) while its worker held taken deliveries it had
    # not started: the worker hands them back only as its cancellation unwinds,
    # after the dispatch closed the queue. They stay pending, not counted as made,
    # and the reopened queue delivers them.
    async with opened(tmp_path / "db") as store:
        store.open_queue("A", fifo=False, lease_s=30)
        event = Event("e1", "t", msgspec.Raw(b"{}"), "trace", None, time.time())
        with anyio.fail_after(10):
            await durable(store.publish(event, [Target("A")]))
            taken = await store.take("A", 10)
        assert [d.attempt for d in taken] == [1]
        store.close_queue("A")
        store.release(taken)
        later = Event("e2", "t", msgspec.Raw(b"{}"), "trace", None, time.time())
        with anyio.fail_after(10):
            await durable(store.publish(later, []))  # committed after the release's write
            store.open_queue("A", fifo=False, lease_s=30)
            again = await store.take("A", 10)
        assert [(d.id, d.attempt) for d in again] == [(taken[0].id, 1)]
