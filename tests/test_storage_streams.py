"""Stream storage: items by (stream, group, id), listings for the workbench, and
the change feed that WebSocket clients are fed from (every backend must pass
these; the store under test is opened by ``opened``)."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec
import pytest

from motiad.storage import StreamChange

from .conftest import Opener

pytestmark = pytest.mark.anyio


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


async def test_stream_items_round_trip_by_stream_group_and_id(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        await store.stream_set("todo", "g", "b", raw({"id": "b", "n": 2}))
        await store.stream_set("todo", "g", "a", raw({"id": "a", "n": 1}))
        await store.stream_set("other", "g", "a", raw({"id": "a", "n": 9}))
        assert await store.stream_get("todo", "g", "a") == raw({"id": "a", "n": 1})
        assert await store.stream_get("todo", "h", "a") is None
        assert await store.stream_group("todo", "g") == [
            raw({"id": "a", "n": 1}),
            raw({"id": "b", "n": 2}),
        ]
        deleted = await store.stream_delete("todo", "g", "a")
        assert deleted is not None
        assert (deleted.type, deleted.data) == ("delete", raw({"id": "a", "n": 1}))
        assert await store.stream_delete("todo", "g", "a") is None
        assert await store.stream_get("todo", "g", "a") is None


async def test_stream_items_survive_a_restart(tmp_path: Path, opened: Opener) -> None:
    async with opened(tmp_path / "db") as store:
        await store.stream_set("todo", "g", "a", raw({"id": "a"}))
    async with opened(tmp_path / "db") as again:
        assert await again.stream_get("todo", "g", "a") == raw({"id": "a"})


async def test_a_set_says_whether_it_created_or_updated_the_item(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        first = await store.stream_set("todo", "g", "a", raw({"id": "a", "v": 1}))
        second = await store.stream_set("todo", "g", "a", raw({"id": "a", "v": 2}))
        assert (first.type, second.type) == ("create", "update")
        assert (second.stream, second.group_id, second.id) == ("todo", "g", "a")
        assert second.data == raw({"id": "a", "v": 2})


async def test_streams_and_groups_are_listed_for_the_workbench(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        await store.stream_set("todo", "g2", "a", raw({"id": "a"}))
        await store.stream_set("todo", "g1", "a", raw({"id": "a"}))
        await store.stream_set("chat", "room", "m", raw({"id": "m"}))
        assert await store.stream_names() == ["chat", "todo"]
        assert await store.stream_groups("todo") == ["g1", "g2"]
        assert await store.stream_groups("nothing") == []


async def test_every_change_reaches_the_listeners_in_order_with_rising_timestamps(
    tmp_path: Path, opened: Opener
) -> None:
    seen: list[StreamChange] = []
    async with opened(tmp_path / "db") as store:
        stop = store.watch_streams(seen.append)
        await store.stream_set("todo", "g", "a", raw({"id": "a", "v": 1}))
        await store.stream_set("todo", "g", "a", raw({"id": "a", "v": 2}))
        await store.stream_send("todo", "g", None, raw({"type": "ping", "data": 1}))
        await store.stream_delete("todo", "g", "a")
        await store.stream_delete("todo", "g", "missing")  # removed nothing: no change
        stop()
        await store.stream_set("todo", "g", "b", raw({"id": "b"}))
    assert [(c.type, c.id) for c in seen] == [
        ("create", "a"),
        ("update", "a"),
        ("event", None),
        ("delete", "a"),
    ]
    assert seen[2].data == raw({"type": "ping", "data": 1})
    stamps = [c.timestamp for c in seen]
    assert stamps == sorted(set(stamps))


async def test_concurrent_sets_are_announced_in_commit_order(
    tmp_path: Path, opened: Opener
) -> None:
    seen: list[StreamChange] = []
    async with opened(tmp_path / "db") as store:
        store.watch_streams(seen.append)
        async with anyio.create_task_group() as writers:
            for n in range(200):
                writers.start_soon(store.stream_set, "s", "g", "item", raw({"id": "item", "n": n}))
        last = await store.stream_get("s", "g", "item")
    assert len(seen) == 200
    assert seen[-1].data == last
    assert [c.type for c in seen].count("create") == 1


async def test_ephemeral_events_are_not_stored(tmp_path: Path, opened: Opener) -> None:
    async with opened(tmp_path / "db") as store:
        change = await store.stream_send("chat", "room", "m1", raw({"type": "typing", "data": {}}))
        assert (change.type, change.id) == ("event", "m1")
        assert await store.stream_group("chat", "room") == []
        assert await store.stream_names() == []
