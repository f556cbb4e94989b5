"""Streams end to end: stream files in both languages, ``context.streams`` in
both SDKs, items validated and stored by the broker, and every change pushed to
WebSocket subscribers in the protocol of Motia's stream clients."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from motiad.http.stream_socket import CLOSE_GOING_AWAY

from .harness import FIXTURES, SDK_NODE_MODULES, motiad, run_cli
from .wsclient import ServerClosed, connect

pytestmark = pytest.mark.anyio


def streams_project(root: Path) -> Path:
    """The ``streams`` fixture: a zod stream and a TS step, a pydantic stream and a Python step."""
    shutil.copytree(FIXTURES / "streams", root)
    (root / "node_modules").symlink_to(SDK_NODE_MODULES)
    return root


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/"


async def todo(http: httpx.AsyncClient, path: str, op: str, data: Any = None) -> httpx.Response:
    return await http.post(f"/todos/{path}", json={"op": op, "data": data})


async def test_changes_reach_group_subscribers_as_motia_clients_expect(tmp_path: Path) -> None:
    """SPEC `stream.methods`, `stream.changes`: every change is pushed as Motia sends it."""
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        connect(ws_url(broker.url)) as client,
    ):
        sync = await client.join("todo", "inbox")
        assert sync["event"] == {"type": "sync", "data": []}
        assert (sync["streamName"], sync["groupId"]) == ("todo", "inbox")

        stored = await todo(http, "inbox/t1", "set", {"title": "milk", "done": False})
        assert stored.json() == {"title": "milk", "done": False, "id": "t1"}
        created = await client.receive()
        assert created["event"] == {"type": "create", "data": stored.json()}
        assert (created["streamName"], created["groupId"], created["id"]) == ("todo", "inbox", "t1")

        await todo(http, "inbox/t1", "set", {"title": "milk", "done": True})
        updated = await client.receive()
        assert updated["event"]["type"] == "update"
        assert updated["event"]["data"]["done"] is True
        assert updated["timestamp"] > created["timestamp"]

        await todo(http, "inbox/-", "send", {"hello": 1})
        event = await client.receive()
        assert event["event"] == {"type": "event", "event": {"type": "ping", "data": {"hello": 1}}}
        assert "id" not in event

        assert (await todo(http, "inbox/t1", "get")).json()["done"] is True
        assert [i["id"] for i in (await todo(http, "inbox/x", "group")).json()] == ["t1"]

        removed = await todo(http, "inbox/t1", "delete")
        assert removed.json()["id"] == "t1"
        deleted = await client.receive()
        assert deleted["event"] == {"type": "delete", "data": removed.json()}
        assert (await todo(http, "inbox/t1", "delete")).json() is None
        assert (await todo(http, "inbox/t1", "get")).json() is None


async def test_an_item_subscriber_is_synced_and_sees_only_its_item(tmp_path: Path) -> None:
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        connect(ws_url(broker.url)) as client,
    ):
        await todo(http, "inbox/a", "set", {"title": "a", "done": False})
        sync = await client.join("todo", "inbox", "a")
        assert sync["id"] == "a"
        assert sync["event"] == {"type": "sync", "data": {"title": "a", "done": False, "id": "a"}}
        missing = await client.join("todo", "inbox", "nothing", sub="s2")
        assert missing["event"] == {"type": "sync", "data": None}
        await todo(http, "inbox/b", "set", {"title": "b", "done": False})  # not this item
        await todo(http, "inbox/a", "send", {"for": "a"})
        event = await client.receive()
        assert event["id"] == "a"
        assert event["event"]["event"] == {"type": "ping", "data": {"for": "a"}}


async def test_a_set_the_schema_refuses_fails_in_the_handler_naming_stream_and_field(
    tmp_path: Path,
) -> None:
    """SPEC `stream.validated`, `stream.unknown`."""
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        refused = await todo(http, "inbox/t1", "set", {"title": "milk", "done": "no"})
        assert refused.status_code == 422
        assert "stream 'todo'" in refused.json()["error"]
        assert "data.done" in refused.json()["error"]
        assert (await todo(http, "inbox/t1", "get")).json() is None
        unknown = await todo(http, "inbox/t1", "unknown")
        assert unknown.status_code == 422
        assert "unknown stream 'nosuch'" in unknown.json()["error"]


async def test_python_streams_work_from_a_plain_def_handler(tmp_path: Path) -> None:
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        connect(ws_url(broker.url)) as client,
    ):
        await client.join("presence", "lobby")
        joined = await http.post("/presence/lobby/ada", json={"name": "Ada", "online": True})
        ada = {"name": "Ada", "online": True, "id": "ada"}
        assert joined.json() == {"stored": ada, "again": ada, "all": [ada]}
        assert (await client.receive())["event"] == {"type": "create", "data": ada}
        assert (await client.receive())["event"] == {
            "type": "event",
            "event": {"type": "joined", "data": {"user": "ada"}},
        }
        refused = await http.post("/presence/lobby/bob", json={"name": "Bob", "online": "yes"})
        assert refused.status_code == 422
        assert "stream 'presence'" in refused.json()["error"]
        left = await http.post("/presence/lobby/ada", json={"op": "leave"})
        assert left.json() == {"removed": ada, "left": []}
        assert (await client.receive())["event"] == {"type": "delete", "data": ada}


async def test_streams_are_listed_for_the_workbench_and_by_the_cli(tmp_path: Path) -> None:
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert "streams: presence (steps/presence_stream.py), todo (steps/todo.stream.ts)" in (
            broker.output()
        )
        await todo(http, "inbox/t1", "set", {"title": "milk", "done": False})
        listed = (await http.get("/__motiad/api/streams")).json()["streams"]
        assert [(s["name"], s["file"]) for s in listed] == [
            ("presence", "steps/presence_stream.py"),
            ("todo", "steps/todo.stream.ts"),
        ]
        todo_schema = listed[1]["schema"]
        assert todo_schema["properties"]["done"] == {"type": "boolean"}
        assert listed[0]["schema"]["properties"]["online"]["type"] == "boolean"
        groups = await http.get("/__motiad/api/streams/todo")
        assert groups.json() == {"groups": ["inbox"]}
        items = await http.get("/__motiad/api/streams/todo/inbox")
        assert items.json() == {"items": [{"title": "milk", "done": False, "id": "t1"}]}
        assert (await http.get("/__motiad/api/streams/nosuch")).status_code == 404
    listing = run_cli("steps", str(project), "--json")
    assert listing.returncode == 0, listing.stderr
    cli_streams = json.loads(listing.stdout)["streams"]
    assert [(s["name"], s["file"]) for s in cli_streams] == [(s["name"], s["file"]) for s in listed]


async def test_stopping_closes_stream_clients_as_going_away(tmp_path: Path) -> None:
    """Open WebSockets never hold up an orderly stop (they would wait out the grace)."""
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        connect(ws_url(broker.url)) as client,
    ):
        await client.join("todo", "inbox")
        broker.process.send_signal(signal.SIGINT)
        with anyio.fail_after(20), pytest.raises(ServerClosed) as closed:
            await client.receive()
        assert closed.value.code == CLOSE_GOING_AWAY
        assert await broker.stop() == 0
