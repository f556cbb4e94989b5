"""Several ``motiad run`` instances serving one project on one Redis: they
share the load, a killed one loses nothing, each cron tick fires once, and a
Redis outage is survived (ARCHITECTURE §4, README "Several machines: Redis")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import httpx
import pytest

from .harness import FIXTURES, MotiadProcess, make_project, motiad, run_cli
from .redis_server import RedisServer, free_port
from .test_delivery import cli
from .test_streams import streams_project, todo, ws_url
from .wsclient import connect

pytestmark = pytest.mark.anyio

SETTINGS = """storage = "{url}"
[handler]
timeout_s = 2  # a killed instance's leases run out in 7 s
[queue]
backoff_initial_ms = 20
backoff_max_ms = 100
"""


def redis_project(root: Path, url: str, *sources: Path) -> Path:
    project = make_project(root, FIXTURES / "redis" / "ingest_step.py", *sources)
    (project / "motiad.toml").write_text(SETTINGS.format(url=url))
    return project


def seen(instances: Sequence[MotiadProcess]) -> set[int]:
    """The events the Recorder step handled, on any instance."""
    return {int(n) for x in instances for n in re.findall(r"seen (\d+)", x.output())}


async def until(
    done: Callable[[], bool], instances: Sequence[MotiadProcess], *, within: float = 60
) -> None:
    """Wait until ``done()``, looking again whenever a live instance prints a line."""
    with anyio.fail_after(within):
        while not done():
            async with anyio.create_task_group() as tg:
                for x in instances:

                    async def next_line(x: MotiadProcess = x) -> None:
                        await x.wait_for(".", start=len(x.lines), within=within)
                        tg.cancel_scope.cancel()

                    tg.start_soon(next_line)


async def test_instances_share_a_project_and_a_killed_one_loses_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    project = redis_project(
        tmp_path / "p",
        redis_url,
        FIXTURES / "delivery" / "recorder_step.py",
        FIXTURES / "surface" / "heartbeat_step.py",
    )
    accepted: set[int] = set()
    args = ("run", str(project), "--port", "0")
    async with motiad(*args) as a, motiad(*args) as b, motiad(*args) as c:
        killed = anyio.Event()

        async def client(url: str, numbers: range) -> None:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                for n in numbers:
                    try:
                        answer = await http.post("/emit/load", json={"items": [{"n": n}]})
                    except httpx.TransportError:
                        return  # that instance is gone; the load balancer would move on
                    if answer.status_code == 202:
                        accepted.add(n)
                    if len(accepted) >= 150 and not killed.is_set():
                        c.process.kill()  # SIGKILL, mid-load
                        killed.set()

        async with anyio.create_task_group() as tg:
            for index, start in enumerate(range(0, 900, 100)):
                tg.start_soon(client, (a, b, c)[index % 3].url, range(start, start + 100))
        assert killed.is_set()
        await c.process.wait()
        assert len(accepted) >= 300
        await until(lambda: accepted <= seen((a, b, c)), (a, b))
        ticks = [t for x in (a, b, c) for t in re.findall(r"cron tick (\S+)", x.output())]
        assert len(ticks) >= 2
        assert len(ticks) == len(set(ticks)), f"a tick fired twice: {sorted(ticks)}"
        assert sum(bool(re.search(r"seen \d+", x.output())) for x in (a, b, c)) >= 2


async def test_a_stream_client_on_one_instance_sees_changes_made_on_another(
    tmp_path: Path, redis_url: str
) -> None:
    project = streams_project(tmp_path / "p")
    (project / "motiad.toml").write_text(f'storage = "{redis_url}"\n')
    args = ("run", str(project), "--port", "0")
    async with (
        motiad(*args) as a,
        motiad(*args) as b,
        httpx.AsyncClient(base_url=b.url) as on_b,
        connect(ws_url(a.url)) as client_of_a,
    ):
        assert (await client_of_a.join("todo", "inbox"))["event"]["data"] == []
        stored = await todo(on_b, "inbox/t1", "set", {"title": "milk", "done": False})
        with anyio.fail_after(10):
            created = await client_of_a.receive()
            assert created["event"] == {"type": "create", "data": stored.json()}
            await todo(on_b, "inbox/-", "send", {"hello": 1})
            event = await client_of_a.receive()
        assert event["event"] == {"type": "event", "event": {"type": "ping", "data": {"hello": 1}}}
        assert event["timestamp"] > created["timestamp"]
        async with connect(ws_url(b.url)) as client_of_b:  # B reads what it stored
            synced = await client_of_b.join("todo", "inbox")
        assert synced["event"]["data"] == [stored.json()]


async def test_emit_and_dlq_commands_work_against_redis(tmp_path: Path, redis_url: str) -> None:
    project = redis_project(tmp_path / "p", redis_url, FIXTURES / "delivery" / "permanent_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        cli("emit", "-p", str(project), "--topic", "permanent", "--data", '{"n": 7}')
        await broker.wait_for(r"moved to the dead-letter queue \(not retryable\)")
        (letter,) = json.loads(cli("dlq", "list", "-p", str(project), "--json"))
        assert (letter["step"], letter["event"]["data"]) == ("Permanent", {"n": 7})
        mark = len(broker.lines)
        assert cli("dlq", "redrive", "--all", "-p", str(project)).startswith("redrove 1 dead")
        await broker.wait_for(r"moved to the dead-letter queue", start=mark)
        assert cli("dlq", "purge", "--all", "-p", str(project)).startswith("purged 1")
        assert json.loads(cli("dlq", "list", "-p", str(project), "--json")) == []


async def test_while_redis_is_down_requests_get_503_and_everything_heals(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        project = redis_project(
            tmp_path / "p", server.url(), FIXTURES / "delivery" / "recorder_step.py"
        )
        async with (
            motiad("run", str(project), "--port", "0") as broker,
            httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        ):

            async def post(n: int) -> int:
                answer = await http.post("/emit/load", json={"items": [{"n": n}]})
                return answer.status_code

            assert [await post(n) for n in range(20)] == [202] * 20
            mark = len(broker.lines)
            server.stop()  # SIGKILL: what it acknowledged is in its append-only file
            with anyio.fail_after(30):  # bounded socket timeouts: no request hangs
                assert [await post(100 + n) for n in range(5)] == [503] * 5
            await broker.wait_for(r"Redis at \S+ is unreachable", start=mark)
            server.start()
            await broker.wait_for(r"Redis at \S+ is reachable again", start=mark)
            assert await post(200) == 202
            await until(lambda: set(range(20)) | {200} <= seen([broker]), [broker])
            # one line says it, not one per request (those are at debug level)
            loud = [line for line in broker.lines[mark:] if re.search(r" (ERROR|WARN) ", line)]
            assert len(loud) == 1, "\n".join(loud)
            assert "is unreachable" in loud[0]
    finally:
        server.stop()


def test_an_unreachable_redis_at_start_is_a_clear_error(tmp_path: Path) -> None:
    project = redis_project(tmp_path / "p", f"redis://127.0.0.1:{free_port()}/0")
    for args in (("run", str(project), "--port", "0"), ("dlq", "list", "-p", str(project))):
        done = run_cli(*args)
        assert done.returncode == 1
        assert "cannot reach Redis at redis://127.0.0.1:" in done.stderr
        assert "is redis-server running there?" in done.stderr
        assert "Traceback" not in done.stderr


async def test_instances_with_reuse_port_share_one_port(tmp_path: Path, redis_url: str) -> None:
    """``[http] reuse_port``: two instances listen on one port and the kernel
    spreads new connections between them (docs/SCALING.md); without it the
    second one refuses to start, naming the port."""
    project = make_project(tmp_path / "p", FIXTURES / "cores" / "pid_step.py")
    settings = f'storage = "{redis_url}"\n'
    (project / "motiad.toml").write_text(settings)
    port = str(free_port())
    args = ("run", str(project), "--port", port)
    async with motiad(*args) as a:
        refused = await anyio.to_thread.run_sync(lambda: run_cli(*args, timeout=30))
        assert refused.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in refused.stdout + refused.stderr
        await a.stop()
    (project / "motiad.toml").write_text(settings + "[http]\nreuse_port = true\n")
    async with motiad(*args) as a, motiad(*args) as b:
        brokers = {a.process.pid, b.process.pid}
        served: set[int] = set()
        fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
        async with httpx.AsyncClient(base_url=a.url, limits=fresh, timeout=10) as http:
            for _ in range(64):
                answer = await http.get("/pid")
                assert answer.status_code == 200
                served.add(answer.json()["broker"])
                if served == brokers:
                    break
        assert served == brokers  # 64 connections all to one: odds 2**-63
