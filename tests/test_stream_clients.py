"""Motia's published stream clients (``@motiadev/stream-client-node`` and
``@motiadev/stream-client-browser``, installed from the npm registry into
``tests/fixtures/stream_client`` by scripts/test) keep their state in step with
a stream served by motiad, unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from motiad.transport import read_lines

from .harness import FIXTURES, SDK_NODE_MODULES, motiad

pytestmark = pytest.mark.anyio

CLIENT = FIXTURES / "stream_client"


class Watcher:
    """``watch.mjs``: what Motia's client believes, one JSON line per change."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.cursor = dict.fromkeys(
            ["group", "item", "group-event", "item-event", "group-error", "item-error"], 0
        )
        """Per kind, the first line a later wait looks at: each wait sees only news."""
        self._changed = anyio.Event()

    async def collect(self) -> None:
        assert self.process.stdout
        async for line in read_lines(self.process.stdout, 1 << 20):
            if isinstance(line, bytes):
                self.lines.append(json.loads(line))
                self._changed.set()

    async def until(self, kind: str, holds: Callable[[Any], bool]) -> Any:
        """Wait (bounded) for a line of ``kind``, after the last one a wait
        returned, whose value satisfies ``holds``."""
        seen = self.cursor[kind]
        with anyio.fail_after(20):
            while True:
                for index in range(seen, len(self.lines)):
                    line = self.lines[index]
                    value = line.get("items", line.get("value", line.get("data")))
                    if line["kind"] == kind and holds(value):
                        self.cursor[kind] = index + 1
                        return value
                seen = len(self.lines)
                self._changed = anyio.Event()
                await self._changed.wait()


@asynccontextmanager
async def watching(
    client: str, url: str, stream: str, group: str, item: str, *options: str
) -> AsyncIterator[Watcher]:
    if not (CLIENT / "node_modules" / "@motiadev" / f"stream-client-{client}").is_dir():
        pytest.fail(f"run `npm ci` in {CLIENT} (scripts/test does)")
    # The browser client's package is bundler-shaped (extensionless imports): tsx loads it.
    node = ["node", "--import", "tsx"] if client == "browser" else ["node"]
    extra = [*(["--browser"] if client == "browser" else []), *options]
    process = await anyio.open_process(
        [*node, str(CLIENT / "watch.mjs"), url, stream, group, item, *extra],
        cwd=CLIENT,
        stderr=subprocess.STDOUT,
    )
    watcher = Watcher(process)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.collect)
        try:
            yield watcher
        finally:
            with anyio.CancelScope(shield=True):
                process.kill()
                await process.wait()
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("client", ["node", "browser"])
async def test_motias_clients_follow_items_groups_and_events(tmp_path: Path, client: str) -> None:
    """SPEC `stream.changes`, through the clients Motia front ends use."""
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "streams", project)
    (project / "node_modules").symlink_to(SDK_NODE_MODULES)
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):

        async def todo(path: str, op: str, data: Any = None) -> None:
            answer = await http.post(f"/todos/{path}", json={"op": op, "data": data})
            assert answer.status_code == 200, answer.text

        await todo("inbox/t0", "set", {"title": "before", "done": True})
        url = broker.url.replace("http://", "ws://") + "/"
        async with watching(client, url, "todo", "inbox", "t1") as watcher:
            await watcher.until("group", lambda items: [i["id"] for i in items] == ["t0"])
            await watcher.until("item", lambda value: value is None)

            await todo("inbox/t1", "set", {"title": "milk", "done": False})
            await watcher.until("item", lambda v: v == {"title": "milk", "done": False, "id": "t1"})
            await watcher.until("group", lambda items: [i["id"] for i in items] == ["t0", "t1"])

            await todo("inbox/t1", "set", {"title": "milk", "done": True})
            await watcher.until("item", lambda v: v is not None and v["done"] is True)
            await watcher.until("group", lambda items: all(i["done"] for i in items))

            await todo("inbox/-", "send", {"to": "group"})
            assert await watcher.until("group-event", lambda _: True) == {"to": "group"}
            await todo("inbox/t1", "send", {"to": "item"})
            assert await watcher.until("item-event", lambda _: True) == {"to": "item"}

            await todo("inbox/t0", "delete")
            await watcher.until("group", lambda items: [i["id"] for i in items] == ["t1"])
            await todo("inbox/t1", "delete")
            await watcher.until("item", lambda value: value is None)
            await watcher.until("group", lambda items: items == [])
