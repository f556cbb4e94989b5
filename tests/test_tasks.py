"""TaskSet: plain asyncio tasks kept structured by their owner."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from motiad.tasks import TaskSet

pytestmark = pytest.mark.anyio


async def test_cancelling_the_owner_cancels_and_waits_for_every_task() -> None:
    tasks = TaskSet()
    started = anyio.Event()
    unwound: list[str] = []

    async def sleeper() -> None:
        try:
            started.set()
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.lowlevel.checkpoint()  # cleanup that itself awaits
            unwound.append("done")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.run)
            tasks.spawn(sleeper())
            await started.wait()
            tg.cancel_scope.cancel()
    assert unwound == ["done"]
    assert len(tasks) == 0
    with pytest.raises(RuntimeError, match="closed"):
        tasks.spawn(sleeper())


async def test_a_failing_task_cancels_the_others_and_the_owner_raises_it() -> None:
    tasks = TaskSet()
    cancelled = anyio.Event()

    async def sleeper() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async def failing() -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("a bug in a handler")

    tasks.spawn(sleeper())
    tasks.spawn(failing())
    with anyio.fail_after(5), pytest.raises(ValueError, match="a bug"):
        await tasks.run()
    assert cancelled.is_set()


async def test_tasks_that_finish_leave_the_set() -> None:
    tasks = TaskSet()
    done = anyio.Event()

    async def quick() -> None:
        done.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(tasks.run)
            tasks.spawn(quick())
            await done.wait()
            await anyio.lowlevel.checkpoint()
            assert len(tasks) == 0
            tg.cancel_scope.cancel()
