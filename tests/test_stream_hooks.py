"""Stream hooks (SPEC ``stream.hooks``): Motia 1.x's ``authenticateStream``
(``motia.config.ts``) and a stream config's ``onJoin``/``onLeave``, and Motia
0.17's ``canAccess``, run in the stream file's child when a WebSocket client
connects, subscribes and unsubscribes.

The behaviour pinned is Motia 1.x's (MotiaDev/motia at 9fd26441):
engine/src/modules/stream/stream.rs ``ws_handler`` calls the auth function on
connect and keeps its ``{context}`` for the connection (a failure or no answer
leaves it anonymous); connection.rs ``handle_join_leave`` calls the join hook
with ``{subscription_id, stream_name, group_id, id, context}`` before
subscribing, and ``{unauthorized: true}`` sends the client an ``unauthorized``
event instead of the sync; a leave, and each subscription left when the
socket closes (``cleanup``), calls the leave hook.
frameworks/motia/motia-js/packages/motia/src/new/build/utils.ts runs
``onJoin({groupId, id}, context, authContext)`` and ``onLeave`` likewise.
Motia 0.17's ``canAccess(subscription, authContext)`` returning false refuses
(its streams.mdx "Restricting Stream Access"). motiad differs in one point: a
join hook that throws refuses the join (Motia's engine logs and lets it through).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from .harness import FIXTURES, SDK_NODE_MODULES, MotiadProcess, make_project, motiad
from .test_motia1x import state_of
from .test_stream_clients import watching
from .test_streams import todo, ws_url
from .wsclient import connect

pytestmark = pytest.mark.anyio


def hooks_project(root: Path) -> Path:
    shutil.copytree(FIXTURES / "stream_hooks", root)
    (root / "node_modules").symlink_to(SDK_NODE_MODULES)
    return root


async def hook_wrote(
    broker: MotiadProcess, http: httpx.AsyncClient, group: str, key: str, log: str
) -> Any:
    """The state value a hook stored under ``key``, once it logged ``log`` for it
    (it logs after storing)."""
    await broker.wait_for(rf'{log} \{{"key":"{re.escape(key)}"\}}', within=20)
    return (await state_of(http, group))[key]


async def test_motias_client_with_the_token_gets_items_and_one_without_is_refused(
    tmp_path: Path,
) -> None:
    """SPEC `stream.hooks`, through Motia's published Node client: the auth
    context authenticateStream gives a client with the token reaches onJoin,
    which lets it in (it receives the items) and stores what it saw; a client
    without the token is refused (told why, and the broker logs it); closing
    the socket runs onLeave with the same context."""
    project = hooks_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        await todo(http, "inbox/t0", "set", {"title": "before", "done": True})
        url = ws_url(broker.url)
        async with watching("node", url, "todo", "inbox", "t1", "--token=letmein") as allowed:
            await allowed.until("group", lambda items: [i["id"] for i in items] == ["t0"])
            await todo(http, "inbox/t1", "set", {"title": "milk", "done": False})
            await allowed.until("item", lambda v: v == {"title": "milk", "done": False, "id": "t1"})
            joined = await hook_wrote(broker, http, "joins", "inbox/t1", "todo joined")
            assert joined["subscription"] == {"groupId": "inbox", "id": "t1"}
            assert joined["authContext"] == {"userId": "ada", "addr": "127.0.0.1"}
            group_join = await hook_wrote(broker, http, "joins", "inbox/*", "todo joined")
            assert group_join["subscription"] == {"groupId": "inbox"}

            async with watching("node", url, "todo", "inbox", "t1") as refused:
                error = await refused.until("group-error", lambda _: True)
                assert error["message"] == (
                    "join of todo/inbox refused: unauthorized by onJoin of steps/todo.stream.ts"
                )
                item_error = await refused.until("item-error", lambda _: True)
                assert "join of todo/inbox/t1 refused" in item_error["message"]
                await todo(http, "inbox/t2", "set", {"title": "eggs", "done": False})
                await allowed.until("group", lambda items: len(items) == 3)
                # the refused client never got a sync or a change
                assert not [line for line in refused.lines if line["kind"] in ("group", "item")]
            await broker.wait_for(
                r"stream socket refused: join of todo/inbox refused: unauthorized by onJoin"
            )
        # the allowed client's socket closed: onLeave ran for both its subscriptions
        left = await hook_wrote(broker, http, "leaves", "inbox/t1", "todo left")
        assert left == {
            "subscription": {"groupId": "inbox", "id": "t1"},
            "authContext": {"userId": "ada", "addr": "127.0.0.1"},
        }
        assert (await hook_wrote(broker, http, "leaves", "inbox/*", "todo left"))[
            "subscription"
        ] == {"groupId": "inbox"}


async def test_a_refused_join_gets_motias_unauthorized_event_and_a_leave_runs_on_leave(
    tmp_path: Path,
) -> None:
    """SPEC `stream.hooks` on the wire: the `unauthorized` event Motia 1.x's
    engine sends (then motiad's `error` event with the reason); a `leave`
    message runs onLeave at once; 0.17's canAccess decides with the auth context."""
    project = hooks_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        url = ws_url(broker.url)
        async with connect(url) as anonymous:
            reason = await anonymous.join("todo", "inbox")
            assert reason["event"] == {
                "type": "event",
                "event": {
                    "type": "error",
                    "data": {
                        "message": "join of todo/inbox refused: unauthorized by onJoin of"
                        " steps/todo.stream.ts"
                    },
                },
            }
            refused = await anonymous.receive()
            assert refused["event"] == {"type": "unauthorized"}
            assert (refused["streamName"], refused["groupId"]) == ("todo", "inbox")
            # canAccess: false without a user, whatever the group
            assert (await anonymous.join("legacy", "mine", sub="l"))["event"]["type"] == "event"
            assert (await anonymous.receive())["event"]["type"] == "unauthorized"
        async with connect(url + "?token=letmein") as ada:
            synced = await ada.join("todo", "inbox", sub="a")
            assert synced["event"] == {"type": "sync", "data": []}
            await ada.send_json(
                {
                    "type": "leave",
                    "data": {"streamName": "todo", "groupId": "inbox", "subscriptionId": "a"},
                }
            )
            left = await hook_wrote(broker, http, "leaves", "inbox/*", "todo left")
            assert left["authContext"]["userId"] == "ada"
            assert (await ada.join("legacy", "mine", sub="m"))["event"]["type"] == "sync"
            assert (await ada.join("legacy", "theirs", sub="t"))["event"]["type"] == "event"
            assert (await ada.receive())["event"]["type"] == "unauthorized"
        assert "authenticating stream client" in broker.output()


async def test_python_stream_hooks_run_in_the_python_child(tmp_path: Path) -> None:
    """SPEC `stream.hooks` in the Python SDK: `on_join`/`on_leave` of a
    `*_stream.py` config (Motia's Python StreamConfig), with the auth context
    the Node child's authenticateStream gave the connection."""
    project = hooks_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        url = ws_url(broker.url)
        async with connect(url) as anonymous:
            assert (await anonymous.join("presence", "room"))["event"]["type"] == "event"
            assert (await anonymous.receive())["event"]["type"] == "unauthorized"
        async with connect(url, ["Authorization", "letmein"]) as ada:
            synced = await ada.join("presence", "room", "ada", sub="p")
            assert synced["event"] == {"type": "sync", "data": None}
            joined = await hook_wrote(broker, http, "py-joins", "room/ada", "presence joined")
            assert joined == {"user": "ada", "trigger": {"type": "queue", "index": 0}}
        # the socket closed with the subscription held: on_leave ran
        left = await hook_wrote(broker, http, "py-leaves", "room/ada", "presence left")
        assert left == {"user": "ada"}


async def test_motias_playground_todo_app_counts_its_watchers_with_its_hooks(
    tmp_path: Path,
) -> None:
    """Motia 1.x's JS playground (steps/todo and motia.config.ts at 9fd26441,
    unchanged): authenticateStream gives every client `{userId: 'sergio'}`;
    the todo stream's onJoin increments, with `inboxStream.update`, how many
    watch the group, and onLeave decrements it; CreateTodo's todo reaches the
    watcher."""
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "motia1x_playground_todo", project)
    (project / "node_modules").symlink_to(SDK_NODE_MODULES)
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        watching = "/__motiad/api/streams/inbox/watching"
        async with connect(ws_url(broker.url)) as client:
            assert (await client.join("todo", "inbox"))["event"] == {"type": "sync", "data": []}
            await broker.wait_for(r'Todo stream joined .*"authContext":\{"userId":"sergio"\}')
            assert (await http.get(watching)).json()["items"] == [{"watching": 1, "id": "inbox"}]
            created = await http.post("/todo", json={"description": "buy milk"})
            assert created.status_code == 200, created.text
            change = await client.receive()
            assert change["event"]["type"] == "create"
            assert change["event"]["data"]["description"] == "buy milk"
        await broker.wait_for(r"Todo stream left")
        assert (await http.get(watching)).json()["items"] == [{"watching": 0, "id": "inbox"}]


async def test_motiad_dev_runs_the_hooks_of_a_stream_file_as_it_is_now(tmp_path: Path) -> None:
    """SPEC `stream.hooks` under `motiad dev`: a changed stream file's hooks
    replace the old ones at once (its new child runs them), and a stream whose
    hooks are gone admits every client again."""
    project = make_project(tmp_path / "p", FIXTURES / "dev")
    gate = project / "steps" / "gate.stream.js"
    refusing = (
        "export const config = { name: 'gate', onJoin: async () => ({ unauthorized: %s }) }\n"
    )
    gate.write_text(refusing % "true")
    async with motiad("dev", str(project), "--port", "0") as broker:
        url = ws_url(broker.url)
        async with connect(url) as client:
            assert (await client.join("gate", "g"))["event"]["type"] == "event"
            assert (await client.receive())["event"]["type"] == "unauthorized"
        for text, expected in (
            (refusing % "false", "sync"),
            ("export const config = { name: 'gate' }\n", "sync"),
            (refusing % "true", "event"),
        ):
            mark = len(broker.lines)
            gate.write_text(text)
            await broker.wait_for(r"ready: stream 'gate'", start=mark)
            async with connect(url) as client:
                assert (await client.join("gate", "g"))["event"]["type"] == expected, text
