"""What the broker needs from storage, as Protocols every backend implements.

Values travel as raw JSON bytes (``msgspec.Raw``): the broker stores what a
child sent and hands it back without decoding it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import msgspec

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
    """A subscriber of a topic, and how long its first delivery waits."""

    step: str
    delay_s: float = 0.0


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

    def open_queue(self, step: str, *, fifo: bool) -> None:
        """Start scheduling the pending deliveries of ``step``."""
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


StreamChangeType = Literal["create", "update", "delete", "event"]


class StreamChange(msgspec.Struct, frozen=True):
    """One change of a stream, as subscribed clients are told of it."""

    stream: str
    group_id: str
    id: str | None
    """The item's id; ``None`` for an event sent to a whole group."""
    type: StreamChangeType
    data: msgspec.Raw
    """The item (``create``, ``update``; the removed item for ``delete``), or
    for ``event`` the ephemeral event ``{type, data}`` itself."""
    timestamp: int
    """Milliseconds since the epoch, strictly increasing per store: Motia's
    clients drop a change whose timestamp is not newer than the last they saw."""


StreamListener = Callable[[StreamChange], None]
"""Called on the event loop for every change, in commit order. It must not block
or raise (the WebSocket hub only queues the change for each client)."""


class StreamStore(Protocol):
    """Stream items by (stream, group, id), and the feed of their changes.

    Every change (a ``set``, a ``delete`` that removed something, a ``send``)
    reaches every listener registered with :meth:`watch_streams`, including
    changes made by other brokers sharing the storage where the backend can
    see them (Redis pub/sub); ``send`` events go through the feed unstored.
    """

    async def stream_get(self, stream: str, group_id: str, id: str) -> msgspec.Raw | None:
        """The item, or ``None``."""
        ...

    async def stream_set(
        self, stream: str, group_id: str, id: str, item: msgspec.Raw
    ) -> StreamChange:
        """Store ``item`` (a JSON object that carries its ``id``), replacing any
        previous one. Durable and announced to listeners on return; the change
        says ``create`` or ``update``."""
        ...

    async def stream_delete(self, stream: str, group_id: str, id: str) -> StreamChange | None:
        """Remove the item; the ``delete`` change carries it. ``None``: there was none."""
        ...

    async def stream_group(self, stream: str, group_id: str) -> list[msgspec.Raw]:
        """Every item of the group, ordered by id."""
        ...

    async def stream_send(
        self, stream: str, group_id: str, id: str | None, event: msgspec.Raw
    ) -> StreamChange:
        """Announce an ephemeral ``event`` (``{type, data}``) to listeners; nothing is stored."""
        ...

    async def stream_names(self) -> list[str]:
        """Every stream that has stored items, sorted."""
        ...

    async def stream_groups(self, stream: str) -> list[str]:
        """Every group of ``stream`` that has stored items, sorted."""
        ...

    def watch_streams(self, listener: StreamListener) -> Callable[[], None]:
        """Call ``listener`` with every change from now on; returns what stops it."""
        ...


class Store(QueueStore, DeadLetterStore, StateStore, StreamStore, Protocol):
    """A complete backend."""
