"""Ctrl-C answers at once (issue #20): the first SIGINT says at once what the
stop waits for (requests and events in flight, the longest for how long), even
while a slow request is in flight; a second one ends the process within a
second or two, with ``run`` and ``dev`` alike."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import anyio
import httpx
import pytest

from .harness import motiad

pytestmark = pytest.mark.anyio

SLOW_STEP = """\
import asyncio

config = {"name": "Slow", "type": "api", "path": "/slow", "method": "GET"}


async def handler(req, context):
    context.logger.info("slow request started")
    await asyncio.sleep(60)
    return {"status": 200, "body": {"done": True}}
"""


@pytest.mark.parametrize("command", ["run", "dev"])
async def test_ctrl_c_says_what_it_waits_for_and_a_second_one_stops_now(
    command: str, tmp_path: Path
) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "slow_step.py").write_text(SLOW_STEP)
    async with (
        motiad(command, str(tmp_path), "--port", "0") as served,
        anyio.create_task_group() as tg,
        httpx.AsyncClient(timeout=90) as client,
    ):

        async def request() -> None:
            # cut short by the second Ctrl-C: no answer, or a 5xx
            with contextlib.suppress(httpx.HTTPError):
                await client.get(f"{served.url}/slow")

        tg.start_soon(request)
        await served.wait_for(r"slow request started")
        mark = len(served.lines)
        served.process.send_signal(signal.SIGINT)
        said = await served.wait_for(
            r"stopping: finishing (1 request) \(the longest running for [\d.]+ s\);"
            r" Ctrl-C again to stop now",
            within=5,
            start=mark,
        )
        assert said.group(1) == "1 request"
        # the deadline is the point: without the second Ctrl-C cutting it short,
        # the stop waits for the 60 s handler up to the 10 s grace period
        assert await served.stop(signal.SIGINT, within=5) == 0
        await served.wait_for(r"stopping now", start=mark)
        tg.cancel_scope.cancel()
