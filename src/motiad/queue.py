"""Consuming events: one consumer per subscribing step takes due deliveries
from storage and runs them, bounded by the step's concurrency; the retry
policy decides when a failed delivery is tried again."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from .storage import Delivery
from .storage.base import QueueStore

DEFAULT_CONCURRENCY = 64
"""Deliveries one step runs at once: enough to keep a warm child busy,
bounded so a backlog cannot flood it."""


TAKE_BATCH = 64
"""Deliveries taken from storage at once: amortises the wake-up under load."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter (the AWS architecture blog's
    recommendation: spreads retries of many failing events apart)."""

    max_retries: int = 3
    initial_s: float = 1.0
    max_s: float = 300.0

    def attempts(self, step_max_retries: int | None) -> int:
        """Total attempts allowed: the first one plus the retries."""
        retries = self.max_retries if step_max_retries is None else step_max_retries
        return 1 + max(0, retries)

    def delay_s(self, attempt: int) -> float:
        """Delay before the attempt after ``attempt``."""
        return random.uniform(0, min(self.max_s, self.initial_s * 2 ** (attempt - 1)))


class Consumer:
    """Takes deliveries for one step and hands each to ``deliver``."""

    def __init__(
        self,
        step: str,
        store: QueueStore,
        deliver: Callable[[Delivery], Awaitable[None]],
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.step = step
        self._store = store
        self._deliver = deliver
        self._slots = anyio.Semaphore(concurrency)
        self._taking = anyio.CancelScope()
        self._all = anyio.CancelScope()
        self._idle = anyio.Event()
        self._running = 0

    async def run(self) -> None:
        """Take and deliver until cancelled; running deliveries finish first on drain."""
        with self._all:
            async with anyio.create_task_group() as tg:
                with self._taking:
                    while True:
                        deliveries = await self._store.take(self.step, TAKE_BATCH)
                        for index, delivery in enumerate(deliveries):
                            try:
                                await self._slots.acquire()
                            except BaseException:  # stopping: the rest were never run
                                self._store.release(deliveries[index:])
                                raise
                            self._running += 1
                            tg.start_soon(self._one, delivery)

    async def _one(self, delivery: Delivery) -> None:
        try:
            await self._deliver(delivery)
        finally:
            self._slots.release()
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def drain(self) -> None:
        """Stop taking; return when the deliveries already running have finished."""
        self._taking.cancel()
        while self._running:
            self._idle = anyio.Event()
            await self._idle.wait()

    def cancel(self) -> None:
        """Abandon whatever is still running (it stays due in storage)."""
        self._all.cancel()
