"""Bad input gets a clear error and loses nothing: broken files, invalid
configs, conflicting routes, bad bodies, failing and crashing handlers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .harness import FIXTURES, make_project, motiad

pytestmark = pytest.mark.anyio


async def test_problems_are_reported_by_file_and_field_and_the_other_steps_run(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "errors")
    async with motiad("run", str(project), "--port", "0", "--allow-broken") as broker:
        out = broker.output()
        assert "error: steps/broken.step.ts:2: failed to load: SyntaxError:" in out
        assert "error: steps/bad_type_step.py: config.type: unknown step type 'apii'" in out
        assert "error: steps/no-path.step.js: config.path: missing (required for api steps)" in out
        assert (
            "error: steps/hello.step.ts: config.path: GET /hello is already served by"
            " steps/hello-again.step.js (HelloAgain)"
        ) in out
        async with httpx.AsyncClient(base_url=broker.url) as http:
            assert (await http.get("/hello")).json() == {"hello": "again"}


async def test_requests_reach_the_handler_with_params_query_and_body(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "errors" / "echo_step.py")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        answer = await http.post("/echo/a%20b?x=1&y=2&y=3", json={"n": [1, 2]})
        assert answer.status_code == 201
        assert answer.headers["x-echo"] == "yes"
        assert answer.json() == {
            "id": "a b",
            "body": {"n": [1, 2]},
            "query": {"x": "1", "y": ["2", "3"]},
        }
        text = await http.post(
            "/echo/t", content="plain words", headers={"content-type": "text/plain"}
        )
        assert text.json()["body"] == "plain words"


async def test_bad_requests_get_json_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "errors" / "echo_step.py")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        bad = await http.post(
            "/echo/1", content=b'{"text": ', headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert "not valid JSON" in bad.json()["error"]
        assert (await http.get("/nowhere")).status_code == 404
        wrong = await http.get("/echo/1")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST"
        huge = await http.post("/echo/1", content=b"[" + b"1," * 8_000_000 + b"1]")
        assert huge.status_code == 413


async def test_a_failing_handler_gives_500_without_its_stack_and_logs_it_by_trace(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "errors" / "throws.step.ts")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        failed = await http.get("/throws")
        assert failed.status_code == 500
        trace_id = failed.headers["x-trace-id"]
        assert failed.json() == {"error": "Internal Server Error", "traceId": trace_id}
        assert "hunter2" not in failed.text
        await broker.wait_for(
            rf"ERROR Throws {trace_id[-8:]} handler failed: Error: secret database password"
        )
        await broker.wait_for(r"at handler .*throws\.step\.ts")


async def test_a_crashed_child_is_reported_and_restarted(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "errors" / "crash.step.js")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        first_pid = (await http.post("/crash", json={})).json()["pid"]
        crashed = await http.post("/crash", json={"crash": True})
        assert crashed.status_code == 503
        await broker.wait_for(r"Crash.*child exited with code 3; last stderr lines:")
        await broker.wait_for(r"about to crash on purpose")
        again = await http.post("/crash", json={})
        assert again.status_code == 200
        assert again.json()["pid"] != first_pid
