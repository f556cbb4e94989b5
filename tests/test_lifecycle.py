"""Orderly shutdown, and no child outlives the broker (ARCHITECTURE §2)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import httpx
import pytest

from .harness import FIXTURES, children_of, make_project, motiad

pytestmark = pytest.mark.anyio


async def wait_for_exit(pid: int) -> None:
    """Wait until ``pid`` exits, on a pidfd (readable when the process ends)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        await anyio.wait_readable(fd)
    finally:
        os.close(fd)


async def test_sigterm_lets_in_flight_requests_finish_then_exits_zero(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "lifecycle")
    async with motiad("run", str(project), "--port", "0") as broker:
        async with httpx.AsyncClient(base_url=broker.url, timeout=20) as http:
            answer: list[httpx.Response] = []

            async def call() -> None:
                answer.append(await http.get("/slow"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await broker.wait_for("slow request started")
                broker.process.send_signal(signal.SIGTERM)
        assert answer[0].status_code == 200
        assert answer[0].json() == {"finished": True}
        assert await broker.stop() == 0
        await broker.wait_for("stopped")


async def test_children_exit_when_the_broker_is_killed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "lifecycle")
    async with motiad("run", str(project), "--port", "0") as broker:
        children = children_of(broker.process.pid)
        assert len(children) == 2
        broker.process.kill()
        with anyio.fail_after(10):
            for pid in children:
                await wait_for_exit(pid)
