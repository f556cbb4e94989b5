"""PendingRequest deadlines: one timer per peer for every wait."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from motiad.rpc import Deadlines, PendingRequest

pytestmark = pytest.mark.anyio


async def test_a_short_deadline_fires_among_long_ones_and_answers_win() -> None:
    deadlines = Deadlines()
    long_waits = [PendingRequest(n, "invoke", deadlines) for n in range(100)]
    short = PendingRequest(1000, "invoke", deadlines)
    answered = PendingRequest(1001, "invoke", deadlines)
    results: dict[str, bool] = {}

    async def wait(name: str, pending: PendingRequest, timeout_s: float) -> None:
        results[name] = await pending.wait_for(timeout_s)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for n, pending in enumerate(long_waits):
                tg.start_soon(wait, f"long{n}", pending, 3600.0)
            tg.start_soon(wait, "answered", answered, 3600.0)
            await anyio.lowlevel.checkpoint()
            answered.settle(None, None)
            await wait("short", short, 0.01)  # expires: not answered
            for pending in long_waits:
                pending.settle(None, None)
    assert results["short"] is False
    assert results["answered"] is True
    assert all(results[f"long{n}"] for n in range(100))
    assert deadlines._live == 0


async def test_finished_waits_do_not_pile_up() -> None:
    deadlines = Deadlines()
    for n in range(1000):
        pending = PendingRequest(n, "invoke", deadlines)
        pending.settle(None, None)
        assert await pending.wait_for(3600.0)  # answered: no wait at all

        pending = PendingRequest(n, "invoke", deadlines)

        async def answer(p: PendingRequest = pending) -> None:
            p.settle(None, None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer)
            assert await pending.wait_for(3600.0)
    assert len(deadlines._heap) <= 2 * 64 + 2
