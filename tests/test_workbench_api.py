"""The workbench's JSON endpoints over plain HTTP, against a real ``motiad run``
of the quickstart: spans and logs of each invocation, state, flows, dead
letters, emit, the live stream, and the token rule."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from .harness import FIXTURES, QUICKSTART, make_project, motiad, run_cli
from .test_streams import streams_project, todo

pytestmark = pytest.mark.anyio
API = "/__motiad/api"


class Live:
    """The workbench's live stream, read by a test: wait for the span or log
    record it expects (they are published as invocations finish)."""

    def __init__(self, events: AsyncIterator[tuple[str, Any]]) -> None:
        self.events = events
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def wait(self, kind: str, within: float = 20, **match: Any) -> dict[str, Any]:
        """The first ``kind`` event (seen before or coming) whose data has the ``match`` items."""

        def fits(got: str, data: dict[str, Any]) -> bool:
            return got == kind and all(data.get(k) == v for k, v in match.items())

        for got, data in self.seen:
            if fits(got, data):
                return dict(data)
        with anyio.fail_after(within):
            async for got, data in self.events:
                self.seen.append((got, data))
                if fits(got, data):
                    return dict(data)
        raise AssertionError("the live stream ended")


@asynccontextmanager
async def live_stream(http: httpx.AsyncClient) -> AsyncIterator[Live]:
    """Follow ``/__motiad/api/live`` from its ``hello`` on."""
    async with http.stream("GET", f"{API}/live", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        live = Live(_events(response))
        await live.wait("hello")
        yield live


async def test_each_invocation_is_a_span_of_its_trace_with_its_logs(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        live_stream(http) as live,
    ):
        sent = await http.post("/messages", json={"text": "hi"})
        trace_id = sent.headers["x-trace-id"]
        await live.wait("span", step="StoreMessage", traceId=trace_id)
        await live.wait("span", step="ProcessMessage", traceId=trace_id)

        listed = (await http.get(f"{API}/traces")).json()["traces"]
        (summary,) = [t for t in listed if t["traceId"] == trace_id]
        assert summary["step"] == "SendMessage"
        assert summary["detail"] == "POST /messages"
        assert (summary["spans"], summary["errors"]) == (3, 0)

        trace = (await http.get(f"{API}/traces/{trace_id}")).json()
        spans = {span["step"]: span for span in trace["spans"]}
        assert trace["spans"][0]["step"] == "SendMessage"
        assert set(spans) == {"SendMessage", "ProcessMessage", "StoreMessage"}
        assert (spans["SendMessage"]["trigger"], spans["SendMessage"]["detail"]) == (
            "api",
            "POST /messages",
        )
        for name in ("ProcessMessage", "StoreMessage"):
            assert (spans[name]["trigger"], spans[name]["detail"]) == ("event", "message.sent")
            assert spans[name]["attempt"] == 1
        assert all(s["outcome"] == "ok" and s["endedAt"] >= s["startedAt"] for s in spans.values())
        by_span = {r["message"]: r["invocationId"] for r in trace["logs"]}
        assert by_span["Stored message"] == spans["StoreMessage"]["id"]
        assert by_span["Processing message"] == spans["ProcessMessage"]["id"]

        missing = await http.get(f"{API}/traces/{'0' * 32}")
        assert missing.status_code == 404
        assert "no trace" in missing.json()["error"]


async def test_logs_are_filtered_by_step_level_trace_and_text(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        traces = []
        for text in ("one", "two"):
            sent = await http.post("/messages", json={"text": text})
            traces.append(sent.headers["x-trace-id"])
            await broker.wait_for(rf"StoreMessage {traces[-1][-8:]} Stored message")

        async def messages(**params: str) -> list[tuple[str, str]]:
            found = (await http.get(f"{API}/logs", params=params)).json()["logs"]
            return [(r["step"], r["message"]) for r in found]

        assert await messages(step="StoreMessage") == [("StoreMessage", "Stored message")] * 2
        assert await messages(traceId=traces[0], text="STORED") == [
            ("StoreMessage", "Stored message")
        ]
        assert await messages(level="error") == []
        assert len(await messages(step="StoreMessage", limit="1")) == 1
        bad = await http.get(f"{API}/logs", params={"level": "loud"})
        assert bad.status_code == 400
        assert "loud" in bad.json()["issues"][0]["message"]
        huge = await http.get(f"{API}/traces", params={"limit": "1000000"})
        assert huge.status_code == 400
        assert "limit" in huge.json()["issues"][0]["message"]


async def test_state_groups_flows_and_steps_are_listed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        sent = await http.post("/messages", json={"text": "kept"})
        await broker.wait_for(rf"StoreMessage {sent.headers['x-trace-id'][-8:]} Stored message")
        groups = (await http.get(f"{API}/state")).json()["groups"]
        assert [(g["groupId"], g["keys"]) for g in groups] == [("messages", 1)]
        group = (await http.get(f"{API}/state/messages")).json()
        assert group["items"][0]["key"] == "kept"
        assert group["items"][0]["value"]["text"] == "kept"

        graph = (await http.get(f"{API}/flows")).json()
        printed = json.loads(run_cli("flows", str(project), "--json").stdout)
        printed.pop("errors")
        assert graph == printed

        steps = {s["name"]: s for s in (await http.get(f"{API}/steps")).json()["steps"]}
        assert steps["SendMessage"]["config"]["path"] == "/messages"
        assert steps["StoreMessage"]["language"] == "python"


async def test_dead_letters_are_listed_shown_redriven_and_purged(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps", FIXTURES / "workbench")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        for job in (1, 2):
            emitted = await http.post(
                f"{API}/emit", json={"topic": "flaky.run", "data": {"job": job}}
            )
            assert emitted.status_code == 200
            trace = emitted.json()["traceId"][-8:]
            await broker.wait_for(rf"{trace} event \S+ \(flaky.run\) moved")
        letters = (await http.get(f"{API}/dlq")).json()["deadLetters"]
        assert [(x["step"], x["event"]["data"]["job"]) for x in letters] == [
            ("Flaky", 1),
            ("Flaky", 2),
        ]
        first, second = letters
        assert first["error"]["message"] == "not fixed yet (job 1)"
        assert first["error"]["retryable"] is False
        shown = (await http.get(f"{API}/dlq/{first['id']}")).json()
        assert shown["event"]["traceId"] == first["event"]["traceId"]
        assert (await http.get(f"{API}/dlq/999999")).status_code == 404

        (project / "fixed").touch()
        async with live_stream(http) as live:
            redrove = await http.post(f"{API}/dlq/redrive", json={"ids": [first["id"]]})
            assert redrove.json() == {"redriven": 1}
            await live.wait("span", step="Flaky", outcome="ok", traceId=first["event"]["traceId"])
        purged = await http.post(f"{API}/dlq/purge", json={"ids": [second["id"]]})
        assert purged.json() == {"purged": 1}
        assert (await http.get(f"{API}/dlq")).json()["deadLetters"] == []

        trace = (await http.get(f"{API}/traces/{first['event']['traceId']}")).json()
        assert [(s["step"], s["outcome"]) for s in trace["spans"]] == [
            ("Flaky", "error"),
            ("Flaky", "ok"),
        ]
        assert trace["spans"][0]["error"]["message"] == "not fixed yet (job 1)"


async def test_emit_refuses_what_it_cannot_deliver(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        nobody = await http.post(f"{API}/emit", json={"topic": "nobody.listens", "data": {}})
        assert nobody.status_code == 400
        assert "no step subscribes to 'nobody.listens'" in nobody.json()["error"]
        # a form post (what another site could send) is refused
        form = await http.post(f"{API}/emit", data={"topic": "message.sent"})
        assert form.status_code == 400
        assert form.json()["issues"][0]["path"] == "content-type"
        untyped = await http.post(f"{API}/emit", json={"data": {}})
        assert untyped.status_code == 400
        assert "topic" in untyped.json()["issues"][0]["message"]


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """Server-sent events as (event, data) pairs."""
    kind, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            yield kind, json.loads(data)
            kind, data = "message", ""


async def test_the_live_stream_carries_logs_and_spans_as_they_happen(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        live_stream(http) as live,
    ):
        sent = await http.post("/messages", json={"text": "live"})
        trace_id = sent.headers["x-trace-id"]
        span = await live.wait("span", step="SendMessage", traceId=trace_id)
        assert (span["trigger"], span["outcome"]) == ("api", "ok")
        record = await live.wait("log", message="Stored message", traceId=trace_id)
        assert (record["step"], record["fields"]) == ("StoreMessage", {"text": "live"})


async def test_an_open_live_stream_does_not_hold_up_shutdown(tmp_path: Path) -> None:
    # a grace period longer than the harness waits: only ending the stream lets it stop in time
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    (project / "motiad.toml").write_text("shutdown_grace_s = 120\n")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        live_stream(http),
    ):
        assert await broker.stop(signal.SIGINT, within=20) == 0


async def test_on_loopback_the_workbench_answers_only_to_loopback_names(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        await broker.wait_for(r"workbench: http://localhost:\d+/__motiad/$")
        assert (await http.get(f"{API}/state")).status_code == 200
        rebound = await http.get(f"{API}/state", headers={"host": "attacker.example:80"})
        assert rebound.status_code == 403
        page = await http.get("/__motiad/")
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/__motiad/assets/app.js">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        script = await http.get("/__motiad/assets/views/flows.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert (await http.get("/__motiad/assets/../../config.py")).status_code == 404


async def test_a_workbench_exposed_beyond_loopback_requires_its_token(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with motiad("run", str(project), "--port", "0", "--host", "0.0.0.0") as broker:
        found = await broker.wait_for(r"workbench: http://\S+:(\d+)/__motiad/\?token=(\S+)")
        port, token = found.group(1), found.group(2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            refused = await http.get(f"{API}/traces")
            assert refused.status_code == 401
            assert "token" in refused.json()["error"]
            wrong = await http.get(f"{API}/traces", headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert (await http.get("/__motiad/")).status_code == 401
            assert (
                await http.post(f"{API}/emit", json={"topic": "message.sent"})
            ).status_code == 401

            bearer = {"authorization": f"Bearer {token}"}
            assert (await http.get(f"{API}/traces", headers=bearer)).status_code == 200
            assert (await http.get(f"{API}/traces", params={"token": token})).status_code == 200
            # API steps are the project's own: no token
            assert (await http.post("/messages", json={"text": "x"})).status_code == 200
            assert (await http.get("/__motiad/health")).status_code == 200

            # opening the printed URL keeps the token in a cookie, out of the address bar
            opened = await http.get("/__motiad/", params={"token": token})
            assert opened.status_code == 302
            assert opened.headers["location"].endswith("/__motiad/")
            assert re.search(r"HttpOnly", opened.headers["set-cookie"], re.IGNORECASE)
            assert (await http.get(f"{API}/state")).status_code == 200  # the cookie


async def test_a_configured_token_is_required_even_on_loopback(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    (project / "motiad.toml").write_text('workbench_token = "s3cret"\n')
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        await broker.wait_for(r"workbench: http://localhost:\d+/__motiad/\?token=s3cret")
        assert (await http.get(f"{API}/state")).status_code == 401
        ok = await http.get(f"{API}/state", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200


async def test_the_workbench_can_be_turned_off(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    (project / "motiad.toml").write_text("workbench = false\n")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert "workbench:" not in broker.output()
        assert (await http.get("/__motiad/")).status_code == 404
        assert (await http.get(f"{API}/traces")).status_code == 404


async def test_traces_and_logs_are_printed_by_the_cli_after_the_run(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        live_stream(http) as live,
    ):
        sent = await http.post("/messages", json={"text": "cli"})
        trace_id = sent.headers["x-trace-id"]
        await live.wait("span", step="StoreMessage", traceId=trace_id)
        await live.wait("span", step="ProcessMessage", traceId=trace_id)
        assert await broker.stop(signal.SIGINT) == 0  # what it buffered is written on the way out

    listed = json.loads(run_cli("traces", "-p", str(project), "--json").stdout)["traces"]
    assert [(t["traceId"], t["spans"]) for t in listed] == [(trace_id, 3)]
    shown = run_cli("traces", trace_id, "-p", str(project))
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"ok\s+StoreMessage \(event message.sent\) took", shown.stdout)
    assert "Stored message" in shown.stdout
    records = run_cli("logs", "-p", str(project), "--step", "StoreMessage", "--json").stdout
    assert [json.loads(line)["message"] for line in records.splitlines()] == ["Stored message"]
    grep = run_cli("logs", "-p", str(project), "--grep", "PROCESSING")
    assert "ProcessMessage" in grep.stdout
    missing = run_cli("traces", "f" * 32, "-p", str(project))
    assert missing.returncode == 1
    assert "no trace" in missing.stderr


async def test_under_dev_a_reloaded_step_file_is_announced_and_drawn(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        live_stream(http) as live,
    ):
        (project / "steps" / "audit.step.js").write_text(
            "export const config = { name: 'Audit', type: 'event', subscribes: ['message.sent'] }\n"
            "export const handler = async () => {}\n"
        )
        assert await live.wait("steps", file="steps/audit.step.js") == {
            "file": "steps/audit.step.js"
        }
        graph = (await http.get(f"{API}/flows")).json()
        assert {"from": "topic:message.sent", "to": "step:Audit"}.items() <= next(
            e for e in graph["edges"] if e["to"] == "step:Audit"
        ).items()


async def test_the_live_stream_says_which_stream_item_changed(tmp_path: Path) -> None:
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        live_stream(http) as live,
    ):
        assert (await todo(http, "home/milk", "set", {"title": "milk", "done": False})).is_success
        change = await live.wait("stream", stream="todo")
        assert change == {"stream": "todo", "groupId": "home", "id": "milk", "type": "create"}
        items = (await http.get(f"{API}/streams/todo/home")).json()["items"]
        assert items == [{"id": "milk", "title": "milk", "done": False}]
