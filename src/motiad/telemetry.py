"""OpenTelemetry export over OTLP/HTTP (README "Production"): a span per HTTP
request, per invocation and per emit, and the log records, sent in batches to
a collector by a background task.

Turned on by ``[telemetry] otlp_endpoint`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``; the other standard ``OTEL_*`` variables
apply (headers, timeout, compression, certificate, service name, sampling).
The OpenTelemetry protobuf definitions (the ``otel`` extra) are imported only
then, by :mod:`.otlp_encoding`.

The hot path only appends a record to a bounded buffer. Batches of them go,
packed with msgspec (a fraction of a microsecond a record), down a pipe to a
sender process (:mod:`.otlp_sender`, a child of the broker), which encodes
them (:class:`~.otlp_encoding.OtlpEncoder`) and sends them. A process, not a
thread: encoding and ``http.client`` are Python, and in a thread they held the
broker's GIL, costing its event loop 10-30 µs an event (encoding and HTTP
alone are 2 µs a span; the rest was the two threads trading the GIL). When
the collector is down or slow, records are dropped, counted, and said once
per outage in the log."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import anyio
import msgspec
from anyio.abc import ByteSendStream, Process, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from .config import Settings
from .otlp_encoding import Record
from .otlp_sender import EXPORT_TIMEOUT_S, REPORT_LIMIT, Batch, Report, SenderConfig
from .signals import EmitSpan, RequestSpan
from .tracing import LogBus, LogRecord, Span

BUFFER_LIMIT = 20_000
"""Records held per signal while the collector is away (about 1 KiB each): a
few seconds of a busy broker; beyond it the newest are dropped and counted."""
BATCH_SIZE = 512
"""Records per request: the OpenTelemetry SDK's default batch."""
FLUSH_INTERVAL_S = 1.0
"""How long a record may wait for a batch to fill (the SDK waits 5 s; a
second keeps traces fresh in a viewer at little cost)."""
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
    them, batch by batch, to the sender process from :meth:`serve`."""

    def __init__(
        self, settings: Settings, logs: LogBus, dropped: Dropped, environ: Mapping[str, str]
    ) -> None:
        self.logs = logs
        self.dropped = dropped
        self.where = otlp_endpoint(settings, environ) or ""
        timeout_ms = environ.get("OTEL_EXPORTER_OTLP_TIMEOUT", "")
        compressed = environ.get("OTEL_EXPORTER_OTLP_COMPRESSION", "") == "gzip"
        self.config = SenderConfig(
            urls={s: signal_url(settings, environ, s) for s in ("traces", "logs")},
            headers={
                **_headers(environ),
                "content-type": "application/x-protobuf",
                **({"content-encoding": "gzip"} if compressed else {}),
            },
            timeout_s=int(timeout_ms) / 1000 if timeout_ms.isdigit() else EXPORT_TIMEOUT_S,
            gzip=compressed,
            cafile=environ.get("OTEL_EXPORTER_OTLP_CERTIFICATE") or None,
            service=settings.telemetry.service_name or environ.get("OTEL_SERVICE_NAME") or "motiad",
        )
        # traces whose id's random end falls below this are exported (W3C ids:
        # the low 64 bits of motiad's trace ids are random, a caller's too)
        self._sampled_below = int(sample_ratio(settings, environ) * 2**64)
        self._spans: deque[Record] = deque()
        self._records: deque[LogRecord] = deque()
        self._full = anyio.Event()
        self._failing = False
        self._packer = msgspec.msgpack.Encoder(enc_hook=str)

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

    # --- the feed to the sender process -------------------------------------

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the sender process and feed it batches until cancelled; then
        send what is left (bounded). A sender that dies is started again (its
        batches in flight are lost, and counted)."""
        started = False
        while True:
            process = await anyio.open_process(
                [sys.executable, "-m", "motiad.otlp_sender", msgspec.json.encode(self.config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # not the broker's stderr: a sender outliving a killed broker
                # (until its stdin ends) would hold that pipe open
                stderr=subprocess.PIPE,
            )
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._read_reports, process, tg.cancel_scope)
                    tg.start_soon(self._forward_errors, process)
                    if not started:
                        started = True
                        task_status.started()
                    await self._feed(process.stdin)
            finally:
                with anyio.move_on_after(SHUTDOWN_FLUSH_S, shield=True):
                    await self._send_all(process.stdin)
                    await process.stdin.aclose()
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    with anyio.CancelScope(shield=True):
                        await process.wait()
            self.logs.log(
                "error",
                f"telemetry: the OTLP sender process exited ({process.returncode});"
                " starting it again",
            )
            await anyio.sleep(FLUSH_INTERVAL_S)

    async def _feed(self, stdin: ByteSendStream) -> None:
        while True:
            with anyio.move_on_after(FLUSH_INTERVAL_S):
                await self._full.wait()
            self._full = anyio.Event()
            if not await self._send_all(stdin):
                return

    async def _send_all(self, stdin: ByteSendStream) -> bool:
        """Pack what is buffered and write it down the pipe; a full pipe (the
        sender waits on a slow collector) holds the records here, in the
        bounded buffers, until it drains. False: the sender is gone (the batch
        is dropped and counted)."""
        while self._spans or self._records:
            spans = _take(self._spans, BATCH_SIZE)
            records = _take(self._records, BATCH_SIZE)
            batch = Batch(
                [s for s in spans if type(s) is Span],
                [s for s in spans if type(s) is RequestSpan],
                [s for s in spans if type(s) is EmitSpan],
                records,
            )
            packed = self._packer.encode(batch)
            try:
                await stdin.send(len(packed).to_bytes(4, "little") + packed)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.dropped("spans", len(spans))
                self.dropped("logs", len(records))
                return False
        return True

    async def _read_reports(self, process: Process, scope: anyio.CancelScope) -> None:
        """Count what the sender dropped; say when the collector stops and
        starts taking batches. The sender's end ends the feed (it is restarted)."""
        assert process.stdout is not None
        lines = BufferedByteReceiveStream(process.stdout)
        decode = msgspec.json.Decoder(Report).decode
        try:
            while True:
                report = decode(await lines.receive_until(b"\n", REPORT_LIMIT))
                self.dropped("spans", report.spans)
                self.dropped("logs", report.logs)
                self._on_report(report.ok)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            scope.cancel()

    async def _forward_errors(self, process: Process) -> None:
        """What the sender writes on stderr (a traceback, if it crashes), logged."""
        assert process.stderr is not None
        lines = BufferedByteReceiveStream(process.stderr)
        try:
            while True:
                try:
                    line = await lines.receive_until(b"\n", REPORT_LIMIT)
                except anyio.DelimiterNotFound:  # a long line: logged in pieces
                    line = await lines.receive(REPORT_LIMIT)
                self.logs.log("error", f"telemetry sender: {line.decode(errors='replace')}")
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            pass

    def _on_report(self, ok: bool) -> None:
        if not ok and not self._failing:
            self._failing = True
            self.logs.log(
                "warn",
                f"telemetry: the OTLP collector at {self.where} did not take a batch;"
                " spans and logs are dropped until it does"
                " (motiad_telemetry_dropped_total counts them)",
            )
        elif ok and self._failing:
            self._failing = False
            self.logs.log(
                "info", f"telemetry: the OTLP collector at {self.where} takes batches again"
            )


def _take(buffer: deque[Any], count: int) -> list[Any]:
    if len(buffer) <= count:  # the usual case: all of it, copied at C speed
        taken = list(buffer)
        buffer.clear()
        return taken
    return [buffer.popleft() for _ in range(count)]
