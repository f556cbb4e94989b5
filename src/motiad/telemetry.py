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

import gzip
import http.client
import json
import os
import ssl
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import anyio
from anyio.abc import TaskStatus

from .config import Settings
from .signals import EmitSpan, RequestSpan
from .trace_context import span_id_of
from .tracing import LogBus, LogRecord, Span

if TYPE_CHECKING:  # the otel extra: imported at run time only when configured
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

BUFFER_LIMIT = 20_000
"""Records held per signal while the collector is away (about 1 KiB each): a
few seconds of a busy broker; beyond it the newest are dropped and counted."""
BATCH_SIZE = 512
"""Records per request: the OpenTelemetry SDK's default batch."""
FLUSH_INTERVAL_S = 1.0
"""How long a record may wait for a batch to fill (the SDK waits 5 s; a
second keeps traces fresh in a viewer at little cost)."""
EXPORT_TIMEOUT_S = 5.0
"""A request to the collector gives up after this (``OTEL_EXPORTER_OTLP_TIMEOUT``,
in milliseconds, overrides it); its batch is dropped and counted."""
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


def signal_url(settings: Settings, environ: Mapping[str, str], signal: str) -> str:
    """The OTLP/HTTP URL of ``signal`` (``traces``, ``logs``), as the
    OpenTelemetry spec resolves it: a per-signal variable as given, else the
    base (the setting, else ``OTEL_EXPORTER_OTLP_ENDPOINT``) + ``/v1/SIGNAL``."""
    explicit = settings.telemetry.otlp_endpoint
    if not explicit:
        own = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        if own:
            return own
    base = explicit or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return f"{base.rstrip('/')}/v1/{signal}"


def sample_ratio(settings: Settings, environ: Mapping[str, str]) -> float:
    """The share of traces exported: ``[telemetry] sample_ratio``, else
    ``OTEL_TRACES_SAMPLER_ARG`` with a ratio sampler, else all."""
    if settings.telemetry.sample_ratio is not None:
        return settings.telemetry.sample_ratio
    sampler = environ.get("OTEL_TRACES_SAMPLER", "")
    if sampler in ("traceidratio", "parentbased_traceidratio"):
        try:
            return min(1.0, max(0.0, float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))))
        except ValueError:
            return 1.0
    return 0.0 if sampler in ("always_off", "parentbased_always_off") else 1.0


def _headers(environ: Mapping[str, str]) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS``: ``key=value`` pairs, comma-separated, URL-encoded."""
    found: dict[str, str] = {}
    for pair in environ.get("OTEL_EXPORTER_OTLP_HEADERS", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() and value:
            found[unquote(key.strip()).lower()] = unquote(value.strip())
    return found


class OtlpExport:
    """Buffers spans and log records (subscribe its ``on_*`` sinks) and sends
    them from :meth:`serve`, encoded with the OpenTelemetry protobuf
    definitions (``opentelemetry-proto``), over OTLP/HTTP."""

    def __init__(
        self, settings: Settings, logs: LogBus, dropped: Dropped, environ: Mapping[str, str]
    ) -> None:
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2

        self.logs = logs
        self.dropped = dropped
        self.where = otlp_endpoint(settings, environ) or ""
        self._urls = {s: signal_url(settings, environ, s) for s in ("traces", "logs")}
        timeout_ms = environ.get("OTEL_EXPORTER_OTLP_TIMEOUT", "")
        self._timeout_s = int(timeout_ms) / 1000 if timeout_ms.isdigit() else EXPORT_TIMEOUT_S
        self._gzip = environ.get("OTEL_EXPORTER_OTLP_COMPRESSION", "") == "gzip"
        self._tls = ssl.create_default_context(
            cafile=environ.get("OTEL_EXPORTER_OTLP_CERTIFICATE") or None
        )
        self._request_headers = {
            **_headers(environ),
            "content-type": "application/x-protobuf",
            **({"content-encoding": "gzip"} if self._gzip else {}),
        }
        service = settings.telemetry.service_name or environ.get("OTEL_SERVICE_NAME") or "motiad"
        self._resource = resource_pb2.Resource(
            attributes=[
                common_pb2.KeyValue(
                    key="service.name", value=common_pb2.AnyValue(string_value=service)
                )
            ]
        )
        self._scope = common_pb2.InstrumentationScope(name="motiad")
        # traces whose id's random end falls below this are exported (W3C ids:
        # the low 64 bits of motiad's trace ids are random, a caller's too)
        self._sampled_below = int(sample_ratio(settings, environ) * 2**64)
        self._spans: deque[Record] = deque()
        self._records: deque[LogRecord] = deque()
        self._full = anyio.Event()
        self._failing = False
        self._connections: dict[str, http.client.HTTPConnection] = {}
        self._unencodable = {"spans": 0, "logs": 0}
        """Records left out of a batch (counted by the worker thread, reported on the loop)."""

    # --- sinks (the hot path: append, never wait) ----------------------------

    def on_span(self, record: Record) -> None:
        """A finished invocation, HTTP request or emit (of a sampled trace)."""
        try:
            sampled = int(record.trace_id[-16:], 16) < self._sampled_below
        except ValueError:  # not a W3C id (a record older than them): sent as is
            sampled = True
        if sampled:
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
            for connection in self._connections.values():
                connection.close()

    async def _send_all(self) -> None:
        while self._spans or self._records:
            spans = _take(self._spans, BATCH_SIZE)
            records = _take(self._records, BATCH_SIZE)
            ok = await anyio.to_thread.run_sync(
                self._export, spans, records, abandon_on_cancel=True
            )
            left_out, self._unencodable = self._unencodable, {"spans": 0, "logs": 0}
            for signal, count in left_out.items():
                self.dropped(signal, count)
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
        """Encode and send one batch of each (in a worker thread); True when
        the collector took both."""
        ok = True
        if spans:
            ok = self._post("traces", self._traces(spans).SerializeToString())
        if records and ok:
            ok = self._post("logs", self._logs(records).SerializeToString())
        return ok

    def _post(self, signal: str, body: bytes) -> bool:
        """POST ``body`` to the signal's URL on a kept-alive connection; a
        failure closes it (the next batch opens a new one)."""
        url = urlsplit(self._urls[signal])
        connection = self._connections.get(signal)
        if connection is None:
            if url.scheme == "https":
                connection = http.client.HTTPSConnection(
                    url.netloc, timeout=self._timeout_s, context=self._tls
                )
            else:
                connection = http.client.HTTPConnection(url.netloc, timeout=self._timeout_s)
            self._connections[signal] = connection
        payload = gzip.compress(body) if self._gzip else body
        try:
            connection.request("POST", url.path or "/", payload, self._request_headers)
            answer = connection.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            del self._connections[signal]
            return False
        return 200 <= answer.status < 300

    # --- encoding -----------------------------------------------------------

    def _traces(self, records: Sequence[Record]) -> ExportTraceServiceRequest:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.CopyFrom(self._resource)
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.CopyFrom(self._scope)
        spans = scope_spans.spans
        for record in records:
            try:
                _fill_span(spans.add(), record)
            except ValueError:  # an id that is not hex: the one record is left out
                del spans[-1]
                self._unencodable["spans"] += 1
        return request

    def _logs(self, records: Sequence[LogRecord]) -> ExportLogsServiceRequest:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )

        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.CopyFrom(self._resource)
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.CopyFrom(self._scope)
        logs = scope_logs.log_records
        for record in records:
            try:
                _fill_log(logs.add(), record)
            except ValueError:  # an id that is not hex: the one record is left out
                del logs[-1]
                self._unencodable["logs"] += 1
        return request


# OTLP enum values (opentelemetry/proto/trace/v1/trace.proto, logs.proto)
# (Any: the stubs type them as the enums' own classes, imported only when configured)
_INTERNAL: Any = 1
_SERVER: Any = 2
_PRODUCER: Any = 4
_CONSUMER: Any = 5
_STATUS_ERROR: Any = 2
_SAMPLED = 1
_SEVERITY: dict[str, Any] = {"debug": 5, "info": 9, "warn": 13, "error": 17}


def _fill_span(span: OtlpSpan, record: Record) -> None:
    """``span`` (a fresh protobuf Span) made from a motiad record."""
    span.trace_id = bytes.fromhex(record.trace_id)
    span.flags = _SAMPLED
    attributes = span.attributes
    if isinstance(record, RequestSpan):
        span.span_id = bytes.fromhex(record.span_id)
        if record.parent_id:
            span.parent_span_id = bytes.fromhex(record.parent_id)
        if record.tracestate:  # the caller's, travelling on with its trace
            span.trace_state = record.tracestate
        span.name = f"{record.method} {record.route}" if record.route else record.method
        span.kind = _SERVER
        span.start_time_unix_nano = _nanos(record.started_at)
        span.end_time_unix_nano = _nanos(record.ended_at)
        _text(attributes, "http.request.method", record.method)
        _number(attributes, "http.response.status_code", record.status)
        if record.route:
            _text(attributes, "http.route", record.route)
            _text(attributes, "motiad.step", record.step)
        if record.status >= 500:
            span.status.code = _STATUS_ERROR
        return
    if isinstance(record, EmitSpan):
        span.span_id = bytes.fromhex(span_id_of(record.event_id))
        if record.invocation_id:
            span.parent_span_id = bytes.fromhex(span_id_of(record.invocation_id))
        span.name = f"emit {record.topic}"
        span.kind = _PRODUCER
        span.start_time_unix_nano = span.end_time_unix_nano = _nanos(record.at)
        _text(attributes, "messaging.destination.name", record.topic)
        _text(attributes, "messaging.message.id", record.event_id)
        _text(attributes, "motiad.topic", record.topic)
        if record.step:
            _text(attributes, "motiad.step", record.step)
        return
    span.span_id = bytes.fromhex(span_id_of(record.id))
    if record.parent_id:
        span.parent_span_id = bytes.fromhex(record.parent_id)
    span.name = f"{record.trigger} {record.step}"
    span.kind = _CONSUMER if record.trigger == "event" else _INTERNAL
    span.start_time_unix_nano = _nanos(record.started_at)
    span.end_time_unix_nano = _nanos(record.ended_at)
    _text(attributes, "motiad.step", record.step)
    _text(attributes, "motiad.trigger", record.trigger)
    _number(attributes, "motiad.attempt", record.attempt)
    _text(attributes, "motiad.outcome", record.outcome)
    _text(attributes, "motiad.invocation_id", record.id)
    if record.trigger == "event":
        _text(attributes, "motiad.topic", record.detail)
    if record.error is not None:
        span.status.code = _STATUS_ERROR
        span.status.message = record.error.message
        event = span.events.add()
        event.name = "exception"
        event.time_unix_nano = span.end_time_unix_nano
        _text(event.attributes, "exception.type", record.error.type)
        _text(event.attributes, "exception.message", record.error.message)
        if record.error.stack:
            _text(event.attributes, "exception.stacktrace", record.error.stack)


def _fill_log(log: OtlpLogRecord, record: LogRecord) -> None:
    """``log`` (a fresh protobuf LogRecord) made from a motiad log record."""
    log.time_unix_nano = _nanos(record.time)
    log.severity_number = _SEVERITY[record.level]
    log.severity_text = record.level.upper()
    log.body.string_value = record.message
    if record.trace_id is not None and len(record.trace_id) == 32:
        log.trace_id = bytes.fromhex(record.trace_id)
        log.flags = _SAMPLED
        if record.invocation_id is not None:
            log.span_id = bytes.fromhex(span_id_of(record.invocation_id))
    if record.step:
        _text(log.attributes, "motiad.step", record.step)
    for key, value in (record.fields or {}).items():
        if isinstance(value, bool):
            attribute = log.attributes.add()
            attribute.key = key
            attribute.value.bool_value = value
        elif isinstance(value, int | float):
            _number(log.attributes, key, value)
        else:
            _text(log.attributes, key, value if isinstance(value, str) else _json(value))


def _text(attributes: Any, key: str, value: str) -> None:
    attribute: KeyValue = attributes.add()
    attribute.key = key
    attribute.value.string_value = value


def _number(attributes: Any, key: str, value: float) -> None:
    attribute: KeyValue = attributes.add()
    attribute.key = key
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        attribute.value.int_value = value
    else:
        attribute.value.double_value = float(value)


def _take(buffer: deque[Any], count: int) -> list[Any]:
    return [buffer.popleft() for _ in range(min(count, len(buffer)))]


def _nanos(seconds: float) -> int:
    return int(seconds * 1e9)


def _json(value: Any) -> str:
    """A field OTLP attributes cannot hold as such (a list, an object), as JSON."""
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return str(value)
