"""Spans and log records on their way to storage: appended on the hot path
without a wait, written by the backend in batches (every backend keeps traces
this way)."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from ..errors import StorageError
from ..records import LogRecord, Span
from .base import Trace, TraceSummary

RECORDS_FLUSH_S = 0.2
"""How long spans and log records gather before they are written in one
batch: at most five such writes a second however busy the project, and
soon enough that the workbench shows them as they happen."""
RECORDS_BUFFERED_MAX = 20_000
"""Spans (and, separately, log records) held while storage is slow; beyond
that the oldest are dropped rather than memory grown without bound."""


class RecordBuffer:
    """The records not yet written, and how many were dropped."""

    def __init__(self) -> None:
        self._spans: deque[Span] = deque(maxlen=RECORDS_BUFFERED_MAX)
        self._logs: deque[LogRecord] = deque(maxlen=RECORDS_BUFFERED_MAX)
        self._waiting = anyio.Event()
        self.dropped = 0

    def add_span(self, span: Span) -> None:
        """Buffer a finished span (the oldest goes when the buffer is full)."""
        if len(self._spans) == RECORDS_BUFFERED_MAX:
            self.dropped += 1
        self._spans.append(span)
        self._waiting.set()

    def add_log(self, record: LogRecord) -> None:
        """Buffer a log record (the oldest goes when the buffer is full)."""
        if len(self._logs) == RECORDS_BUFFERED_MAX:
            self.dropped += 1
        self._logs.append(record)
        self._waiting.set()

    def take(self) -> tuple[list[Span], list[LogRecord]]:
        """Everything buffered, which the caller now writes."""
        spans, logs = list(self._spans), list(self._logs)
        self._spans.clear()
        self._logs.clear()
        return spans, logs

    async def write_soon(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Run ``flush`` every :data:`RECORDS_FLUSH_S` while records come."""
        while True:
            await self._waiting.wait()
            await anyio.sleep(RECORDS_FLUSH_S)
            self._waiting = anyio.Event()
            with contextlib.suppress(StorageError):  # counted in dropped
                await flush()


def assemble_trace(
    trace_id: str, summary: TraceSummary | None, spans: list[Span], logs: list[LogRecord]
) -> Trace | None:
    """A trace as read back: with its stored summary, or, when it has logs but no
    finished span yet, a summary made from the logs; ``None`` when nothing is kept."""
    if summary is None:
        if not logs:
            return None
        first = logs[0]
        summary = TraceSummary(trace_id, first.time, logs[-1].time, first.step or "", "", "", 0, 0)
    return Trace(summary, spans, logs)
