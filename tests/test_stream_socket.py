"""The stream WebSocket hub on a real hypercorn socket with real SQLite: one
message per change per connection, frames written straight to the sockets (with
and without permessage-deflate), leaving, bad client input, subprotocols, a
client behind served from its queue in order, and a slow client cut off
without slowing anyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
import msgspec
import pytest
from wsproto.extensions import PerMessageDeflate

from motiad.broker import Broker
from motiad.config import load_settings
from motiad.http.access import Access
from motiad.http.server import serve_http
from motiad.http.stream_socket import CLOSE_TRY_AGAIN, StreamHub
from motiad.storage import SqliteStore
from motiad.streams import StreamDefinition
from motiad.tracing import LogBus

from .wsclient import ServerClosed, WsClient, connect


async def read_until_closed(client: WsClient) -> int | None:
    """Read what was in flight; the close code the server ends with."""
    try:
        while True:
            await client.receive()
    except ServerClosed as closed:
        return closed.code


pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(
    tmp_path: Path,
    *,
    queue_limit: int = 1024,
    store_class: type[SqliteStore] = SqliteStore,
    toml: str = "",
) -> AsyncIterator[tuple[str, StreamHub]]:
    """A hub for the stream ``feed`` over SQLite in ``tmp_path``, on a free port."""
    (tmp_path / "steps").mkdir(exist_ok=True)
    (tmp_path / "motiad.toml").write_text(toml)
    store = store_class(tmp_path / "db")
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        broker = Broker(tmp_path, load_settings(tmp_path), store, LogBus())
        broker.streams.add(StreamDefinition("feed", "steps/feed.stream.ts", None, None))
        hub = StreamHub(broker, Access.of(broker.settings, None), queue_limit=queue_limit)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        async with anyio.create_task_group() as http:
            await http.start(partial(serve_http, hub, sock, shutdown=stop, graceful_timeout_s=1))
            try:
                yield f"ws://127.0.0.1:{port}/", hub
            finally:
                stop.set()  # hypercorn stops on its own: cancelling it is noisy
        tg.cancel_scope.cancel()


def item(n: int, pad: int = 0) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode({"id": "a", "n": n, "pad": "x" * pad}))


async def test_a_connection_gets_each_change_once_whatever_it_subscribed(tmp_path: Path) -> None:
    async with serving(tmp_path) as (url, hub), connect(url) as client:
        store = hub.broker.store
        await client.join("feed", "g", sub="group")
        await client.join("feed", "g", "a", sub="item")
        with anyio.fail_after(10):
            await store.stream_set("feed", "g", "a", item(1))
            await store.stream_send("feed", "g", None, msgspec.Raw(b'{"type":"t","data":1}'))
            assert (await client.receive())["event"]["type"] == "create"
            assert (await client.receive())["event"]["type"] == "event"  # no second create
            await client.send_json(
                {
                    "type": "leave",
                    "data": {"subscriptionId": "group", "streamName": "feed", "groupId": "g"},
                }
            )
            await client.send_json(
                {
                    "type": "leave",
                    "data": {
                        "subscriptionId": "item",
                        "streamName": "feed",
                        "groupId": "g",
                        "id": "a",
                    },
                }
            )
            sync = await client.join("feed", "other", sub="other")  # leaves were read first
            await store.stream_set("feed", "g", "a", item(2))  # nobody listens here now
            await store.stream_set("feed", "other", "b", item(3))
            assert sync["event"] == {"type": "sync", "data": []}
            assert (await client.receive())["groupId"] == "other"
        assert hub.rooms.keys() == {("feed", "other", None)}


class RacingReads(SqliteStore):
    """SQLite reads never wait, so the race a join guards against (with Redis a
    change may be published while the sync is being read) is staged here: the
    first group read commits a change, then answers with what it had read."""

    raced = False

    async def stream_group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        items = await super().stream_group(stream, group_id)
        if not self.raced:
            self.raced = True
            await self.stream_set(stream, group_id, "late", msgspec.Raw(b'{"id":"late"}'))
        return items


async def test_a_sync_is_never_older_than_a_change_sent_before_it(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, store_class=RacingReads) as (url, _hub),
        connect(url) as client,
    ):
        with anyio.fail_after(10):
            await client.send_json(
                {
                    "type": "join",
                    "data": {"streamName": "feed", "groupId": "g", "subscriptionId": "s"},
                }
            )
            created = await client.receive()
            sync = await client.receive()
        assert created["event"]["type"] == "create"
        assert sync["event"]["type"] == "sync"
        assert sync["event"]["data"] == [{"id": "late"}]  # read again after the change
        assert sync["timestamp"] >= created["timestamp"]


async def test_a_change_in_the_millisecond_of_a_sync_is_newer_than_the_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Motia's item client drops a message not newer than the last it saw
    (``StreamItemSubscription.listener``: ``timestamp <= lastEventTimestamp``):
    a change made in the millisecond a join's sync was sent (the clock stands
    still here) must carry a newer stamp than that sync, or it is lost."""
    async with serving(tmp_path) as (url, hub), connect(url) as client:
        await hub.broker.store.stream_set("feed", "g", "before", item(0))
        frozen = time.time() + 1  # a millisecond no change was stamped in yet
        monkeypatch.setattr(time, "time", lambda: frozen)
        with anyio.fail_after(10):
            sync = await client.join("feed", "g", "a", sub="item")
            await hub.broker.store.stream_set("feed", "g", "a", item(1))
            change = await client.receive()
        assert sync["event"] == {"type": "sync", "data": None}
        assert change["event"]["type"] == "create"
        assert change["timestamp"] > sync["timestamp"]


async def test_bad_client_messages_are_ignored_and_unknown_streams_answered(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as (url, _hub), connect(url) as client:
        with anyio.fail_after(10):
            await client.send_json("not a join")
            await client.send_json({"type": "join", "data": {"streamName": 5}})
            unknown = await client.join("nosuch", "g")
            assert unknown["event"]["type"] == "event"
            assert unknown["event"]["event"]["type"] == "error"
            assert "nosuch" in unknown["event"]["event"]["data"]["message"]
            assert (await client.join("feed", "g", sub="ok"))["event"]["type"] == "sync"


async def test_subscriptions_per_connection_are_limited(tmp_path: Path) -> None:
    """Issue #19 D5: a million joins on one connection grew the broker by
    half a gigabyte. Beyond ``[http] max_subscriptions`` a join is answered
    with an error (Motia's error event) and holds nothing; leaving frees room."""
    async with (
        serving(tmp_path, toml="[http]\nmax_subscriptions = 2\n") as (url, hub),
        connect(url) as client,
    ):
        with anyio.fail_after(10):
            await client.join("feed", "a", sub="1")
            await client.join("feed", "b", sub="2")
            await client.join("feed", "b", sub="2")  # a re-join replaces, not adds
            refused = await client.join("feed", "c", sub="3")
            assert refused["event"]["event"]["type"] == "error"
            assert "max_subscriptions" in refused["event"]["event"]["data"]["message"]
            assert ("feed", "c", None) not in hub.rooms
            leave = {"subscriptionId": "1", "streamName": "feed", "groupId": "a"}
            await client.send_json({"type": "leave", "data": leave})
            assert (await client.join("feed", "c", sub="3"))["event"]["type"] == "sync"
        assert hub.rooms.keys() == {("feed", "b", None), ("feed", "c", None)}


async def test_an_offered_subprotocol_is_accepted(tmp_path: Path) -> None:
    """Motia's node client sends its token as ``["Authorization", token]``."""
    async with serving(tmp_path) as (url, _hub), connect(url, ["Authorization", "t0k"]) as client:
        assert client.accepted is not None
        assert client.accepted.subprotocol == "Authorization"


async def test_a_client_that_stops_reading_is_cut_off_and_slows_nobody(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, queue_limit=8) as (url, hub),
        connect(url) as fast,
        connect(url) as slow,
    ):
        store = hub.broker.store
        await fast.join("feed", "g", sub="fast")
        await slow.join("feed", "g", sub="slow")
        room = hub.rooms[("feed", "g", None)]
        received = 0

        async def read_fast() -> None:
            nonlocal received
            while True:
                await fast.receive()
                received += 1

        sets = 0
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_fast)
                while len(room) == 2:  # until the slow one is dropped
                    await store.stream_set("feed", "g", "a", item(sets, pad=64 * 1024))
                    sets += 1
                tg.cancel_scope.cancel()
            while received < sets:  # the fast one gets every change
                assert (await fast.receive())["event"]["data"]["n"] == received
                received += 1
            code = await read_until_closed(slow)
        assert sets > 8
        assert code in (CLOSE_TRY_AGAIN, None)


async def test_changes_are_framed_once_and_written_straight_to_each_socket(tmp_path: Path) -> None:
    """hypercorn's per-message path is skipped (the hub reaches each connection's
    socket); frames of each length encoding reach a plain client and one that
    negotiated permessage-deflate (uncompressed frames are valid there)."""
    async with (
        serving(tmp_path) as (url, hub),
        connect(url) as plain,
        connect(url, extensions=[PerMessageDeflate()]) as deflating,
    ):
        assert deflating.accepted is not None
        assert deflating.accepted.extensions  # the server agreed to compress
        await plain.join("feed", "g", sub="plain")
        await deflating.join("feed", "g", sub="deflating")
        room = hub.rooms[("feed", "g", None)]
        assert len(room) == 2
        assert all(connection.raw is not None for connection in room)
        pads = [0, 200, 70_000]  # lengths < 126, < 65536 and above: each header form
        with anyio.fail_after(10):
            for n, pad in enumerate(pads):
                await hub.broker.store.stream_set("feed", "g", "a", item(n, pad))
            for client in (plain, deflating):
                for n, pad in enumerate(pads):
                    data = (await client.receive())["event"]["data"]
                    assert (data["n"], len(data["pad"])) == (n, pad)
        assert not any(connection.queue for connection in room)


async def test_a_client_behind_gets_its_queue_in_order_then_frames_at_once_again(
    tmp_path: Path,
) -> None:
    """While a client's socket is backed up its changes wait in its queue (and
    go through hypercorn, compressed here); none overtakes another."""
    async with (
        serving(tmp_path) as (url, hub),
        connect(url, extensions=[PerMessageDeflate()]) as client,
    ):
        store = hub.broker.store
        await client.join("feed", "g", sub="s")
        (connection,) = hub.rooms[("feed", "g", None)]
        sets = 0
        with anyio.fail_after(60):
            while not (connection.queue or connection.sending):  # until it is backed up
                await store.stream_set("feed", "g", "a", item(sets, pad=64 * 1024))
                sets += 1
            for _ in range(3):
                await store.stream_set("feed", "g", "a", item(sets, pad=64 * 1024))
                sets += 1
            for n in range(sets):
                assert (await client.receive())["event"]["data"]["n"] == n
            await store.stream_set("feed", "g", "a", item(sets))
            assert (await client.receive())["event"]["data"]["n"] == sets
        assert not connection.queue
        assert not connection.sending
