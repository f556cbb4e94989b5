"""``examples/motia-017``, a help desk written as a Motia 0.17 project (steps
under ``src/``, zod 3, ts-node and ``motia`` itself in its package.json, a
``motia.config.ts``, a static front end on another origin), runs on motiad with
only ``npm install`` (``npm ci``, as scripts/test does) and ``motiad run``
(issue 18's "Done when").

Each assertion names the Motia 0.17 behaviour it pins (MotiaDev/motia,
packages/core at v0.17.6-beta.187, where Express serves the API).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from playwright.async_api import expect

from motiad.transport import read_lines

from .browser import open_page
from .harness import REPO, motiad, run_cli
from .test_streams import ws_url
from .wsclient import connect

pytestmark = pytest.mark.anyio
expect.set_options(timeout=20_000)  # auto-waiting, generous on a busy machine

EXAMPLE = REPO / "examples" / "motia-017"
TOKEN = {"authorization": "Bearer dev-token"}
"""The token the example's auth middleware takes when HELPDESK_API_TOKEN is unset."""


def installed(package: str) -> dict[str, Any]:
    """The package.json of ``package`` as ``npm ci`` installed it in the example."""
    manifest = EXAMPLE / "node_modules" / package / "package.json"
    if not manifest.is_file():
        pytest.fail(f"{package} is not installed: run (cd examples/motia-017 && npm ci) first")
    found: dict[str, Any] = json.loads(manifest.read_text())
    return found


def example_copy(root: Path) -> Path:
    """The example as committed, with the node_modules npm installed (so its
    ``.motiad/`` storage is made under ``root``, not in the repository)."""
    ignored = shutil.ignore_patterns("node_modules", ".motiad", ".env")
    shutil.copytree(EXAMPLE, root, ignore=ignored)
    (root / "node_modules").symlink_to(EXAMPLE / "node_modules")
    return root


async def file_ticket(
    http: httpx.AsyncClient, title: str, headers: dict[str, str] = TOKEN, **extra: Any
) -> httpx.Response:
    """POST /tickets as an API client would."""
    body = {"title": title, "customer": {"email": "ada@example.com"}, **extra}
    return await http.post("/tickets", json=body, headers=headers)


def test_the_example_is_a_motia_017_project() -> None:
    """Guard: what the tests below prove holds for a project whose package.json
    is Motia 0.17's (``motia`` 0.17, zod 3, ts-node), as npm installed it."""
    manifest = json.loads((EXAMPLE / "package.json").read_text())
    assert manifest["dependencies"]["motia"].startswith("^0.17.")
    assert manifest["dependencies"]["zod"].startswith("^3.")
    assert "ts-node" in manifest["devDependencies"]
    assert installed("motia")["version"].startswith("0.17.")
    assert installed("zod")["version"].startswith("3.")
    assert installed("ts-node")["version"].startswith("10.")
    assert not (EXAMPLE / "steps").exists()  # the steps are under src/ only


def test_motiad_finds_the_steps_and_the_stream_under_src() -> None:
    """Motia discovers steps and streams under src/ (any depth), TypeScript and
    Python alike; helper modules beside them (priority.ts, the middleware) are
    not steps. ``motiad steps`` reads the project in place and writes nothing."""
    listed = run_cli("steps", str(EXAMPLE), "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found["errors"] == []
    assert {step["name"]: (step["language"], step["file"]) for step in found["steps"]} == {
        "CreateTicket": ("node", "src/tickets/create-ticket.step.ts"),
        "TriageTicket": ("node", "src/tickets/triage-ticket.step.ts"),
        "AssignAgent": ("python", "src/tickets/assign_agent_step.py"),
        "EscalateStaleTickets": ("node", "src/tickets/escalate-stale-tickets.step.ts"),
    }
    assert [(stream["name"], stream["file"]) for stream in found["streams"]] == [
        ("tickets", "src/tickets/tickets.stream.ts")
    ]
    # Motia's `set` stores `{...data, id}` and checks nothing: the zod 3 schema
    # declares no id, and motiad checks the item as the step wrote it.
    assert "id" not in found["streams"][0]["schema"]["properties"]


async def test_a_ticket_flows_through_typescript_and_python_under_one_trace(
    tmp_path: Path,
) -> None:
    """The API step's auth middleware, its zod 3 body, the TypeScript and Python
    event steps and the stream, as a Motia 0.17 user sees them."""
    project = example_copy(tmp_path / "helpdesk")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        connect(ws_url(broker.url)) as board,
    ):
        # Motia discovers steps under src/ and never fails on motia.config.ts;
        # motiad says what it does instead of each plugin.
        await broker.wait_for(r"EscalateStaleTickets\s+cron\s+node\s+\*/5 \* \* \* \*")
        await broker.wait_for(r"motia\.config\.ts: plugin logsPlugin .*not used")

        # Motia runs middleware before anything looks at the body: no token and
        # a bad body get the middleware's 401, not a 400.
        anonymous = await http.post(
            "/tickets", json={"title": 1}, headers={"origin": "http://localhost:5173"}
        )
        assert anonymous.status_code == 401
        assert anonymous.json()["error"] == "Unauthorized"
        # Motia's CORS default (server.ts sets the headers on every answer and
        # answers any OPTIONS with 204): `*`, the middleware's refusal included.
        assert anonymous.headers["access-control-allow-origin"] == "*"
        preflight = await http.options(
            "/tickets",
            headers={
                "origin": "http://localhost:5173",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"

        # Past the middleware, the zod 3 bodySchema: a bad email is a 400 naming it.
        refused = await file_ticket(http, "Hi", customer={"email": "nope"})
        assert refused.status_code == 400
        assert {issue["path"] for issue in refused.json()["issues"]} >= {
            "body.title",
            "body.customer.email",
        }

        sync = await board.join("tickets", "board")
        assert sync["event"] == {"type": "sync", "data": []}

        # zod 3's z.object() strips unknown keys: an extra field is accepted.
        created = await file_ticket(http, "Checkout is down", source="mobile-app")
        assert created.status_code == 201, created.text
        ticket = created.json()["id"]
        trace = created.headers["x-trace-id"]
        assert created.json() == {"id": ticket, "status": "open", "traceId": trace}

        # One trace from the API call through the TypeScript and Python event steps.
        await broker.wait_for(rf"TriageTicket {trace[-8:]} Ticket triaged .*\"urgent\"")
        await broker.wait_for(rf"AssignAgent {trace[-8:]} Ticket assigned .*\"grace\"")

        # The stream, as Motia's stream clients see it: every step's set arrives
        # in order, each item with its `id` though the zod schema declares none.
        changes = [await board.receive() for _ in range(3)]
        assert [change["event"]["type"] for change in changes] == ["create", "update", "update"]
        items = [change["event"]["data"] for change in changes]
        assert [item["status"] for item in items] == ["open", "triaged", "assigned"]
        assert all(item["id"] == ticket for item in items)
        assert items[-1] | {"updatedAt": ""} == {
            "id": ticket,
            "title": "Checkout is down",
            "customer": "ada@example.com",
            "status": "assigned",
            "priority": "urgent",
            "assignee": "grace",
            "updatedAt": "",
        }


async def test_the_steps_inherit_the_shell_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Motia's step processes inherit the server's environment: the token
    exported in the shell is the one the middleware takes."""
    monkeypatch.setenv("HELPDESK_API_TOKEN", "from-the-shell")
    project = example_copy(tmp_path / "helpdesk")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await file_ticket(http, "Login fails")).status_code == 401
        shell = {"authorization": "Bearer from-the-shell"}
        assert (await file_ticket(http, "Login fails", headers=shell)).status_code == 201


@asynccontextmanager
async def static_site(directory: Path) -> AsyncIterator[str]:
    """``python -m http.server`` on a free port serving ``directory``, as the
    example's README serves its front end: another origin than the API's."""
    command = [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"]
    async with await anyio.open_process(
        [*command, "--directory", str(directory)], stderr=subprocess.DEVNULL
    ) as server:
        try:
            assert server.stdout
            port = None
            with anyio.fail_after(20):
                async for line in read_lines(server.stdout, 1 << 16):
                    found = re.search(rb"port (\d+)", line) if isinstance(line, bytes) else None
                    if found:
                        port = int(found.group(1))
                        break
            assert port, "http.server printed no port"
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()


async def test_the_front_end_on_another_origin_files_tickets_and_follows_the_board(
    tmp_path: Path,
) -> None:
    """public/index.html in a real Chromium, served from another origin: its
    fetch with an Authorization header (a CORS preflight) files a ticket, and
    its WebSocket, speaking Motia's stream protocol, shows the board live."""
    project = example_copy(tmp_path / "helpdesk")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        static_site(project / "public") as site,
    ):
        earlier = (await file_ticket(http, "How do I export data? A question")).json()["id"]
        await broker.wait_for(r"AssignAgent \w+ Ticket assigned .*\"ada\"")

        async with open_page(f"{site}/?api={broker.url}") as page:
            assert not broker.url.startswith(site)  # another origin (another port)
            await expect(page.locator("#connection")).to_have_text("board: live")
            # The join's sync: what happened before the page opened.
            row = page.locator(f'tr[data-ticket="{earlier}"]')
            await expect(row.locator(".status")).to_have_text("assigned")
            await expect(row.locator(".priority")).to_have_text("low")

            # A wrong token: the middleware's 401 is readable across origins.
            await page.fill("#title", "Cannot log in")
            await page.fill("#email", "grace@example.com")
            await page.fill("#token", "wrong")
            await page.get_by_role("button", name="File ticket").click()
            await expect(page.locator("#result")).to_have_text(
                "401: Send Authorization: Bearer <token>"
            )

            # The right one: filed, then triaged and assigned, live from the stream.
            await page.fill("#token", "dev-token")
            await page.get_by_role("button", name="File ticket").click()
            await expect(page.locator("#result")).to_contain_text("Filed T-")
            filed = (await page.locator("#result").text_content() or "").removeprefix("Filed ")
            row = page.locator(f'tr[data-ticket="{filed}"]')
            await expect(row.locator(".status")).to_have_text("assigned")
            await expect(row.locator(".assignee")).to_have_text("grace")
            await expect(row.locator(".customer")).to_have_text("grace@example.com")
            await expect(page.locator("tr[data-ticket]")).to_have_count(2)
