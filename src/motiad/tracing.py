"""Trace ids, and the buses that carry log records and spans to whoever shows
or stores them (the console, storage, the workbench's live stream).

In-memory fan-out, no I/O. The records themselves are defined below storage
(:mod:`motiad.records`): the store keeps them, this bus decides what to record."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .records import LEVELS, Level, LogRecord, Span

__all__ = [
    "LEVELS",
    "Bus",
    "Level",
    "LogBus",
    "LogRecord",
    "LogSink",
    "Sink",
    "Span",
    "SpanBus",
    "new_id",
    "short_id",
]
"""The records are re-exported: the bus carries them, so its users may take
them from here."""

T = TypeVar("T")

_random = random.Random(os.urandom(32))


def new_id() -> str:
    """A 128-bit id as 32 hex digits (trace, invocation and event ids): the time
    in milliseconds (48 bits), then 80 random bits, as UUIDv7 lays them out.

    Ids made later sort later, so rows keyed by them are added at the end of
    their indexes: a commit of a hundred events dirties a few pages of each
    index, not one page per row (random ids made SQLite write several times as
    many pages to its log). Ids need to be unique, not secret: a generator
    seeded once from the OS spares a system call per id on the request path."""
    return f"{int(time.time() * 1000) << 80 | _random.getrandbits(80):032x}"


def short_id(full_id: str) -> str:
    """The few digits of an id the console shows: its random end (its start is
    the time, the same for ids made in the same minute)."""
    return full_id[-8:]


Sink = Callable[[T], None]
LogSink = Sink[LogRecord]


class Bus(Generic[T]):
    """Fans every item out to the sinks; a sink must not block (it runs on
    the publisher's hot path: append to a buffer, never wait)."""

    def __init__(self) -> None:
        self._sinks: list[Sink[T]] = []

    def subscribe(self, sink: Sink[T]) -> Callable[[], None]:
        """Add a sink; returns a function that removes it."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink)

    def publish(self, item: T) -> None:
        """Deliver ``item`` to every sink."""
        for sink in self._sinks:
            sink(item)


class LogBus(Bus[LogRecord]):
    """Log records from every part of the broker."""

    def log(
        self,
        level: Level,
        message: str,
        *,
        step: str | None = None,
        trace_id: str | None = None,
        invocation_id: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Publish a record made here and now. ``fields`` is a separate mapping, so
        a user field named ``step`` or ``trace_id`` is kept, never confused with ours."""
        self.publish(
            LogRecord(time.time(), level, message, step, trace_id, invocation_id, fields or None)
        )


SpanBus = Bus[Span]
"""Finished spans, as the broker records them."""
