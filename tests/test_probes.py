"""The probes a load balancer uses (issue #21): ``/__motiad/health`` (alive)
and ``/__motiad/ready`` (send traffic?), answered without a token and saying
nothing but their verdict; ready is 503 while the steps load, during a storage
outage and once a stop begins, before the listener closes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import httpx
import pytest

from .harness import FIXTURES, make_project, motiad
from .redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio

GATED = FIXTURES / "production" / "gated_step.py"


async def until_status(http: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    """GET ``path`` until it answers ``status`` (connection refused counts as not
    yet); the caller bounds the wait."""
    while True:
        try:
            answer = await http.get(path)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == status:
            return answer
        await anyio.wait_all_tasks_blocked()  # yields; the next probe follows at once


async def test_ready_is_503_while_the_steps_load_and_200_once_they_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    monkeypatch.setenv("GATE", str(gate))
    project = make_project(tmp_path / "p", GATED)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as http,
        anyio.create_task_group() as tg,
    ):
        # the harness waits for "serving", which comes after the gate opens
        started = anyio.Event()

        async def run() -> None:
            async with motiad("run", str(project), "--port", str(port)) as broker:
                started.set()
                await broker.wait_for("never printed", within=120)

        tg.start_soon(run)
        with anyio.fail_after(30):
            starting = await until_status(http, "/__motiad/ready", 503)
        assert starting.json() == {"status": "not ready", "reason": "starting"}
        assert (await http.get("/__motiad/health")).json() == {"status": "ok"}
        early = await http.get("/gated")
        assert early.status_code == 503
        assert early.headers["retry-after"] == "1"
        with gate.open("w") as opened:
            opened.write("go")
        with anyio.fail_after(30):
            await started.wait()
        ready = await http.get("/__motiad/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert (await http.get("/gated")).json() == {"ok": True}
        tg.cancel_scope.cancel()


async def test_a_stop_turns_ready_503_before_the_listener_closes(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "redis" / "ingest_step.py")
    (project / "motiad.toml").write_text("shutdown_delay_s = 600\n")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=10) as http,
    ):
        assert (await http.get("/__motiad/ready")).status_code == 200
        broker.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            draining = await until_status(http, "/__motiad/ready", 503)
        assert draining.json() == {"status": "not ready", "reason": "draining"}
        # still alive and still serving what is in flight or arrives meanwhile
        assert (await http.get("/__motiad/health")).status_code == 200
        # a second signal skips the delay: the listener closes and motiad exits
        assert await broker.stop(signal.SIGTERM) == 0
        with pytest.raises(httpx.ConnectError):
            await http.get("/__motiad/health")


async def test_ready_is_503_while_redis_is_down(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        project = make_project(
            tmp_path / "p",
            FIXTURES / "redis" / "ingest_step.py",
            FIXTURES / "delivery" / "recorder_step.py",
        )
        (project / "motiad.toml").write_text(f'storage = "{server.url()}"\n')
        async with (
            motiad("run", str(project), "--port", "0") as broker,
            httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        ):
            assert (await http.get("/__motiad/ready")).status_code == 200
            mark = len(broker.lines)
            server.stop()
            await broker.wait_for(r"Redis at \S+ is unreachable", start=mark)
            down = await http.get("/__motiad/ready")
            assert (down.status_code, down.json()) == (
                503,
                {"status": "not ready", "reason": "storage is unreachable"},
            )
            assert (await http.get("/__motiad/health")).status_code == 200
            server.start()
            await broker.wait_for(r"Redis at \S+ is reachable again", start=mark)
            assert (await http.get("/__motiad/ready")).status_code == 200
    finally:
        server.stop()


async def test_probes_need_no_token_beyond_loopback(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "redis" / "ingest_step.py")
    async with motiad("run", str(project), "--port", "0", "--host", "0.0.0.0") as broker:
        url = broker.url.replace("0.0.0.0", "127.0.0.1")
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/__motiad/health")).json() == {"status": "ok"}
            assert (await http.get("/__motiad/ready")).json() == {"status": "ready"}
            # the rest of the prefix still needs the token
            assert (await http.get("/__motiad/api/steps")).status_code == 401


async def test_ready_is_503_while_a_steps_process_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "broken"
    monkeypatch.setenv("FRAGILE", str(marker))
    project = make_project(tmp_path / "p", FIXTURES / "production" / "fragile_step.py")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=10) as http,
    ):
        assert (await http.get("/__motiad/ready")).status_code == 200
        pid = (await http.get("/fragile")).json()["pid"]
        marker.touch()  # its restarts fail from now on
        os.kill(pid, signal.SIGKILL)
        with anyio.fail_after(30):
            down = await until_status(http, "/__motiad/ready", 503)
        assert down.json() == {"status": "not ready", "reason": "a step's process is restarting"}
        marker.unlink()
        with anyio.fail_after(60):  # the next restart (after its backoff) starts it
            await until_status(http, "/__motiad/ready", 200)
