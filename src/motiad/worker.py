"""Running work as it comes: a :class:`Worker` takes batches from a source and
runs each item, bounded by a concurrency limit, and drains on shutdown. Event
consumers and cron schedules are workers (see ``dispatch``); what happens to a
failed item is its handler's business (deliveries: ``retry``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

from .tasks import Slots, TaskSet

T = TypeVar("T")

DEFAULT_CONCURRENCY = 64
"""Deliveries one step runs at once: enough to keep a warm child busy,
bounded so a backlog cannot flood it."""
TAKE_BATCH = 64
"""Deliveries taken from storage at once: amortises the wake-up under load."""


FollowUp = asyncio.Future[None] | None
"""What ``handle`` may return: a future of work that finishes the item without
needing its slot (the commit of an event delivery's ack; the task is not kept
waiting for it), or ``None``."""


class Worker(Generic[T]):
    """Takes items from ``source`` and runs ``handle`` on each, at most
    ``concurrency`` at once. A follow-up that ``handle`` returns runs after the
    item's slot is freed (the item still counts as running until it is done):
    waiting for an ack's commit must not keep the step's child idle.

    :meth:`drain` stops taking and waits for what runs; :meth:`cancel`
    abandons it. Items taken but never started are handed to ``abandon``.
    """

    def __init__(
        self,
        name: str,
        source: Callable[[], Awaitable[Sequence[T]]],
        handle: Callable[[T], Awaitable[FollowUp]],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        abandon: Callable[[Sequence[T]], None] | None = None,
    ) -> None:
        self.name = name
        self._source = source
        self._handle = handle
        self._abandon = abandon
        self._slots = Slots(concurrency)  # one per delivery: a hot path
        self._taking = anyio.CancelScope()
        self._all = anyio.CancelScope()
        self._idle = anyio.Event()
        self.running = 0
        """Items being handled now."""

    async def run(self) -> None:
        """Take and handle until cancelled. Each item runs as a plain asyncio
        task of a :class:`TaskSet` owned here (a task per delivery is a hot path)."""
        with self._all:
            async with anyio.create_task_group() as tg:
                tasks = TaskSet()
                tg.start_soon(tasks.run)
                with self._taking:
                    while True:
                        items = await self._source()
                        for index, item in enumerate(items):
                            try:
                                if not self._slots.take_now():
                                    await self._slots.take()
                            except BaseException:  # stopping: the rest never ran
                                if self._abandon is not None:
                                    self._abandon(items[index:])
                                raise
                            self.running += 1
                            tasks.spawn(self._one(item))
                # Draining: what was taken finishes, then the set's owner stops.
                await self._wait_idle()
                tg.cancel_scope.cancel()

    async def _one(self, item: T) -> None:
        later = False
        try:
            try:
                follow_up = await self._handle(item)
            finally:
                self._slots.release()
            if follow_up is not None:
                follow_up.add_done_callback(self._followed_up)
                later = True
        finally:
            if not later:
                self._done()

    def _followed_up(self, _: asyncio.Future[None]) -> None:
        self._done()

    def _done(self) -> None:
        self.running -= 1
        if self.running == 0:
            self._idle.set()

    async def _wait_idle(self) -> None:
        # Waiters share one unset event; only a set one (its waiters woke) is replaced.
        while self.running:
            if self._idle.is_set():
                self._idle = anyio.Event()
            await self._idle.wait()

    async def drain(self) -> None:
        """Stop taking; return when the items already running have finished."""
        self._taking.cancel()
        await self._wait_idle()

    def cancel(self) -> None:
        """Abandon whatever is still running (a delivery stays due in storage)."""
        self._all.cancel()
