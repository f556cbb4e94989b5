"""OpenTelemetry export over OTLP/HTTP (README "Production"): a span per HTTP
request, per invocation and per emit, and the log records, sent in batches to
a collector by a background task.

Turned on by ``[telemetry] otlp_endpoint`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter reads the other ``OTEL_*``
variables itself: headers, timeout, compression, certificates). The
OpenTelemetry packages (the ``otel`` extra) are imported only then.

The hot path only appends a record to a bounded buffer; turning records into
OpenTelemetry objects and sending them happens in a worker thread. When the
collector is down or slow, records are dropped, counted, and said once per
outage in the log."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskStatus

from .config import Settings
from .signals import EmitSpan, RequestSpan
from .trace_context import span_id_of
from .tracing import LogBus, LogRecord, Span

if TYPE_CHECKING:  # the otel extra: imported at run time only when configured
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.trace import ReadableSpan

BUFFER_LIMIT = 20_000
"""Records held per signal while the collector is away (about 1 KiB each): a
few seconds of a busy broker; beyond it the newest are dropped and counted."""
BATCH_SIZE = 512
"""Records per request: the OpenTelemetry SDK's default batch."""
FLUSH_INTERVAL_S = 1.0
"""How long a record may wait for a batch to fill (the SDK waits 5 s; a
second keeps traces fresh in a viewer at little cost)."""
EXPORT_TIMEOUT_S = 5.0
"""A request to the collector (with the exporter's own retries) gives up after this."""
SHUTDOWN_FLUSH_S = 5.0
"""At shutdown, how long the last batches may take to leave."""

Record = Span | RequestSpan | EmitSpan
Dropped = Callable[[str, int], None]
"""Told ``(signal, count)`` for records that were dropped (``spans``, ``logs``)."""


def otlp_endpoint(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """Where telemetry goes: the setting, else ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (or a per-signal ``..._TRACES_ENDPOINT``); ``None``: no export.
    ``OTEL_SDK_DISABLED=true`` turns it off, as in every OpenTelemetry SDK."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if settings.telemetry.otlp_endpoint:
        return settings.telemetry.otlp_endpoint
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        if env.get(name):
            return env[name]
    return None


class OtlpExport:
    """Buffers spans and log records (subscribe its ``on_*`` sinks) and sends
    them from :meth:`serve`."""

    def __init__(
        self, settings: Settings, logs: LogBus, dropped: Dropped, environ: Mapping[str, str]
    ) -> None:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource

        self.logs = logs
        self.dropped = dropped
        self.where = otlp_endpoint(settings, environ) or ""
        explicit = settings.telemetry.otlp_endpoint
        base = explicit.rstrip("/") if explicit else None
        # set in motiad.toml: the full paths of OTLP/HTTP; from the environment:
        # the exporter reads it (and the per-signal variables) as the spec says
        self._span_exporter = OTLPSpanExporter(
            endpoint=f"{base}/v1/traces" if base else None, timeout=EXPORT_TIMEOUT_S
        )
        self._log_exporter = OTLPLogExporter(
            endpoint=f"{base}/v1/logs" if base else None, timeout=EXPORT_TIMEOUT_S
        )
        service = settings.telemetry.service_name or environ.get("OTEL_SERVICE_NAME") or "motiad"
        self._resource = Resource.create({"service.name": service})
        self._spans: deque[Record] = deque()
        self._records: deque[LogRecord] = deque()
        self._full = anyio.Event()
        self._failing = False

    # --- sinks (the hot path: append, never wait) ----------------------------

    def on_span(self, record: Record) -> None:
        """A finished invocation, HTTP request or emit."""
        self._keep(self._spans, record, "spans")

    def on_log(self, record: LogRecord) -> None:
        """A log record."""
        self._keep(self._records, record, "logs")

    def _keep(self, buffer: deque[Any], record: Any, signal: str) -> None:
        if len(buffer) >= BUFFER_LIMIT:
            self.dropped(signal, 1)
            return
        buffer.append(record)
        if len(buffer) >= BATCH_SIZE:
            self._full.set()

    # --- the sender ---------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send batches until cancelled; then send what is left (bounded)."""
        task_status.started()
        try:
            while True:
                with anyio.move_on_after(FLUSH_INTERVAL_S):
                    await self._full.wait()
                self._full = anyio.Event()
                await self._send_all()
        finally:
            with anyio.move_on_after(SHUTDOWN_FLUSH_S, shield=True):
                await self._send_all()
            self._span_exporter.shutdown()  # type: ignore[no-untyped-call]
            self._log_exporter.shutdown()  # type: ignore[no-untyped-call]

    async def _send_all(self) -> None:
        while self._spans or self._records:
            spans = _take(self._spans, BATCH_SIZE)
            records = _take(self._records, BATCH_SIZE)
            ok = await anyio.to_thread.run_sync(
                self._export, spans, records, abandon_on_cancel=True
            )
            if not ok:
                self.dropped("spans", len(spans))
                self.dropped("logs", len(records))
                if not self._failing:
                    self._failing = True
                    self.logs.log(
                        "warn",
                        f"telemetry: the OTLP collector at {self.where} did not take a batch;"
                        " spans and logs are dropped until it does"
                        " (motiad_telemetry_dropped_total counts them)",
                    )
                return  # the rest waits for the next round, or is dropped then
            if self._failing:
                self._failing = False
                self.logs.log(
                    "info", f"telemetry: the OTLP collector at {self.where} takes batches again"
                )

    def _export(self, spans: Sequence[Record], records: Sequence[LogRecord]) -> bool:
        """Convert and send one batch of each (in a worker thread); True when
        the collector took both."""
        from opentelemetry.sdk._logs.export import LogRecordExportResult
        from opentelemetry.sdk.trace.export import SpanExportResult

        ok = True
        if spans:
            converted = [self._otel_span(record) for record in spans]
            ok = self._span_exporter.export(converted) == SpanExportResult.SUCCESS
        if records and ok:
            logs = [self._otel_log(record) for record in records]
            ok = self._log_exporter.export(logs) == LogRecordExportResult.SUCCESS
        return ok

    # --- conversions --------------------------------------------------------

    def _otel_span(self, record: Record) -> ReadableSpan:
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
        from opentelemetry.trace.span import TraceState

        def context(
            trace_id: str, span_id: str, *, remote: bool = False, state: str | None = None
        ) -> SpanContext:
            return SpanContext(
                int(trace_id, 16),
                int(span_id, 16),
                remote,
                TraceFlags(TraceFlags.SAMPLED),
                TraceState.from_header([state]) if state else None,
            )

        status = Status(StatusCode.UNSET)
        events: list[Event] = []
        if isinstance(record, RequestSpan):
            name = f"{record.method} {record.route}" if record.route else record.method
            attributes: dict[str, Any] = {
                "http.request.method": record.method,
                "http.response.status_code": record.status,
            }
            if record.route:
                attributes["http.route"] = record.route
                attributes["motiad.step"] = record.step
            if record.status >= 500:
                status = Status(StatusCode.ERROR)
            parent = record.parent_id
            return ReadableSpan(
                name,
                # the caller's tracestate travels on with its trace
                context(record.trace_id, record.span_id, state=record.tracestate),
                context(record.trace_id, parent, remote=True, state=record.tracestate)
                if parent
                else None,
                self._resource,
                attributes,
                kind=SpanKind.SERVER,
                start_time=_nanos(record.started_at),
                end_time=_nanos(record.ended_at),
            )
        if isinstance(record, EmitSpan):
            attributes = {
                "messaging.destination.name": record.topic,
                "messaging.message.id": record.event_id,
                "motiad.topic": record.topic,
            }
            if record.step:
                attributes["motiad.step"] = record.step
            inside = record.invocation_id
            return ReadableSpan(
                f"emit {record.topic}",
                context(record.trace_id, span_id_of(record.event_id)),
                context(record.trace_id, span_id_of(inside)) if inside else None,
                self._resource,
                attributes,
                kind=SpanKind.PRODUCER,
                start_time=_nanos(record.at),
                end_time=_nanos(record.at),
            )
        attributes = {
            "motiad.step": record.step,
            "motiad.trigger": record.trigger,
            "motiad.attempt": record.attempt,
            "motiad.outcome": record.outcome,
            "motiad.invocation_id": record.id,
        }
        if record.trigger == "event":
            attributes["motiad.topic"] = record.detail
        if record.error is not None:
            status = Status(StatusCode.ERROR, record.error.message)
            error = {
                "exception.type": record.error.type,
                "exception.message": record.error.message,
            }
            if record.error.stack:
                error["exception.stacktrace"] = record.error.stack
            events.append(Event("exception", error, _nanos(record.ended_at)))
        kind = SpanKind.CONSUMER if record.trigger == "event" else SpanKind.INTERNAL
        return ReadableSpan(
            f"{record.trigger} {record.step}",
            context(record.trace_id, span_id_of(record.id)),
            context(record.trace_id, record.parent_id) if record.parent_id else None,
            self._resource,
            attributes,
            events,
            kind=kind,
            status=status,
            start_time=_nanos(record.started_at),
            end_time=_nanos(record.ended_at),
        )

    def _otel_log(self, record: LogRecord) -> ReadableLogRecord:
        from opentelemetry._logs import LogRecord as OtelLogRecord
        from opentelemetry._logs import SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.trace import TraceFlags

        severity = {
            "debug": SeverityNumber.DEBUG,
            "info": SeverityNumber.INFO,
            "warn": SeverityNumber.WARN,
            "error": SeverityNumber.ERROR,
        }[record.level]
        attributes: dict[str, Any] = {}
        if record.step:
            attributes["motiad.step"] = record.step
        for key, value in (record.fields or {}).items():
            attributes[key] = value if isinstance(value, str | int | float | bool) else _text(value)
        traced = record.trace_id is not None and len(record.trace_id) == 32
        spanned = traced and record.invocation_id is not None
        return ReadableLogRecord(
            OtelLogRecord(
                timestamp=_nanos(record.time),
                trace_id=int(record.trace_id, 16) if traced and record.trace_id else None,
                span_id=int(span_id_of(record.invocation_id), 16)
                if spanned and record.invocation_id
                else None,
                trace_flags=TraceFlags(TraceFlags.SAMPLED) if traced else None,
                severity_text=record.level.upper(),
                severity_number=severity,
                body=record.message,
                attributes=attributes,
            ),
            self._resource,
        )


def _take(buffer: deque[Any], count: int) -> list[Any]:
    return [buffer.popleft() for _ in range(min(count, len(buffer)))]


def _nanos(seconds: float) -> int:
    return int(seconds * 1e9)


def _text(value: Any) -> str:
    """A field OTLP attributes cannot hold (a list of mixed values, an object) as JSON."""
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return str(value)
