"""Running work as it comes: a :class:`Worker` takes batches from a source and
runs each item, bounded by a concurrency limit, and drains on shutdown. Event
consumers and cron schedules are workers (see ``dispatch``); what happens to a
failed item is its handler's business (deliveries: ``retry``)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio

from .tasks import TaskSet

T = TypeVar("T")

DEFAULT_CONCURRENCY = 64
"""Deliveries one step runs at once: enough to keep a warm child busy,
bounded so a backlog cannot flood it."""
TAKE_BATCH = 64
"""Items taken but not started a worker holds at most (a take asks for what
is missing up to this): amortises the take under load, and bounds what a
stopping broker hands back."""


FollowUp = asyncio.Future[None] | None
"""What ``handle`` may return: a future of work that finishes the item without
needing its lane (the commit of an event delivery's ack; no task waits for
it), or ``None``."""


class Worker(Generic[T]):
    """Takes items from ``source`` and runs ``handle`` on each, at most
    ``concurrency`` at once. A follow-up that ``handle`` returns runs after the
    item's lane is freed (the item still counts as running until it is done):
    waiting for an ack's commit must not keep the step's child idle.

    Hot path: items run in *lanes*, tasks that each run one item after another
    from the worker's queue of taken items, and end when it is empty; at most
    ``concurrency`` of them. Under a backlog a lane goes from one delivery to
    the next in the same turn of the event loop, with no task, slot or wake-up
    per item, and the taker fills the queue again before it runs dry.

    :meth:`drain` stops taking and waits for what runs; :meth:`cancel`
    abandons it. Items taken but never started are handed to ``abandon``.
    """

    def __init__(
        self,
        name: str,
        source: Callable[[int], Awaitable[Sequence[T]]],
        handle: Callable[[T], Awaitable[FollowUp]],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        abandon: Callable[[Sequence[T]], None] | None = None,
    ) -> None:
        self.name = name
        self._source = source
        """Returns up to the given number of items, waiting until there is one."""
        self._handle = handle
        self._abandon = abandon
        self._concurrency = concurrency
        self._queue: deque[T] = deque()
        """Taken, not started yet."""
        self._refill_below = max(1, TAKE_BATCH // 2)
        """The taker takes again once the queue is shorter than this, so that
        under a backlog the lanes find the next items there, not an empty queue."""
        self._lanes = 0
        self._parked: deque[asyncio.Future[None]] = deque()
        """Lanes that found the queue empty while items still ran, waiting to
        look again (the taker brought items, or nothing runs any more). A
        source whose take is a round trip (Redis) lets the lanes empty the
        queue between takes: waking a parked lane costs a fraction of a new
        task. A lane decides to end only when it runs (queue empty, nothing
        running), so a lane counted in ``_lanes`` always looks at the queue."""
        self._tasks: TaskSet | None = None
        self._taker: asyncio.Future[None] | None = None
        """Set while the taker waits for the queue to run low."""
        self._taking = anyio.CancelScope()
        self._all = anyio.CancelScope()
        self._idle = anyio.Event()
        self._following: dict[asyncio.Future[None], int] = {}
        """Follow-ups not done yet, each with the items waiting for it: many
        share one (a batch of acks commits together), and one callback per
        follow-up, not per item, tells the worker."""
        self.running = 0
        """Items being handled now (their follow-ups included)."""

    async def run(self) -> None:
        """Take and handle until cancelled. The lanes are plain asyncio tasks
        of a :class:`TaskSet` owned here."""
        with self._all:
            async with anyio.create_task_group() as tg:
                tasks = self._tasks = TaskSet()
                tg.start_soon(tasks.run)
                try:
                    with self._taking:
                        await self._take_forever()
                    # Draining: what was taken and not started goes back; what
                    # runs finishes, then the set's owner stops.
                    self._give_back()
                    await self._wait_idle()
                finally:
                    self._give_back()  # cancelled: the same, before the lanes are
                tg.cancel_scope.cancel()

    async def _take_forever(self) -> None:
        queue = self._queue
        while True:
            while len(queue) >= self._refill_below:
                waiter = self._taker = asyncio.get_running_loop().create_future()
                try:
                    await waiter
                finally:
                    self._taker = None
            queue.extend(await self._source(TAKE_BATCH - len(queue)))
            self._start_lanes()

    def _start_lanes(self) -> None:
        tasks = self._tasks
        assert tasks is not None
        wanted = len(self._queue)
        parked = self._parked
        while wanted and parked:
            waiter = parked.popleft()
            if not waiter.done():  # done: its lane was cancelled
                waiter.set_result(None)
                wanted -= 1
        for _ in range(min(wanted, self._concurrency - self._lanes)):
            self._lanes += 1
            tasks.spawn(self._lane())

    def _dismiss_parked(self) -> None:
        parked = self._parked
        while parked:
            waiter = parked.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def _lane(self) -> None:
        queue = self._queue
        try:
            while True:
                if not queue:
                    if not self.running:  # nothing runs: no next item is near
                        return
                    waiter = asyncio.get_running_loop().create_future()
                    self._parked.append(waiter)
                    await waiter
                    continue
                item = queue.popleft()
                taker = self._taker
                if taker is not None and len(queue) < self._refill_below and not taker.done():
                    taker.set_result(None)
                self.running += 1
                later = False
                try:
                    follow_up = await self._handle(item)
                    if follow_up is not None:
                        waiting = self._following.get(follow_up)
                        if waiting is None:
                            self._following[follow_up] = 1
                            follow_up.add_done_callback(self._followed_up)
                        else:
                            self._following[follow_up] = waiting + 1
                        later = True
                finally:
                    if not later:
                        self._done()
        finally:
            self._lanes -= 1

    def _give_back(self) -> None:
        if self._queue:
            never_started = list(self._queue)
            self._queue.clear()
            if self._abandon is not None:
                self._abandon(never_started)

    def _followed_up(self, follow_up: asyncio.Future[None]) -> None:
        self._done(self._following.pop(follow_up))

    def _done(self, items: int = 1) -> None:
        self.running -= items
        if self.running == 0:
            self._idle.set()
            self._dismiss_parked()  # a lull: idle steps keep no lanes

    async def _wait_idle(self) -> None:
        # Waiters share one unset event; only a set one (its waiters woke) is replaced.
        while self.running:
            if self._idle.is_set():
                self._idle = anyio.Event()
            await self._idle.wait()

    async def drain(self) -> None:
        """Stop taking; return when the items already running have finished."""
        self._taking.cancel()
        self._give_back()
        await self._wait_idle()

    def cancel(self) -> None:
        """Abandon whatever is still running (a delivery stays due in storage)."""
        self._all.cancel()
