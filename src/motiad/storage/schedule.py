"""The in-memory schedule of due deliveries for a backend that owns its
storage alone (SQLite): which delivery each step gets next.

Standard queues hand out every due delivery, oldest first. FIFO queues hand
out only the head of each message group, and hold the group until that head
is acknowledged or dead-lettered; a retried head stays at the head.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field

import anyio

from .base import Delivery

_seq = itertools.count()


@dataclass
class StepSchedule:
    """Due and delayed deliveries of one step, and the wake-up of its consumer."""

    fifo: bool = False
    ready: deque[Delivery] = field(default_factory=deque)
    delayed: list[tuple[float, int, Delivery]] = field(default_factory=list)
    groups: dict[str | None, deque[tuple[float, Delivery]]] = field(default_factory=dict)
    busy: set[str | None] = field(default_factory=set)
    known: set[int] = field(default_factory=set)
    """Ids scheduled or in flight, so a rescan of storage never adds one twice."""
    wake: anyio.Event = field(default_factory=anyio.Event)

    def add(self, delivery: Delivery, due_at: float) -> None:
        """Schedule a new delivery (or one found in storage)."""
        if delivery.id in self.known:
            return
        self.known.add(delivery.id)
        if self.fifo:
            key = delivery.event.message_group_id
            self.groups.setdefault(key, deque()).append((due_at, delivery))
        elif due_at <= time.time():
            self.ready.append(delivery)
        else:
            heapq.heappush(self.delayed, (due_at, next(_seq), delivery))
        self.wake.set()

    def take(self, limit: int) -> tuple[list[Delivery], float | None]:
        """Up to ``limit`` due deliveries, and when the next one falls due
        (``None``: nothing is waiting on time)."""
        now = time.time()
        if self.fifo:
            return self._take_fifo(limit, now)
        while self.delayed and self.delayed[0][0] <= now:
            self.ready.append(heapq.heappop(self.delayed)[2])
        count = min(limit, len(self.ready))
        taken = [self.ready.popleft() for _ in range(count)]
        return taken, (self.delayed[0][0] if self.delayed else None)

    def _take_fifo(self, limit: int, now: float) -> tuple[list[Delivery], float | None]:
        taken: list[Delivery] = []
        next_due: float | None = None
        for key, queue in self.groups.items():
            if key in self.busy or not queue:
                continue
            due_at, head = queue[0]
            if due_at <= now and len(taken) < limit:
                self.busy.add(key)
                taken.append(head)
            elif due_at > now:
                next_due = due_at if next_due is None else min(next_due, due_at)
        return taken, next_due

    def settled(self, delivery: Delivery) -> None:
        """The delivery was acknowledged or dead-lettered: forget it."""
        self.known.discard(delivery.id)
        if self.fifo:
            key = delivery.event.message_group_id
            queue = self.groups.get(key)
            if queue and queue[0][1].id == delivery.id:
                queue.popleft()
                if not queue:
                    del self.groups[key]
            self.busy.discard(key)
            self.wake.set()

    def retried(self, delivery: Delivery, due_at: float) -> None:
        """The delivery failed and is due again at ``due_at`` (FIFO: still the head)."""
        if self.fifo:
            key = delivery.event.message_group_id
            queue = self.groups.get(key)
            if queue and queue[0][1].id == delivery.id:
                queue[0] = (due_at, delivery)
            self.busy.discard(key)
            self.wake.set()
            return
        self.known.discard(delivery.id)
        self.add(delivery, due_at)

    def released(self, delivery: Delivery) -> None:
        """The delivery was taken but not run (its consumer stopped): due again now."""
        self.retried(delivery, time.time())

    async def wait(self, until: float | None) -> None:
        """Sleep until something is added or settled, or until ``until``."""
        self.wake = anyio.Event()
        timeout = None if until is None else max(0.0, until - time.time())
        with anyio.move_on_after(timeout):
            await self.wake.wait()
