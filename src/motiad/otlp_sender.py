"""The OTLP sender process (``python -m motiad.otlp_sender``, started by
:class:`~.telemetry.OtlpExport`): it reads batches of records from its stdin,
encodes them with the OpenTelemetry protobuf definitions
(:class:`~.otlp_encoding.OtlpEncoder`), POSTs them to the collector and answers
one :class:`Report` line per batch on its stdout. Off the broker's process, its
Python (encoding, ``http.client``) holds no GIL the broker's event loop needs.

The pipe's messages are defined here; the broker imports them, and only them:
the HTTP client is imported in the sender alone."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, BinaryIO, TextIO
from urllib.parse import urlsplit

import msgspec

from .otlp_encoding import OtlpEncoder, Record
from .signals import EmitSpan, RequestSpan
from .tracing import LogRecord, Span

if TYPE_CHECKING:
    import http.client

EXPORT_TIMEOUT_S = 5.0
"""A request to the collector gives up after this (``OTEL_EXPORTER_OTLP_TIMEOUT``,
in milliseconds, overrides it); its batch is dropped and counted."""
REPORT_LIMIT = 4096
"""Longest line the sender process writes back (a report is ~60 bytes)."""


class Batch(msgspec.Struct, array_like=True):
    """What the broker sends the sender process: one batch of records, by kind
    (msgspec packs each kind as itself; a union of them it could not)."""

    spans: list[Span]
    requests: list[RequestSpan]
    emits: list[EmitSpan]
    logs: list[LogRecord]


class Report(msgspec.Struct):
    """What the sender process answers per batch, a JSON line: whether the
    collector took it, and the records it did not send (all of them when it
    was not taken; else those it could not encode)."""

    ok: bool
    spans: int = 0
    logs: int = 0


class SenderConfig(msgspec.Struct):
    """The sender process's settings (its one argument, as JSON)."""

    urls: dict[str, str]
    headers: dict[str, str]
    timeout_s: float
    gzip: bool
    cafile: str | None
    service: str


class Sender:
    """Encodes batches and POSTs them to the collector (in the sender process)."""

    def __init__(self, config: SenderConfig) -> None:
        import ssl  # the sender's alone (see the module's docstring)

        self.config = config
        self._encoder = OtlpEncoder(config.service)
        self._tls = ssl.create_default_context(cafile=config.cafile)
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def export(self, batch: Batch) -> Report:
        """Encode and send one batch of each signal."""
        spans: list[Record] = [*batch.spans, *batch.requests, *batch.emits]
        ok = True
        if spans:
            ok = self._post("traces", self._encoder.traces(spans))
        if batch.logs and ok:
            ok = self._post("logs", self._encoder.logs(batch.logs))
        if not ok:
            self._encoder.take_unencodable()
            return Report(False, len(spans), len(batch.logs))
        left_out = self._encoder.take_unencodable()
        return Report(True, left_out["spans"], left_out["logs"])

    def _post(self, signal: str, body: bytes) -> bool:
        """POST ``body`` to the signal's URL on a kept-alive connection; a
        failure closes it (the next batch opens a new one)."""
        import gzip
        import http.client

        url = urlsplit(self.config.urls[signal])
        connection = self._connections.get(signal)
        if connection is None:
            timeout = self.config.timeout_s
            if url.scheme == "https":
                connection = http.client.HTTPSConnection(
                    url.netloc, timeout=timeout, context=self._tls
                )
            else:
                connection = http.client.HTTPConnection(url.netloc, timeout=timeout)
            self._connections[signal] = connection
        payload = gzip.compress(body) if self.config.gzip else body
        try:
            connection.request("POST", url.path or "/", payload, self.config.headers)
            answer = connection.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            del self._connections[signal]
            return False
        return 200 <= answer.status < 300


def run_sender(config: SenderConfig, batches: BinaryIO, reports: TextIO) -> None:
    """Read length-prefixed batches until the end of ``batches``; answer a
    :class:`Report` line for each."""
    sender = Sender(config)
    unpack = msgspec.msgpack.Decoder(Batch).decode
    encode = msgspec.json.encode
    while True:
        head = batches.read(4)
        if len(head) < 4:
            return
        report = sender.export(unpack(batches.read(int.from_bytes(head, "little"))))
        reports.write(encode(report).decode() + "\n")
        reports.flush()


if __name__ == "__main__":
    # Ctrl-C in a terminal, or a service manager, signals the whole process
    # group: the sender stops when the broker closes its stdin, after the last
    # batch (or at once when the broker is killed and the pipe ends)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    run_sender(msgspec.json.decode(sys.argv[1], type=SenderConfig), sys.stdin.buffer, sys.stdout)
