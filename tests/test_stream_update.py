"""``Stream.update`` applies in one step of the store (SPEC
``stream.update-atomic``): concurrent updates of one stream item lose nothing,
on SQLite, on Redis, and across brokers sharing one Redis (as
``stateManager.update`` already did, ``state.update-atomic``).

Motia 1.x pins the behaviour: its stream ``update`` is the iii engine's
atomic update of the item (engine/src/modules/stream: ``UpdateOp`` applied by
the adapter in one step), as state's is (engine/src/builtins/kv.rs ``update``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from .conftest import Opener
from .harness import FIXTURES, motiad
from .test_redis_instances import until

pytestmark = pytest.mark.anyio


def _add(by: int) -> Callable[[bytes | None], bytes | None]:
    """A store ``change``: add ``by`` to ``total`` (``None`` out: refuse)."""

    def change(old: bytes | None) -> bytes | None:
        value: dict[str, Any] = {"id": "all", "total": 0}
        if old is not None:
            value = msgspec.json.decode(old)
        value["total"] += by
        return None if value["total"] > 1000 else msgspec.json.encode(value)

    return change


async def test_concurrent_updates_of_one_item_lose_nothing_on_each_store(opened: Opener) -> None:
    """SPEC `stream.update-atomic` (the store's half): 50 read-change-writes at
    once, each with its change announced to the stream's listeners."""
    heard: list[int] = []
    async with opened() as store:
        store.watch_streams(lambda c: heard.append(msgspec.json.decode(c.data)["total"]))
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(store.stream_update, "counter", "g", "all", _add(1))
        old, change = await store.stream_update("counter", "g", "all", _add(1))
        assert old is not None
        assert msgspec.json.decode(old)["total"] == 50
        assert change is not None
        assert change.type == "update"
        assert msgspec.json.decode(change.data) == {"id": "all", "total": 51}
        # a change that refuses writes nothing and announces nothing
        old, change = await store.stream_update("counter", "g", "all", _add(5000))
        assert change is None
        assert old is not None
        assert msgspec.json.decode(await store.stream_get("counter", "g", "all") or b"") == {
            "id": "all",
            "total": 51,
        }
    assert sorted(heard) == list(range(1, 52))


async def test_two_brokers_on_one_redis_lose_no_stream_update_of_either_language(
    tmp_path: Path, redis_url: str
) -> None:
    """SPEC `stream.update-atomic` across brokers: both brokers run the Node and
    the Python handler of each event, every handler increments one stream item
    (Motia 1.x `Stream.update` / `stream.update`), and the item ends at exactly
    two per event: no broker overwrote another's update."""
    project = tmp_path / "counter"
    shutil.copytree(FIXTURES / "motia1x_stream_counter", project)
    (project / "motiad.toml").write_text(f'storage = "{redis_url}"\n')
    events = 60
    args = ("run", str(project), "--port", "0")
    async with (
        motiad(*args) as a,
        motiad(*args) as b,
        httpx.AsyncClient(base_url=a.url) as on_a,
        httpx.AsyncClient(base_url=b.url) as on_b,
    ):
        async with anyio.create_task_group() as tg:
            for n in range(events):
                http = (on_a, on_b)[n % 2]
                emit = partial(http.post, "/__motiad/api/emit")
                tg.start_soon(partial(emit, json={"topic": "count", "data": {"n": n}}))
        total = 2 * events
        # the last increment, on whichever broker, logs the full total
        done = re.compile(rf'counted .*"total":{total}\b')
        await until(lambda: any(done.search(x.output()) for x in (a, b)), (a, b), within=120)
        items = (await on_b.get("/__motiad/api/streams/counter/hits")).json()["items"]
        assert items == [{"id": "all", "total": total}]
        # both brokers did part of the work
        for broker in (a, b):
            assert re.search(r"counted", broker.output()), broker.output()[-2000:]
