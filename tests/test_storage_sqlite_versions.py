"""Every database file motiad ever wrote opens in today's motiad, migrated, with
its data: one fixture per shape of the file in the project's history (written
by that version's own code, see tests/fixtures/sqlite_versions/write_fixture.py),
from the walking skeleton to the versioned file this code writes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
import pytest

from motiad.errors import StorageError
from motiad.records import LogRecord, Span
from motiad.storage import DeadLetterFilter, Event, SqliteStore, Target, durable
from motiad.storage.sqlite import schema

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures" / "sqlite_versions"
VERSIONS = sorted(FIXTURES.glob("*.sql"))


@asynccontextmanager
async def opened(path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(path)
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        yield store
        tg.cancel_scope.cancel()


def test_there_is_a_fixture_of_every_shape_and_of_todays_version() -> None:
    # 01 (walking skeleton) to 08 (main before versions were kept), then 09
    # (version 6) and 10 (version 7: spans know their parents), written by the
    # code of their time: a new migration comes with a fixture of the version it makes.
    assert len(VERSIONS) == 10
    assert f"PRAGMA user_version = {schema.VERSION};" in VERSIONS[-1].read_text()


def load(dump: Path, path: Path) -> str:
    """Make the file ``dump`` describes at ``path``; returns the dump."""
    sql = dump.read_text()
    old = sqlite3.connect(path)
    old.executescript(sql)
    old.close()
    return sql


@pytest.mark.parametrize("dump", VERSIONS, ids=[p.stem for p in VERSIONS])
async def test_a_file_of_an_earlier_version_is_migrated_with_its_data(
    dump: Path, tmp_path: Path
) -> None:
    path = tmp_path / "motiad.db"
    sql = load(dump, path)
    for _ in range(2):  # and a migrated file opens again unchanged
        async with opened(path) as store:
            with anyio.fail_after(10):
                await check_data_survived(store, sql)
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone() == (schema.VERSION,)
    async with opened(path) as store:
        with anyio.fail_after(10):
            await check_the_store_works(store)


async def check_data_survived(store: SqliteStore, sql: str) -> None:
    assert await store.state_get("cart", "k1") == msgspec.Raw(b'{"items":[1,2]}')
    (letter,) = await store.dead_letters(DeadLetterFilter(all=True))
    assert (letter.step, letter.event.id, letter.event.message_group_id) == ("C", "e2", "g1")
    assert letter.event.data == msgspec.Raw(b'{"n":2}')
    assert letter.error.message == "no stock"
    for step in ("A", "B"):
        store.open_queue(step, fifo=False, lease_s=30)
        (delivery,) = await store.take(step, 10)
        assert (delivery.event.id, delivery.attempt) == ("e1", 1)
        assert delivery.event.data == msgspec.Raw(b'{"n":1}')
        store.release([delivery])
        store.close_queue(step)
    if "stream_items" in sql:
        item = await store.stream_get("todo", "inbox", "i1")
        assert item == msgspec.Raw(b'{"id":"i1","done":false}')
    if "spans" in sql:
        trace = await store.trace("t1")
        assert trace is not None
        assert [s.id for s in trace.spans] == ["s1"]
        assert [r.message for r in trace.logs] == ["order taken"]
        assert trace.summary.detail == "POST /orders"
        (span,) = trace.spans
        if "parent_id" in sql:  # version 7 on: a span knows its parents
            assert (span.parent_id, span.caller_id, span.emitted) == (
                "00f067aa0ba902b8",
                "00f067aa0ba902b7",
                ["e1"],
            )
        else:
            assert (span.parent_id, span.caller_id, span.emitted) == (None, None, None)


async def check_the_store_works(store: SqliteStore) -> None:
    store.open_queue("A", fifo=False, lease_s=30)
    (pending,) = await store.take("A", 10)
    await durable(store.ack(pending))
    event = Event("e3", "orders", msgspec.Raw(b'{"n":3}'), "t3", None, time.time())
    await durable(store.publish(event, [Target("A")]))
    (delivery,) = await store.take("A", 10)
    assert delivery.event.id == "e3"
    await durable(store.ack(delivery))
    assert await store.redrive(DeadLetterFilter(all=True)) == 1
    await store.state_set("cart", "k2", msgspec.Raw(b"2"))
    assert len(await store.state_group("cart")) == 2
    change = await store.stream_set("todo", "inbox", "i2", msgspec.Raw(b'{"id":"i2"}'))
    assert change.type == "create"
    store.record_span(Span("s3", "t3", "A", "event", "orders", 1.0, 2.0, "ok", 1, None, "p3"))
    store.record_log(LogRecord(1.5, "info", "handled", "A", "t3", "s3"))
    await store.flush_traces()
    trace = await store.trace("t3")
    assert trace is not None
    assert ([s.id for s in trace.spans], [r.message for r in trace.logs]) == (["s3"], ["handled"])
    assert trace.spans[0].parent_id == "p3"


async def test_a_file_of_a_newer_motiad_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "motiad.db"
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    newer.close()
    store = SqliteStore(path)
    with pytest.raises(StorageError, match="newer motiad") as raised:
        await store.serve()
    assert str(path) in str(raised.value)
