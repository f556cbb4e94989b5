"""OpenTelemetry export over OTLP/HTTP (README "Production"): a span per HTTP
request, per invocation and per emit, and the log records, sent in batches to
a collector by a background task.

Turned on by ``[telemetry] otlp_endpoint`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``; the other standard ``OTEL_*`` variables
apply (headers, timeout, compression, certificate, service name, sampling).
The OpenTelemetry protobuf definitions (the ``otel`` extra) are imported only
then, by :mod:`.otlp_encoding`.

The hot path only appends a record to a bounded buffer; encoding records
(:class:`~.otlp_encoding.OtlpEncoder`) and sending them happens in a worker
thread. When the collector is down or slow, records are dropped, counted, and
said once per outage in the log."""

from __future__ import annotations

import gzip
import http.client
import os
import ssl
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import anyio
from anyio.abc import TaskStatus

from .config import Settings
from .otlp_encoding import OtlpEncoder, Record
from .tracing import LogBus, LogRecord

if TYPE_CHECKING:  # the otel extra: imported at run time only when configured
    pass

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

ALL_SAMPLED = 2**64
"""``_sampled_below`` when every trace is sampled (no id's random end reaches it)."""
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
        self._encoder = OtlpEncoder(service)
        # traces whose id's random end falls below this are exported (W3C ids:
        # the low 64 bits of motiad's trace ids are random, a caller's too)
        self._sampled_below = int(sample_ratio(settings, environ) * 2**64)
        self._spans: deque[Record] = deque()
        self._records: deque[LogRecord] = deque()
        self._full = anyio.Event()
        self._failing = False
        self._connections: dict[str, http.client.HTTPConnection] = {}

    # --- sinks (the hot path: append, never wait) ----------------------------

    def on_span(self, record: Record) -> None:
        """A finished invocation, HTTP request or emit (of a sampled trace).
        The record itself is kept (the broker made it anyway): nothing of
        OpenTelemetry is built until the sender encodes a batch."""
        if self._sampled_below < ALL_SAMPLED:
            try:
                if int(record.trace_id[-16:], 16) >= self._sampled_below:
                    return
            except ValueError:  # not a W3C id (a record older than them): sent as is
                pass
        self._keep(self._spans, record, "spans")

    def on_log(self, record: LogRecord) -> None:
        """A log record."""
        self._keep(self._records, record, "logs")

    def _keep(self, buffer: deque[Any], record: Any, signal: str) -> None:
        held = len(buffer)
        if held >= BUFFER_LIMIT:
            self.dropped(signal, 1)
            return
        buffer.append(record)
        if held == BATCH_SIZE - 1:  # a batch is full (the sender takes all it finds)
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
            for signal, count in self._encoder.take_unencodable().items():
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
            ok = self._post("traces", self._encoder.traces(spans))
        if records and ok:
            ok = self._post("logs", self._encoder.logs(records))
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


def _take(buffer: deque[Any], count: int) -> list[Any]:
    if len(buffer) <= count:  # the usual case: all of it, copied at C speed
        taken = list(buffer)
        buffer.clear()
        return taken
    return [buffer.popleft() for _ in range(count)]
