"""The quickstart end to end: Motia's welcome-page steps plus a Python step,
on warm children, sharing one trace and one durable state."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .harness import FIXTURES, QUICKSTART, make_project, motiad

pytestmark = pytest.mark.anyio


async def test_a_message_flows_through_both_languages_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "quickstart", QUICKSTART / "steps")
    async with motiad("run", str(project), "--port", "0") as broker:
        await broker.wait_for(r"SendMessage\s+api\s+node\s+POST /messages")
        await broker.wait_for(r"StoreMessage\s+event\s+python\s+message\.sent")
        async with httpx.AsyncClient(base_url=broker.url) as http:
            sent = await http.post("/messages", json={"text": "hi"})
            assert sent.status_code == 200
            assert sent.json() == {"ok": True}
            trace = sent.headers["x-trace-id"][-8:]
            await broker.wait_for(rf"ProcessMessage {trace} Processing message .*\"text\":\"hi\"")
            await broker.wait_for(rf"StoreMessage {trace} Stored message")
            stored = await http.get("/messages/hi")
            assert stored.status_code == 200
            assert stored.json()["text"] == "hi"
            missing = await http.get("/messages/nope")
            assert missing.status_code == 404
            assert "nope" in missing.json()["error"]
        assert await broker.stop(signal.SIGINT) == 0

    async with motiad("run", str(project), "--port", "0") as again:
        async with httpx.AsyncClient(base_url=again.url) as http:
            assert (await http.get("/messages/hi")).json()["text"] == "hi"
        assert await again.stop(signal.SIGTERM) == 0


def test_steps_lists_every_step_with_its_config_as_json(tmp_path: Path) -> None:
    project = make_project(tmp_path / "quickstart", QUICKSTART / "steps")
    done = subprocess.run(
        [sys.executable, "-m", "motiad", "steps", str(project), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listing = json.loads(done.stdout)
    by_name = {step["name"]: step for step in listing["steps"]}
    assert set(by_name) == {"SendMessage", "ProcessMessage", "StoreMessage", "GetMessage"}
    assert by_name["SendMessage"]["config"]["emits"] == ["message.sent"]
    assert by_name["GetMessage"]["trigger"] == "GET /messages/:text"
    assert by_name["StoreMessage"]["language"] == "python"
    assert listing["errors"] == []


async def test_an_emit_the_handler_did_not_await_is_still_delivered_in_its_trace(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "unawaited")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        fired = await http.post("/fire", json={"n": 7})
        assert fired.status_code == 202
        trace = fired.headers["x-trace-id"][-8:]
        await broker.wait_for(rf"Record {trace} recorded .*\"n\":7,\"attempt\":1,\"step\":\"mine\"")


async def test_a_pretty_printed_json_body_reaches_the_step(tmp_path: Path) -> None:
    # raw JSON goes to the child as it came: its newlines must not split the protocol line
    project = make_project(tmp_path / "quickstart", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        body = b'{\n  "text": "pretty"\n}\n'
        sent = await http.post(
            "/messages", content=body, headers={"content-type": "application/json"}
        )
        assert sent.status_code == 200
        await broker.wait_for(rf"StoreMessage {sent.headers['x-trace-id'][-8:]} Stored message")
