"""What the broker needs from storage, as Protocols every backend implements.

Values travel as raw JSON bytes (``msgspec.Raw``): the broker stores what a
child sent and hands it back without decoding it.
"""

from __future__ import annotations

from typing import Protocol

import msgspec


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


class QueueStore(Protocol):
    """Durable, at-least-once delivery of events to subscribing steps."""

    async def publish(self, event: Event, subscribers: list[str], delay_s: float = 0) -> None:
        """Commit ``event`` and one delivery per subscriber. Durable on return."""
        ...

    async def take(self, step: str, limit: int) -> list[Delivery]:
        """Wait until deliveries for ``step`` are due and return up to ``limit`` of them."""
        ...

    async def ack(self, delivery: Delivery) -> None:
        """The delivery succeeded: forget it."""
        ...

    async def retry(self, delivery: Delivery, error: str, delay_s: float) -> None:
        """The attempt failed: deliver again after ``delay_s``."""
        ...

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Give up on the delivery; keep it where a person can see it."""
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


class Store(QueueStore, StateStore, Protocol):
    """A complete backend."""
