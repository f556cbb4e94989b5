"""What only the SQLite backend does: small batches committed on the event loop,
checkpoints of the WAL by the broker (the contract both backends keep is in
test_storage_contract.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest

from motiad.storage import SqliteStore
from motiad.storage import sqlite as sqlite_module
from motiad.storage.sqlite import _Write

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

        probe: _Write[object] = _Write(lambda conn: conn.execute("SELECT 1"))
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
    async with opened(tmp_path / "db") as store:
        for n in range(sqlite_module.CHECKPOINT_AFTER + 10):
            await store.state_set("g", f"k{n}", msgspec.Raw(b"1"))
        assert store._since_checkpoint < sqlite_module.CHECKPOINT_AFTER
        assert len(await store.state_group("g")) == sqlite_module.CHECKPOINT_AFTER + 10
