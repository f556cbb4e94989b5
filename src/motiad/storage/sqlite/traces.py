"""Spans and log records in the SQLite file (the workbench's traces): recorded
without a wait, gathered in memory and written a few times a second as one
more write in the writer's queue; only the newest traces and logs are kept
(:class:`~motiad.config.TraceRetention`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import msgspec

from ...config import TraceRetention
from ...errors import StorageError
from ...protocol.messages import ErrorInfo
from ...records import LEVELS, LogRecord, Span
from ..base import LogQuery, Trace, TraceQuery, TraceSummary
from ..record_buffer import RecordBuffer, assemble_trace
from .schema import SPAN_COLUMNS
from .writer import Writer

PRUNE_EVERY = 500
"""Records written between two deletions of the oldest traces and logs: the
file holds at most this many beyond the retention bounds."""

_LOG_COLUMNS = "time, level, message, step, trace_id, invocation_id, fields"
_TRACE_COLUMNS = "trace_id, started_at, ended_at, step, trig, detail, spans, errors"
# The summary of a trace follows its spans: the earliest span names it.
_UPSERT_TRACE = """
INSERT INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id) DO UPDATE SET
    step = CASE WHEN excluded.started_at < started_at THEN excluded.step ELSE step END,
    trig = CASE WHEN excluded.started_at < started_at THEN excluded.trig ELSE trig END,
    detail = CASE WHEN excluded.started_at < started_at THEN excluded.detail ELSE detail END,
    started_at = min(started_at, excluded.started_at),
    ended_at = max(ended_at, excluded.ended_at),
    spans = spans + excluded.spans,
    errors = errors + excluded.errors
"""
_INSERT_SPAN = (
    f"INSERT INTO spans ({SPAN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO NOTHING"
)
_error_decoder = msgspec.json.Decoder(ErrorInfo)
_fields_decoder = msgspec.json.Decoder(dict[str, Any])
_emitted_decoder = msgspec.json.Decoder(list[str])
_encode = msgspec.json.Encoder().encode


def _insert_spans(conn: sqlite3.Connection, spans: list[Span]) -> None:
    """Insert the spans not stored yet, and fold them into their traces'
    summaries: one ``executemany`` per table (a busy flow finishes thousands of
    spans a second, most of a trace's in one flush)."""
    rows = [
        (
            span.id,
            span.trace_id,
            span.step,
            span.trigger,
            span.detail,
            span.started_at,
            span.ended_at,
            span.outcome,
            span.attempt,
            None if span.error is None else _encode(span.error),
            span.parent_id,
            span.caller_id,
            None if span.emitted is None else _encode(span.emitted),
        )
        for span in spans
    ]
    conn.execute("SAVEPOINT spans")
    before = conn.total_changes
    conn.executemany(_INSERT_SPAN, rows)
    new = spans
    if conn.total_changes - before != len(spans):  # some were stored before: which?
        conn.execute("ROLLBACK TO spans")
        new = [
            span
            for span, row in zip(spans, rows, strict=True)
            if conn.execute(_INSERT_SPAN, row).rowcount
        ]
    conn.execute("RELEASE spans")
    # trace_id -> [trace_id, started_at, ended_at, step, trig, detail, spans, errors]
    summaries: dict[str, list[Any]] = {}
    for span in new:
        failed = int(span.outcome == "error")
        summary = summaries.get(span.trace_id)
        if summary is None:
            summaries[span.trace_id] = [
                span.trace_id,
                span.started_at,
                span.ended_at,
                span.step,
                span.trigger,
                span.detail,
                1,
                failed,
            ]
            continue
        if span.started_at < summary[1]:  # the earliest span names the trace
            summary[1], summary[3], summary[4], summary[5] = (
                span.started_at,
                span.step,
                span.trigger,
                span.detail,
            )
        summary[2] = max(summary[2], span.ended_at)
        summary[6] += 1
        summary[7] += failed
    conn.executemany(_UPSERT_TRACE, list(summaries.values()))


def _span(row: Sequence[Any]) -> Span:
    (s_id, trace_id, step, trigger, detail, started_at, ended_at, outcome, attempt, error) = row[
        :10
    ]
    parent_id, caller_id, emitted = row[10:]
    return Span(
        s_id,
        trace_id,
        step,
        trigger,
        detail,
        started_at,
        ended_at,
        outcome,
        attempt,
        _error_decoder.decode(error) if error else None,
        parent_id,
        caller_id,
        _emitted_decoder.decode(emitted) if emitted else None,
    )


def _log(row: Sequence[Any]) -> LogRecord:
    at, level, message, step, trace_id, invocation_id, fields = row
    decoded = _fields_decoder.decode(fields) if fields else None
    return LogRecord(at, level, message, step, trace_id, invocation_id, decoded)


class SqliteTraces:
    """The ``traces``, ``spans`` and ``logs`` tables, and the records on their way there."""

    def __init__(self, writer: Writer, retention: TraceRetention) -> None:
        self._writer = writer
        self.retention = retention
        self.buffer = RecordBuffer()
        self._written_since_prune = PRUNE_EVERY
        """Records written since the oldest were last deleted; the first
        flush after opening prunes (the file may come from a run with larger bounds)."""

    async def flush(self) -> None:
        """Write what is buffered. Writes apply in order, so once this one has
        committed, so have the records an earlier flush took."""
        spans, logs = self.buffer.take()
        write = self._writer.submit(lambda conn: self._insert(conn, spans, logs))
        write.rows = len(spans) + len(logs)
        try:
            await self._writer.wait(write)
        except StorageError:
            self.buffer.dropped += len(spans) + len(logs)
            raise

    def _insert(self, conn: sqlite3.Connection, spans: list[Span], logs: list[LogRecord]) -> None:
        if spans:
            _insert_spans(conn, spans)
        conn.executemany(
            f"INSERT INTO logs ({_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.time,
                    r.level,
                    r.message,
                    r.step,
                    r.trace_id,
                    r.invocation_id,
                    None if r.fields is None else _encode(r.fields),
                )
                for r in logs
            ],
        )
        self._written_since_prune += len(spans) + len(logs)
        if self._written_since_prune >= PRUNE_EVERY:
            self._written_since_prune = 0
            self._prune(conn)

    def _prune(self, conn: sqlite3.Connection) -> None:
        """Delete the traces (with their spans and logs) and the log records
        beyond the retention bounds, oldest first."""
        keep = self.retention
        cutoff = conn.execute(
            "SELECT started_at FROM traces ORDER BY started_at DESC LIMIT 1 OFFSET ?",
            (keep.max_traces,),
        ).fetchone()
        if cutoff is not None:
            old = conn.execute(
                "DELETE FROM traces WHERE started_at <= ? RETURNING trace_id", cutoff
            ).fetchall()
            conn.executemany("DELETE FROM spans WHERE trace_id = ?", old)
            conn.executemany("DELETE FROM logs WHERE trace_id = ?", old)
        last = conn.execute(
            "SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET ?", (keep.max_logs,)
        ).fetchone()
        if last is not None:
            conn.execute("DELETE FROM logs WHERE id <= ?", last)

    def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces that match, newest first."""
        clauses, args = ["1"], list[Any]()
        if query.before is not None:
            clauses.append("started_at < ?")
            args.append(query.before)
        if query.step is not None:
            clauses.append("trace_id IN (SELECT trace_id FROM spans WHERE step = ?)")
            args.append(query.step)
        rows = self._writer.read().execute(
            f"SELECT {_TRACE_COLUMNS} FROM traces WHERE {' AND '.join(clauses)}"
            " ORDER BY started_at DESC LIMIT ?",
            (*args, query.limit),
        )
        return [TraceSummary(*row) for row in rows]

    def trace(self, trace_id: str) -> Trace | None:
        """The trace's summary, spans (by start) and logs (by time)."""
        reader = self._writer.read()
        spans = [
            _span(row)
            for row in reader.execute(
                f"SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY started_at",
                (trace_id,),
            )
        ]
        logs = [
            _log(row)
            for row in reader.execute(
                f"SELECT {_LOG_COLUMNS} FROM logs WHERE trace_id = ? ORDER BY time, id",
                (trace_id,),
            )
        ]
        row = reader.execute(
            f"SELECT {_TRACE_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id,)
        ).fetchone()
        return assemble_trace(trace_id, None if row is None else TraceSummary(*row), spans, logs)

    def logs(self, query: LogQuery) -> list[LogRecord]:
        """The newest records that match every filter given, oldest first."""
        clauses, args = ["1"], list[Any]()
        if query.step is not None:
            clauses.append("step = ?")
            args.append(query.step)
        if query.level is not None:
            levels = LEVELS[LEVELS.index(query.level) :]
            clauses.append(f"level IN ({','.join('?' * len(levels))})")
            args.extend(levels)
        if query.trace_id is not None:
            clauses.append("trace_id = ?")
            args.append(query.trace_id)
        if query.text:
            clauses.append("instr(lower(message), lower(?)) > 0")
            args.append(query.text)
        if query.before is not None:
            clauses.append("time < ?")
            args.append(query.before)
        rows = self._writer.read().execute(
            f"SELECT {_LOG_COLUMNS} FROM logs WHERE {' AND '.join(clauses)}"
            " ORDER BY id DESC LIMIT ?",
            (*args, query.limit),
        )
        return [_log(row) for row in reversed(rows.fetchall())]
