"""Short-lived tasks on the hot path, owned by one anyio task.

Serving a child's ``emit`` or running one delivery is a task each, thousands a
second. An anyio ``start_soon`` costs several times a bare
``asyncio.Task`` (a task handle, a cancel scope, bookkeeping), so these tasks
are plain asyncio tasks, kept structured by hand: a :class:`TaskSet` is owned
by the task that runs :meth:`TaskSet.run` (itself in an anyio task group), and
when that owner is cancelled it cancels every task of the set and waits for
them; a task that fails with an exception cancels the others and the owner
raises it, as a task group would. motiad runs on asyncio (hypercorn's loop),
and anyio's cancel scopes work inside plain asyncio tasks. Use this only where
the per-task cost shows in a profile; everywhere else, a task group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import anyio


class TaskSet:
    """Plain asyncio tasks with one owner: the caller of :meth:`run`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._stop: asyncio.Future[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str | None = None) -> None:
        """Run ``coro`` as a task of the set. Refused (the coroutine is closed)
        once the owner stopped."""
        if self._closed:
            coro.close()
            raise RuntimeError("this task set is closed: its owner has stopped")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._failure is not None:
            return
        error = task.exception()
        if error is not None:
            self._failure = error
            if self._stop is not None and not self._stop.done():
                self._stop.set_result(None)

    async def run(self) -> None:
        """Own the set until cancelled (or a task fails: raised here); then
        cancel what still runs and wait for it."""
        self._stop = asyncio.get_running_loop().create_future()
        try:
            if self._failure is None:
                await self._stop
        finally:
            self._closed = True
            await self._cancel_all()
        if self._failure is not None:
            raise self._failure

    async def _cancel_all(self) -> None:
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            # The owner's own cancellation must not cut this wait short (anyio
            # delivers it again at every turn): the tasks were just cancelled
            # and unwind promptly.
            with anyio.CancelScope(shield=True):
                await asyncio.wait(tasks)


class Slots:
    """At most ``size`` holders, and one task at a time waiting for a slot (the
    loop that starts the work). Taking a free slot is a comparison: asyncio's
    Semaphore costs a coroutine and a scan of its waiters per acquire, and
    there is one per request served and per delivery."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiter: asyncio.Future[None] | None = None

    def take_now(self) -> bool:
        """Take a slot if one is free."""
        if self.free:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        """Take a slot, waiting for one to be released if none is free."""
        while not self.free:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        self.free -= 1

    def release(self) -> None:
        """Give a slot back; wake the waiter, if any."""
        self.free += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
