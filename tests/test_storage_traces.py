"""The trace store: spans and logs recorded without a wait, read back by
trace, step, level and text, kept within the retention bounds; and the state
listings the workbench needs. Written against the TraceStore and StateStore
Protocols, so another backend can run the same tests."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from motiad.config import TraceRetention
from motiad.protocol.messages import ErrorInfo
from motiad.records import Level, LogRecord, Span
from motiad.storage import LogQuery, TraceQuery

from .conftest import Opener

pytestmark = pytest.mark.anyio
_ids = itertools.count()


def span(
    trace: str,
    step: str,
    start: float,
    *,
    error: bool = False,
    attempt: int = 1,
    span_id: str | None = None,
) -> Span:
    return Span(
        span_id or f"s{next(_ids)}",
        trace,
        step,
        "event",
        "message.sent",
        start,
        start + 0.5,
        "error" if error else "ok",
        attempt,
        ErrorInfo("ValueError", "boom", "Traceback ...") if error else None,
    )


def log(
    at: float,
    message: str,
    *,
    level: Level = "info",
    step: str | None = "A",
    trace: str | None = "t1",
    invocation: str | None = None,
    fields: dict[str, object] | None = None,
) -> LogRecord:
    return LogRecord(at, level, message, step, trace, invocation, fields)


async def test_a_trace_reads_back_with_its_spans_and_their_logs(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        store.record_span(span("t1", "Store", 12.0, span_id="s-store", error=True, attempt=2))
        store.record_span(span("t1", "Send", 10.0, span_id="s-send"))
        store.record_log(log(12.2, "stored", step="Store", invocation="s-store", fields={"n": 1}))
        store.record_log(log(10.1, "sent", step="Send", invocation="s-send"))
        store.record_log(log(10.0, "elsewhere", trace="t2"))
        await store.flush_traces()
        trace = await store.trace("t1")
    assert trace is not None
    assert [s.id for s in trace.spans] == ["s-send", "s-store"]
    assert trace.spans[1].attempt == 2
    assert trace.spans[1].error == ErrorInfo("ValueError", "boom", "Traceback ...")
    assert [(r.message, r.invocation_id) for r in trace.logs] == [
        ("sent", "s-send"),
        ("stored", "s-store"),
    ]
    assert trace.logs[1].fields == {"n": 1}
    summary = trace.summary
    assert (summary.step, summary.started_at, summary.ended_at) == ("Send", 10.0, 12.5)
    assert (summary.spans, summary.errors) == (2, 1)
    assert (summary.trigger, summary.detail) == ("event", "message.sent")


async def test_a_span_keeps_its_parent_its_caller_and_what_it_emitted(
    tmp_path: Path, opened: Opener
) -> None:
    # issue #21: a stored trace is a tree (the W3C links the OTLP export sends)
    root = msgspec.structs.replace(
        span("t1", "Place", 1.0, span_id="s-place"),
        parent_id="b" * 16,
        caller_id="c" * 16,
        emitted=["e-1", "e-2"],
    )
    child = msgspec.structs.replace(span("t1", "Price", 2.0), parent_id="e-1"[-16:])
    async with opened(tmp_path / "db") as store:
        store.record_span(root)
        store.record_span(child)
        store.record_span(span("t1", "Cron", 3.0))
        await store.flush_traces()
        trace = await store.trace("t1")
    assert trace is not None
    assert trace.spans == [root, child, trace.spans[2]]
    assert (trace.spans[2].parent_id, trace.spans[2].caller_id, trace.spans[2].emitted) == (
        None,
        None,
        None,
    )


async def test_recorded_spans_are_written_without_a_flush(tmp_path: Path, opened: Opener) -> None:
    async with opened(tmp_path / "db") as store:
        store.record_span(span("t1", "A", 1.0))
        with anyio.fail_after(5):
            # nothing to wait on but the file itself: poll it, bounded by the deadline
            while await store.trace("t1") is None:  # noqa: ASYNC110
                await anyio.sleep(0.02)


async def test_a_span_recorded_twice_counts_once(tmp_path: Path, opened: Opener) -> None:
    async with opened(tmp_path / "db") as store:
        store.record_span(span("t1", "A", 1.0, span_id="same"))
        await store.flush_traces()
        store.record_span(span("t1", "A", 1.0, span_id="same"))
        await store.flush_traces()
        trace = await store.trace("t1")
    assert trace is not None
    assert trace.summary.spans == 1
    assert len(trace.spans) == 1


async def test_summaries_fold_each_flush_into_what_is_stored(
    tmp_path: Path, opened: Opener
) -> None:
    # A flush carries many traces' spans (a burst's hundred events, say), some of
    # them stored before; each trace's summary adds only what is new.
    async with opened(tmp_path / "db") as store:
        store.record_span(span("t1", "Later", 20.0, span_id="known"))
        await store.flush_traces()
        store.record_span(span("t1", "Later", 20.0, span_id="known"))
        for n in range(50):
            store.record_span(span("t1", "Fan", 30.0 + n, error=n % 10 == 0))
            store.record_span(span("t2", "Other", 5.0 + n))
        store.record_span(span("t1", "First", 1.0))
        await store.flush_traces()
        one, two = await store.trace("t1"), await store.trace("t2")
    assert one is not None
    assert two is not None
    assert (one.summary.step, one.summary.started_at, one.summary.ended_at) == ("First", 1.0, 79.5)
    assert (one.summary.spans, one.summary.errors) == (52, 5)
    assert (two.summary.step, two.summary.spans, two.summary.errors) == ("Other", 50, 0)


async def test_a_trace_with_logs_and_no_finished_span_is_shown(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        store.record_log(log(5.0, "cron tick", step="Nightly", trace="t9"))
        await store.flush_traces()
        trace = await store.trace("t9")
        assert await store.trace("unknown") is None
    assert trace is not None
    assert trace.spans == []
    assert (trace.summary.step, trace.summary.spans) == ("Nightly", 0)


async def test_recent_traces_come_newest_first_with_paging_and_a_step_filter(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        for n in range(5):
            store.record_span(span(f"t{n}", "Send", float(n)))
            store.record_span(span(f"t{n}", "Store" if n % 2 else "Other", n + 0.1))
        await store.flush_traces()
        newest = await store.traces(TraceQuery(limit=2))
        older = await store.traces(TraceQuery(limit=10, before=newest[-1].started_at))
        stored = await store.traces(TraceQuery(step="Store"))
    assert [t.trace_id for t in newest] == ["t4", "t3"]
    assert [t.trace_id for t in older] == ["t2", "t1", "t0"]
    assert [t.trace_id for t in stored] == ["t3", "t1"]
    assert all(t.step == "Send" and t.spans == 2 for t in newest)


async def test_logs_are_queried_by_step_level_trace_and_text(
    tmp_path: Path, opened: Opener
) -> None:
    async with opened(tmp_path / "db") as store:
        store.record_log(log(1.0, "Starting", level="debug", step="A", trace="t1"))
        store.record_log(log(2.0, "Stored message", level="info", step="B", trace="t1"))
        store.record_log(log(3.0, "slow STORE", level="warn", step="B", trace="t2"))
        store.record_log(log(4.0, "handler failed", level="error", step=None, trace=None))
        await store.flush_traces()

        async def messages(**query: Any) -> list[str]:
            found = await store.logs(LogQuery(**query))
            return [r.message for r in found]

        assert await messages() == ["Starting", "Stored message", "slow STORE", "handler failed"]
        assert await messages(step="B") == ["Stored message", "slow STORE"]
        assert await messages(level="warn") == ["slow STORE", "handler failed"]
        assert await messages(trace_id="t1") == ["Starting", "Stored message"]
        assert await messages(text="store") == ["Stored message", "slow STORE"]
        assert await messages(step="B", level="info", text="stored") == ["Stored message"]
        assert await messages(limit=2) == ["slow STORE", "handler failed"]
        assert await messages(before=3.0) == ["Starting", "Stored message"]


async def test_only_the_newest_traces_and_logs_are_kept(tmp_path: Path, opened: Opener) -> None:
    retention = TraceRetention(max_traces=3, max_logs=4)
    async with opened(tmp_path / "db", retention) as store:
        for n in range(10):
            store.record_span(span(f"t{n}", "A", float(n)))
            store.record_log(log(n + 0.1, f"log {n}", trace=f"t{n}"))
        store.record_log(log(20.0, "untraced", trace=None))
        await store.flush_traces()
        kept = [t.trace_id for t in await store.traces(TraceQuery())]
        logs = [r.message for r in await store.logs(LogQuery())]
        assert await store.trace("t0") is None
    assert kept == ["t9", "t8", "t7"]
    assert logs == ["log 7", "log 8", "log 9", "untraced"]


async def test_spans_and_logs_survive_a_restart(tmp_path: Path, opened: Opener) -> None:
    async with opened(tmp_path / "db") as store:
        store.record_span(span("t1", "A", 1.0))
        store.record_log(log(1.1, "kept"))
        await store.flush_traces()
    async with opened(tmp_path / "db") as store:
        trace = await store.trace("t1")
    assert trace is not None
    assert [r.message for r in trace.logs] == ["kept"]


async def test_state_groups_and_their_items_are_listed(tmp_path: Path, opened: Opener) -> None:
    async with opened(tmp_path / "db") as store:
        await store.state_set("messages", "b", msgspec.Raw(b'{"text":"b"}'))
        await store.state_set("messages", "a", msgspec.Raw(b'{"text":"a"}'))
        await store.state_set("carts", "x", msgspec.Raw(b"1"))
        groups = await store.state_groups()
        items = await store.state_items("messages")
    assert [(g.group_id, g.keys) for g in groups] == [("carts", 1), ("messages", 2)]
    assert all(g.updated_at > 0 for g in groups)
    assert [(key, bytes(value)) for key, value in items] == [
        ("a", b'{"text":"a"}'),
        ("b", b'{"text":"b"}'),
    ]
