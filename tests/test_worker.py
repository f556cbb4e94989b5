"""Worker: a follow-up (an event delivery's ack) runs after the item's lane is freed,
and draining waits for it; a backlog runs in a few lane tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from motiad.worker import TAKE_BATCH, FollowUp, Worker

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

    async def source(limit: int) -> Sequence[int]:
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


def backlog_source(
    backlog: list[int],
    *,
    round_trip: int = 0,
    at_most: int | None = None,
    asked: list[int] | None = None,
) -> Callable[[int], Awaitable[Sequence[int]]]:
    """A worker's source taking from ``backlog`` what it is asked for (``at_most``
    of it), after ``round_trip`` turns of the loop (a store's round trip); each
    limit asked is noted in ``asked``. An empty backlog waits forever."""

    async def source(limit: int) -> Sequence[int]:
        if asked is not None:
            asked.append(limit)
        for _ in range(round_trip):
            await anyio.lowlevel.checkpoint()
        if not backlog:
            await anyio.sleep_forever()
        count = limit if at_most is None else at_most
        taken = backlog[:count]
        del backlog[:count]
        return taken

    return source


@contextmanager
def counted_tasks() -> Iterator[list[int]]:
    """``[count]`` of the tasks made on the running loop meanwhile."""
    loop = asyncio.get_running_loop()
    made_by = loop.get_task_factory()
    made = [0]

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        made[0] += 1
        if made_by is not None:
            return made_by(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        yield made
    finally:
        loop.set_task_factory(made_by)


async def test_a_backlog_runs_in_lanes_not_a_task_per_item() -> None:
    """Items run one after another in at most ``concurrency`` lane tasks, never
    more at once than that, and the worker holds at most a batch taken and not
    started (what a take may ask for is what is missing of it)."""
    backlog = list(range(1_000))
    handled: list[int] = []
    asked: list[int] = []
    now = peak = 0

    source = backlog_source(backlog, asked=asked)

    async def handle(item: int) -> FollowUp:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await anyio.lowlevel.checkpoint()
        now -= 1
        handled.append(item)
        return None

    worker = Worker("step", source, handle, concurrency=4)
    with counted_tasks() as tasks_made, anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            while len(handled) < 1_000:
                await anyio.lowlevel.checkpoint()
            await worker.drain()
            tg.cancel_scope.cancel()
    assert sorted(handled) == list(range(1_000))
    assert peak == 4
    assert max(asked) <= TAKE_BATCH
    assert tasks_made[0] < 100  # a lane per few hundred items, not a task per item


async def test_lanes_that_empty_the_queue_between_takes_wait_for_the_next_not_end() -> None:
    """A take that is a round trip (Redis) lets the lanes run the queue dry
    before it returns: they wait for its items (a wake-up each) instead of
    ending, so a new task is not made per take; once nothing runs, they end."""
    backlog = list(range(600))
    handled: list[int] = []
    acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # each take a round trip, during which the lanes run the queue dry
    source = backlog_source(backlog, round_trip=5, at_most=3)

    async def handle(item: int) -> FollowUp:
        await anyio.lowlevel.checkpoint()
        handled.append(item)
        return acked  # the acks commit later: the items still run

    worker = Worker("step", source, handle, concurrency=8)
    with counted_tasks() as tasks_made, anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            while len(handled) < 600:
                await anyio.lowlevel.checkpoint()
            made_under_load = tasks_made[0]
            acked.set_result(None)
            await worker.drain()
            while worker._lanes:  # nothing runs: the waiting lanes end
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()
    assert sorted(handled) == list(range(600))
    assert made_under_load < 20  # was a task per take (~200)


async def test_lanes_told_to_end_in_a_lull_still_run_what_a_take_brought_meanwhile() -> None:
    """Each item's follow-up is done at once, so nothing runs between takes and
    the waiting lanes are told to end, while the next take (a round trip)
    brings a batch: the lanes still counted must run it, or the worker would
    hold a full queue that no lane runs."""
    backlog = list(range(2_000))
    handled: list[int] = []
    loop = asyncio.get_running_loop()

    source = backlog_source(backlog, round_trip=3)

    async def handle(item: int) -> FollowUp:
        await anyio.lowlevel.checkpoint()
        handled.append(item)
        done: asyncio.Future[None] = loop.create_future()
        loop.call_soon(done.set_result, None)
        return done

    worker = Worker("step", source, handle, concurrency=8)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            while len(handled) < 2_000:
                await anyio.lowlevel.checkpoint()
            await worker.drain()
            tg.cancel_scope.cancel()
    assert sorted(handled) == list(range(2_000))
