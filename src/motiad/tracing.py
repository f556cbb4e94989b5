"""Trace ids and log records, and the bus that carries records to whoever
shows or stores them (the console now; storage and the workbench later)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec

Level = Literal["debug", "info", "warn", "error"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warn", "error")


_random = random.Random(os.urandom(32))


def new_id() -> str:
    """A random 128-bit id as 32 hex digits (trace, invocation and event ids).

    Ids need to be unique, not secret: a generator seeded once from the OS
    spares a system call per id on the request path."""
    return f"{_random.getrandbits(128):032x}"


class LogRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One log line, from user code, a child's stderr, or the broker itself."""

    time: float
    level: Level
    message: str
    step: str | None = None
    trace_id: str | None = None
    invocation_id: str | None = None
    fields: dict[str, Any] | None = None


LogSink = Callable[[LogRecord], None]


class LogBus:
    """Fans every record out to the sinks; a sink must not block."""

    def __init__(self) -> None:
        self._sinks: list[LogSink] = []

    def subscribe(self, sink: LogSink) -> Callable[[], None]:
        """Add a sink; returns a function that removes it."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink)

    def publish(self, record: LogRecord) -> None:
        """Deliver ``record`` to every sink."""
        for sink in self._sinks:
            sink(record)

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
