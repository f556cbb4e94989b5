"""What an invocation records of the storage writes made for it."""

from __future__ import annotations

import asyncio
from typing import cast

import anyio.lowlevel
import pytest

from motiad.errors import StorageError
from motiad.invocations import Invocation
from motiad.steps import Step

pytestmark = pytest.mark.anyio


async def test_writes_sharing_one_future_are_watched_once_and_a_failure_is_recorded() -> None:
    # A handler's burst of emits joins one commit: one callback on its future
    # (was one per emit, each a turn of the loop) records whether it failed.
    invocation = Invocation(cast(Step, None), "trace")
    committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    for _ in range(100):
        assert invocation.storage_write(lambda: committed) is committed
    assert len(committed._callbacks) == 1
    committed.set_exception(StorageError("db: disk I/O error"))
    await anyio.lowlevel.checkpoint()
    assert isinstance(invocation.storage_failure, StorageError)
    # the next write, a future of its own, is watched again
    later: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    invocation.storage_write(lambda: later)
    assert len(later._callbacks) == 1
    committed.exception()  # retrieved: no "never retrieved" warning
