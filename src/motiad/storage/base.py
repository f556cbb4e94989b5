"""What the broker needs from storage, as Protocols every backend implements.

Values travel as raw JSON bytes (``msgspec.Raw``): the broker stores what a
child sent and hands it back without decoding it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import msgspec
from anyio.abc import TaskStatus

from ..protocol.messages import ErrorInfo


class Event(msgspec.Struct, frozen=True):
    """An emitted event, as committed."""

    id: str
    topic: str
    data: msgspec.Raw
    trace_id: str
    message_group_id: str | None
    created_at: float


class Delivery(msgspec.Struct):
    """One event on its way to one subscribing step."""

    id: int
    event: Event
    step: str
    attempt: int
    """1 for the first delivery, incremented on each retry."""


class Target(msgspec.Struct, frozen=True):
    """A subscriber of a topic, how long its first delivery waits, and whether
    its queue is FIFO (a backend shared by several brokers keeps the order of
    each message group in storage, so it must know when the event is stored)."""

    step: str
    delay_s: float = 0.0
    fifo: bool = False


Router = Callable[[str], Sequence[Target]]
"""The subscribers of a topic, as the running broker knows them."""


class DeadLetter(msgspec.Struct, frozen=True):
    """A delivery that ran out of attempts or failed for good."""

    id: int
    step: str
    attempts: int
    error: ErrorInfo
    failed_at: float
    event: Event


class DeadLetterFilter(msgspec.Struct, frozen=True):
    """Which dead letters an operation applies to: ids, a topic, or all."""

    ids: tuple[int, ...] = ()
    topic: str | None = None
    all: bool = False


class QueueStore(Protocol):
    """Durable, at-least-once delivery of events to subscribing steps."""

    async def publish(self, event: Event, targets: Sequence[Target]) -> None:
        """Commit ``event`` and one delivery per target. Durable on return."""
        ...

    async def enqueue(self, event: Event) -> None:
        """Commit ``event`` for the running broker to route (``motiad emit``)."""
        ...

    def open_queue(self, step: str, *, fifo: bool, lease_s: float) -> None:
        """Start scheduling the pending deliveries of ``step``. A delivery taken
        is leased for ``lease_s``: a backend shared by several brokers hands it
        to another one when its taker stops renewing the lease (it died)."""
        ...

    def close_queue(self, step: str) -> None:
        """Stop scheduling ``step``; its pending deliveries stay in storage."""
        ...

    def route_enqueued(self, router: Router) -> None:
        """Route events committed with :meth:`enqueue`, now and as they come."""
        ...

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait until deliveries for ``step`` are due and return up to ``limit`` of them."""
        ...

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Taken deliveries that will not run now (the consumer is stopping)."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """The delivery succeeded: forget it."""
        ...

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """The attempt failed: deliver again after ``delay_s``."""
        ...

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Give up on the delivery; keep it where a person can see it."""
        ...


class DeadLetterStore(Protocol):
    """Seeing and handling dead letters (``motiad dlq``, the workbench)."""

    async def dead_letters(self, which: DeadLetterFilter) -> list[DeadLetter]:
        """The dead letters ``which`` selects, oldest failure first."""
        ...

    async def redrive(self, which: DeadLetterFilter) -> int:
        """Make the selected dead letters due again, from attempt 1; returns how many."""
        ...

    async def purge(self, which: DeadLetterFilter) -> int:
        """Delete the selected dead letters; returns how many."""
        ...


class StateStore(Protocol):
    """JSON values by (group, key)."""

    async def state_get(self, group_id: str, key: str) -> msgspec.Raw | None:
        """The value, or ``None``."""
        ...

    async def state_set(self, group_id: str, key: str, value: msgspec.Raw) -> None:
        """Store ``value``, replacing any previous one. Durable on return."""
        ...

    async def state_delete(self, group_id: str, key: str) -> msgspec.Raw | None:
        """Remove and return the value, or ``None``."""
        ...

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """Every value of the group, ordered by key."""
        ...

    async def state_clear(self, group_id: str) -> None:
        """Remove every value of the group."""
        ...


class CronLock(Protocol):
    """Fires each cron tick once, however many brokers share the storage."""

    async def claim_tick(self, step: str, tick: float) -> bool:
        """True for the first broker claiming ``step``'s tick at ``tick`` (epoch seconds)."""
        ...


Health = Callable[[Literal["info", "error"], str], None]
"""Where a backend reports that its server became unreachable or came back
(once per change, so an outage is one line, not a flood)."""


class Store(QueueStore, DeadLetterStore, StateStore, CronLock, Protocol):
    """A complete backend."""

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        """Open the storage, report ready through ``task_status``, run until cancelled."""
        ...
