"""Shared fixtures: the anyio backend, the real redis-server of the tests that
use Redis storage, and ``opened``, which runs a storage test against both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import pytest

from motiad.config import TraceRetention
from motiad.storage import RedisStore, SqliteStore, Store

from .redis_server import RedisServer

Opener = Callable[..., AbstractAsyncContextManager[Store]]
"""``opened(path=None, retention=None)``: a served store on this test's storage."""


@pytest.fixture
def anyio_backend() -> str:
    """motiad runs on asyncio (hypercorn's asyncio server)."""
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session, on a free port."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared server's URL, emptied for this test."""
    redis_server.flush()
    return redis_server.url()


@pytest.fixture(params=["sqlite", "redis"])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """The storage contract runs on both backends: each call opens a store on this
    test's storage (SQLite: ``path``, default ``tmp_path/db``; Redis: the emptied
    shared server), as another process would."""

    @asynccontextmanager
    async def open_one(
        path: Path | None = None, retention: TraceRetention | None = None
    ) -> AsyncIterator[Store]:
        store: Store
        if request.param == "sqlite":
            store = SqliteStore(path or tmp_path / "db", retention=retention)
        else:
            store = RedisStore(request.getfixturevalue("redis_url"), retention=retention)
        async with anyio.create_task_group() as tg:
            await tg.start(store.serve)
            yield store
            tg.cancel_scope.cancel()

    return open_one
