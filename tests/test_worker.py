"""Worker: a follow-up (an event delivery's ack) runs after the item's slot is freed,
and draining waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest

from motiad.worker import FollowUp, Worker

pytestmark = pytest.mark.anyio


async def test_a_follow_up_frees_the_slot_and_draining_waits_for_it() -> None:
    """The follow-up is a future of work under way (a store's batched ack,
    which no task waits for)."""
    items = [1, 2]
    handled: list[int] = []
    acked: list[int] = []
    second_started = anyio.Event()
    committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    committed.add_done_callback(lambda _: acked.append(1))

    async def source() -> Sequence[int]:
        if items:
            taken = list(items)
            items.clear()
            return taken
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def handle(item: int) -> FollowUp:
        handled.append(item)
        if item == 2:
            second_started.set()
            return None
        return committed

    worker = Worker("step", source, handle, concurrency=1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            # One slot: item 2 runs while item 1 still waits for its ack.
            await second_started.wait()
            assert acked == []
            assert worker.running == 1  # item 1, acking
            async with anyio.create_task_group() as draining:
                draining.start_soon(worker.drain)
                await anyio.lowlevel.checkpoint()
                assert worker.running == 1  # draining waits for the ack
                committed.set_result(None)
    assert handled == [1, 2]
    assert acked == [1]
    assert worker.running == 0
