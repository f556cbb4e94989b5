"""The invocations running now, and the recently finished, by id: the dispatch
starts and finishes them; the child services find the one a request is for,
and make its storage calls through it, so that the dispatch sees when a
handler failed because storage did."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .config import ApiStepConfig
from .errors import RemoteError, StorageError
from .protocol import ErrorCode
from .request_stream import RequestBodyStream
from .response_stream import ResponseSink
from .steps import Step

T = TypeVar("T")
K = TypeVar("K")

EMITTED_KEPT = 1000
"""Event ids an invocation's span keeps (see :meth:`Invocation.emitted_event`):
a handler that emits more (a cron job fanning out) would make one span row as
large as its whole trace; the deliveries of its later emits are then drawn as
roots of the stored trace (OTLP export links them all, from the event ids)."""
FINISHED_INVOCATIONS_KEPT = 4096
"""Finished invocations remembered so that a call the handler did not await
(``emit(...)`` without ``await``, as Motia allows) still finds its trace: its
line may arrive after the handler's result."""


class Invocation:
    """One run of a step's handler, and the outcome of the storage calls made
    for it. Only its own methods record a storage failure: the services make
    every storage call through :meth:`storage_call` or :meth:`storage_write`."""

    __slots__ = (
        "_storage_failure",
        "_watched",
        "body",
        "emitted",
        "sink",
        "started",
        "step",
        "trace_id",
    )

    def __init__(
        self,
        step: Step,
        trace_id: str,
        sink: ResponseSink | None = None,
        body: RequestBodyStream | None = None,
    ) -> None:
        self._watched: asyncio.Future[None] | None = None
        """The last write :meth:`storage_write` watches: the emits of one turn
        share one, and one callback per write records its failure."""
        self.step = step
        self.trace_id = trace_id
        self.sink = sink
        """Where ``http.write`` sends the response of an api invocation."""
        self.body = body
        """Where ``http.read`` takes the request body from, when it is streamed."""
        self.started = time.monotonic()
        self.emitted: list[str] | None = None
        """The ids of the events it emitted, for its span (a stored trace links
        an event's deliveries to the invocation that emitted it through them);
        made at its first emit (most invocations emit nothing)."""
        self._storage_failure: StorageError | None = None

    def end(self) -> None:
        """It answered: its streamed request body is closed, and it lets go of
        its request (the connection's sink, the body). It is remembered after
        (:data:`FINISHED_INVOCATIONS_KEPT`), and holding them would keep each
        request's server-side objects alive for thousands of requests more:
        every full pass of the garbage collector would walk them all."""
        if self.body is not None:
            self.body.close()
        self.body = None
        self.sink = None

    def emitted_event(self, event_id: str) -> None:
        """Note an event it emitted, for its span (up to :data:`EMITTED_KEPT`)."""
        if self.emitted is None:
            self.emitted = [event_id]
        elif len(self.emitted) < EMITTED_KEPT:
            self.emitted.append(event_id)

    @property
    def storage_failure(self) -> StorageError | None:
        """The last storage call made for it that failed, if any: a handler that
        then fails, failed because storage did (HTTP 503, retryable)."""
        return self._storage_failure

    async def storage_call(self, call: Awaitable[T]) -> T:
        """Await a storage call made for this invocation."""
        try:
            return await call
        except StorageError as exc:
            self._storage_failure = exc
            raise

    def storage_write(self, write: Callable[[], asyncio.Future[None]]) -> asyncio.Future[None]:
        """Start a store's write for this invocation (``publish``); returns its
        future, whose failure is recorded when it settles."""
        try:
            written = write()
        except StorageError as exc:  # closed under us: nothing queued
            self._storage_failure = exc
            raise
        if written is not self._watched:
            self._watched = written
            written.add_done_callback(self._written)
        return written

    def _written(self, written: asyncio.Future[None]) -> None:
        if self._watched is written:
            self._watched = None
        failure = storage_failure(written)
        if failure is not None:
            self._storage_failure = failure


class KeyedLocks(Generic[K]):
    """One lock per key, kept while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: K) -> AsyncIterator[None]:
        """Hold the key's lock for the block."""
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]


def storage_failure(written: asyncio.Future[None]) -> StorageError | None:
    """What a store's future for a write (``publish``, ``ack``) failed with,
    when storage failed it."""
    failure = None if written.cancelled() else written.exception()
    return failure if isinstance(failure, StorageError) else None


@dataclass(frozen=True, slots=True)
class InFlight:
    """What runs now, as a person stopping the broker wants to hear it."""

    requests: int
    """Invocations of API steps: HTTP requests waiting for their answer."""
    events: int
    """Invocations of event and cron steps."""
    longest_s: float
    """How long the oldest of them has been running."""

    def __str__(self) -> str:
        if not self.requests and not self.events:
            return "nothing in flight"
        parts = [
            f"{count} {what}{'' if count == 1 else 's'}"
            for count, what in ((self.requests, "request"), (self.events, "event"))
            if count
        ]
        return f"{' and '.join(parts)} (the longest running for {self.longest_s:.1f} s)"


class Invocations:
    """The running invocations, and the last :data:`FINISHED_INVOCATIONS_KEPT` finished."""

    def __init__(self) -> None:
        self._running: dict[str, Invocation] = {}
        self._finished: OrderedDict[str, Invocation] = OrderedDict()

    def start(
        self,
        invocation_id: str,
        step: Step,
        trace_id: str,
        sink: ResponseSink | None = None,
        body: RequestBodyStream | None = None,
    ) -> Invocation:
        """A new invocation of ``step``, running from now (an api one may stream
        to ``sink``, and read its request ``body`` as a stream)."""
        invocation = self._running[invocation_id] = Invocation(step, trace_id, sink, body)
        return invocation

    def running(self, invocation_id: str) -> bool:
        """The invocation has not answered yet."""
        return invocation_id in self._running

    def finish(self, invocation_id: str) -> None:
        """The invocation returned or failed; it is remembered for a while."""
        invocation = self._finished[invocation_id] = self._running.pop(invocation_id)
        invocation.end()
        if len(self._finished) > FINISHED_INVOCATIONS_KEPT:
            self._finished.popitem(last=False)

    def in_flight(self) -> InFlight:
        """How many run now, of which kind, and for how long the oldest has."""
        running = list(self._running.values())
        requests = sum(isinstance(i.step.config, ApiStepConfig) for i in running)
        oldest = min((i.started for i in running), default=time.monotonic())
        return InFlight(requests, len(running) - requests, time.monotonic() - oldest)

    def find(self, invocation_id: str) -> Invocation | None:
        """The invocation, running or recently finished, or ``None``."""
        return self._running.get(invocation_id) or self._finished.get(invocation_id)

    def get(self, invocation_id: str) -> Invocation:
        """The invocation a child's request names.

        Raises :class:`RemoteError` ``UNKNOWN_INVOCATION`` when there is none."""
        invocation = self.find(invocation_id)
        if invocation is None:
            raise RemoteError(
                ErrorCode.UNKNOWN_INVOCATION,
                f"invocation {invocation_id!r} is not running (did the handler return"
                " before awaiting this call?)",
            )
        return invocation
