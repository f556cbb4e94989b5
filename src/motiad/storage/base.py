"""What the broker needs from storage, as Protocols every backend implements.

Values travel as raw JSON bytes (``msgspec.Raw``): the broker stores what a
child sent and hands it back without decoding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Protocol

import msgspec
from anyio.abc import TaskStatus

from ..protocol.messages import ErrorInfo
from ..records import Level, LogRecord, Span


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


async def durable(write: asyncio.Future[None]) -> None:
    """Wait until a store's ``write`` future (:meth:`QueueStore.publish`,
    :meth:`QueueStore.ack`) is done. Shielded: the future may be shared with
    other writes, and a cancelled waiter must not cancel it for them."""
    await asyncio.shield(write)


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as ``motiad dlq --json`` and the workbench show it."""
    event = letter.event
    return {
        "id": letter.id,
        "step": letter.step,
        "topic": event.topic,
        "attempts": letter.attempts,
        "failedAt": letter.failed_at,
        "error": msgspec.to_builtins(letter.error),
        "event": {
            "id": event.id,
            "traceId": event.trace_id,
            "messageGroupId": event.message_group_id,
            "createdAt": event.created_at,
            "data": msgspec.json.decode(event.data),
        },
    }


class QueueStats(msgspec.Struct, frozen=True):
    """One step's queue at a moment: what the metrics show."""

    pending: int
    """Deliveries not settled yet: waiting (due, delayed, retrying) or running."""
    oldest_due_at: float
    """The earliest due time among them: now minus this (when positive) is how
    long the oldest has been waiting or running, how far behind the step is."""


class DeadLetterFilter(msgspec.Struct, frozen=True):
    """Which dead letters an operation applies to: ids, a topic, or all."""

    ids: tuple[int, ...] = ()
    topic: str | None = None
    all: bool = False


class QueueStore(Protocol):
    """Durable, at-least-once delivery of events to subscribing steps."""

    def publish(self, event: Event, targets: Sequence[Target]) -> asyncio.Future[None]:
        """Commit ``event`` and one delivery per target: durable once the future
        is done; failed with :class:`~motiad.errors.StorageError` if it is not.

        No task and no coroutine per call (the broker calls it for every emit,
        in the child's reader): the write joins the backend's next batch. The
        future may be shared by many writes: add a callback, or wait with
        :func:`durable`; never cancel it. Raises :class:`StorageError` at once
        when the store is closed."""
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

    def ack(self, delivery: Delivery) -> asyncio.Future[None]:
        """The delivery succeeded: forget it. A future, as :meth:`publish`'s."""
        ...

    async def retry(self, delivery: Delivery, error: ErrorInfo, delay_s: float) -> None:
        """The attempt failed: deliver again after ``delay_s``."""
        ...

    async def dead_letter(self, delivery: Delivery, error: ErrorInfo) -> None:
        """Give up on the delivery; keep it where a person can see it."""
        ...

    async def queue_stats(self) -> dict[str, QueueStats]:
        """Per step with unsettled deliveries, how many and how late (a query,
        for the metrics page: not for the hot path)."""
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

    async def state_update(
        self, group_id: str, key: str, change: Callable[[bytes | None], bytes]
    ) -> tuple[msgspec.Raw | None, msgspec.Raw]:
        """Replace the value with ``change(value)`` (``None``: no value yet) in one
        step: no other write to the key comes between the read and the write, from
        this broker or another. Returns the old value and the new. Durable on return."""
        ...

    async def state_group(self, group_id: str) -> list[msgspec.Raw]:
        """Every value of the group, ordered by key."""
        ...

    async def state_clear(self, group_id: str) -> None:
        """Remove every value of the group."""
        ...

    async def state_groups(self) -> list[StateGroup]:
        """Every group that holds a value, ordered by group id (the workbench)."""
        ...

    async def state_items(self, group_id: str) -> list[tuple[str, msgspec.Raw]]:
        """Every ``(key, value)`` of the group, ordered by key."""
        ...


class StateGroup(msgspec.Struct, frozen=True, rename="camel"):
    """A state group as listings show it."""

    group_id: str
    keys: int
    updated_at: float
    """When a value of the group last changed."""


Limit = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
"""How many entries one listing returns at most."""


class TraceSummary(msgspec.Struct, frozen=True, rename="camel"):
    """A trace as listings show it: its first span and counts."""

    trace_id: str
    started_at: float
    ended_at: float
    step: str
    """The step of the trace's earliest span (the API step or cron step that began it)."""
    trigger: str
    detail: str
    spans: int
    errors: int
    """Spans that ended in an error."""


class Trace(msgspec.Struct, frozen=True, rename="camel"):
    """One trace: its spans by start time and its log records by time (each
    record names its span by ``invocation_id``; records without one belong to
    the trace as a whole)."""

    summary: TraceSummary
    spans: list[Span]
    logs: list[LogRecord]


class TraceQuery(msgspec.Struct, frozen=True, rename="camel"):
    """Which traces to list: the newest ``limit`` that started before ``before``."""

    limit: Limit = 50
    before: float | None = None
    step: str | None = None
    """Only traces with a span of this step."""


class LogQuery(msgspec.Struct, frozen=True, rename="camel"):
    """Which log records to list: the newest ``limit`` matching every filter
    given, returned oldest first."""

    step: str | None = None
    level: Level | None = None
    """This level and the ones above it."""
    trace_id: str | None = None
    text: str | None = None
    """A substring of the message, case-insensitive."""
    before: float | None = None
    """Only records older than this time (paging back)."""
    limit: Limit = 200


class TraceStore(Protocol):
    """Spans and log records, kept for a bounded number of recent traces.

    Recording is fire-and-forget so that it costs the hot path nothing but an
    append: backends batch records and write them in the background. Reads see
    every record recorded before the last :meth:`flush_traces` returned (and,
    without a flush, within a fraction of a second)."""

    def record_span(self, span: Span) -> None:
        """Keep a finished span. Never blocks, never raises."""
        ...

    def record_log(self, record: LogRecord) -> None:
        """Keep a log record. Never blocks, never raises."""
        ...

    async def flush_traces(self) -> None:
        """Wait until everything recorded so far is readable."""
        ...

    async def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces ``query`` selects, newest first."""
        ...

    async def trace(self, trace_id: str) -> Trace | None:
        """One trace with its spans and logs, or ``None`` if it is not (or no longer) kept."""
        ...

    async def logs(self, query: LogQuery) -> list[LogRecord]:
        """The log records ``query`` selects, oldest first."""
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


class StreamListeners:
    """The listeners of a backend's stream changes (both backends keep them so)."""

    def __init__(self) -> None:
        self._listeners: list[StreamListener] = []

    def add(self, listener: StreamListener) -> Callable[[], None]:
        """Register ``listener``; returns a function that removes it (once, or never)."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def tell(self, change: StreamChange) -> None:
        """Hand ``change`` to every listener (one may remove itself meanwhile)."""
        for listener in list(self._listeners):
            listener(change)


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

    async def stream_update(
        self, stream: str, group_id: str, id: str, change: Callable[[bytes | None], bytes | None]
    ) -> tuple[msgspec.Raw | None, StreamChange | None]:
        """Replace the item with ``change(item)`` (``None`` in: no item yet; ``None``
        out: leave it as it is) in one step: no other write to the item comes
        between the read and the write, from this broker or another. Returns the
        old item and the change (``None`` when nothing was written). Durable and
        announced to listeners on return, as :meth:`stream_set`."""
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


class CronLock(Protocol):
    """Fires each cron tick once, however many brokers share the storage."""

    async def claim_tick(self, step: str, tick: float) -> bool:
        """True for the first broker claiming ``step``'s tick at ``tick`` (epoch seconds)."""
        ...


Health = Callable[[Literal["info", "error"], str], None]
"""Where a backend reports that its server became unreachable or came back
(once per change, so an outage is one line, not a flood)."""


class Store(QueueStore, DeadLetterStore, StateStore, StreamStore, TraceStore, CronLock, Protocol):
    """A complete backend."""

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        """Open the storage, report ready through ``task_status``, run until cancelled."""
        ...
