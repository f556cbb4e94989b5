"""Spans and log records of the Redis backend, for the workbench and ``motiad
traces``/``logs`` of any instance: recorded without a wait, written in batches
by one script (``lua.RECORD``), kept within the retention bounds."""

from __future__ import annotations

from typing import Any

import msgspec

from ...config import TraceRetention
from ...errors import StorageError
from ...records import LEVELS, LogRecord, Span
from ..base import LogQuery, Trace, TraceQuery, TraceSummary
from ..record_buffer import RecordBuffer, assemble_trace
from .connection import PREFIX, RedisConnection

LOG_PAGE = 500
"""Log records read per round trip while a query looks back for matches."""

_encode = msgspec.json.Encoder().encode
_span_decoder = msgspec.json.Decoder(Span)
_log_decoder = msgspec.json.Decoder(LogRecord)


def _log(member: bytes) -> tuple[int, LogRecord]:
    """A member of the logs sorted set: ``id\\ttrace\\tjson``."""
    number, _, rest = member.partition(b"\t")
    return int(number), _log_decoder.decode(rest.partition(b"\t")[2])


class RedisTraces:
    """The traces, spans and log records every broker of the project records."""

    def __init__(self, conn: RedisConnection, retention: TraceRetention) -> None:
        self._conn = conn
        self.retention = retention
        self.buffer = RecordBuffer()

    async def flush(self) -> None:
        """Write what is buffered, in one script."""
        spans, logs = self.buffer.take()
        if not (spans or logs):
            return
        args: list[object] = [
            self.retention.max_traces,
            self.retention.max_logs,
            len(spans),
            len(logs),
        ]
        for s in spans:
            args += [s.id, s.trace_id, s.step, s.trigger, s.detail]
            args += [repr(s.started_at), repr(s.ended_at), int(s.outcome == "error"), _encode(s)]
        for r in logs:
            args += [r.trace_id or "", _encode(r)]
        try:
            await self._conn.script("RECORD", args)
        except StorageError:
            self.buffer.dropped += len(spans) + len(logs)
            raise

    async def _summaries(self, trace_ids: list[bytes]) -> list[TraceSummary]:
        fields = ("started_at", "ended_at", "step", "trigger", "detail", "spans", "errors")
        conn = self._conn
        async with conn.guard(), conn.redis.pipeline(transaction=False) as pipe:
            for trace_id in trace_ids:
                pipe.hmget(f"{PREFIX}trace:{trace_id.decode()}", *fields)
            rows = await pipe.execute()
        summaries = []
        for trace_id, row in zip(trace_ids, rows, strict=True):
            if row[0] is None:
                continue
            started, ended, step, trigger, detail, spans, errors = row
            summaries.append(
                TraceSummary(
                    trace_id.decode(),
                    float(started),
                    float(ended),
                    step.decode(),
                    trigger.decode(),
                    detail.decode(),
                    int(spans),
                    int(errors),
                )
            )
        return summaries

    async def traces(self, query: TraceQuery) -> list[TraceSummary]:
        """The newest traces that match, newest first."""
        conn = self._conn
        key = "traces" if query.step is None else f"steptraces:{query.step}"
        top = "+inf" if query.before is None else f"({query.before!r}"
        async with conn.guard():
            ids: Any = await conn.redis.zrevrangebyscore(
                PREFIX + key, top, "-inf", start=0, num=query.limit
            )
        return await self._summaries(ids)

    async def trace(self, trace_id: str) -> Trace | None:
        """The trace's summary, spans (by start) and logs (by time)."""
        conn = self._conn
        async with conn.guard():
            spans_raw: Any = await conn.redis.hvals(f"{PREFIX}tspans:{trace_id}")
            members: Any = await conn.redis.lrange(f"{PREFIX}tlogs:{trace_id}", 0, -1)
        spans = sorted((_span_decoder.decode(s) for s in spans_raw), key=lambda s: s.started_at)
        logs = [r for _, r in sorted((_log(m) for m in members), key=lambda x: (x[1].time, x[0]))]
        found = await self._summaries([trace_id.encode()])
        return assemble_trace(trace_id, found[0] if found else None, spans, logs)

    async def logs(self, query: LogQuery) -> list[LogRecord]:
        """The newest records that match every filter given, oldest first: read
        back from the newest a page at a time until enough matched."""
        conn = self._conn
        levels = LEVELS if query.level is None else LEVELS[LEVELS.index(query.level) :]
        text = None if not query.text else query.text.lower()
        found: list[LogRecord] = []
        offset = 0
        while len(found) < query.limit:
            async with conn.guard():
                page: Any = await conn.redis.zrevrange(
                    PREFIX + "logs", offset, offset + LOG_PAGE - 1
                )
            if not page:
                break
            offset += len(page)
            for member in page:
                _, record = _log(member)
                if (
                    (query.step is None or record.step == query.step)
                    and record.level in levels
                    and (query.trace_id is None or record.trace_id == query.trace_id)
                    and (text is None or text in record.message.lower())
                    and (query.before is None or record.time < query.before)
                ):
                    found.append(record)
                    if len(found) == query.limit:
                        break
        return found[::-1]
