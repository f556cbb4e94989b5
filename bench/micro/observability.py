"""What observability adds per operation, in CPU microseconds, measured in
isolation (a loaded machine moves whole-server figures by more than the 5 %
at stake; the CPU of a tight loop moves less): the metrics sinks of one API
request and of one event; of the OTLP export, what the broker pays (packing
the spans of each for the sender process) and what the sender process pays
(encoding them).

Run: ``python -m bench.micro.observability`` (prints one JSON object)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import msgspec

from motiad.metrics import Metrics
from motiad.otlp_encoding import OtlpEncoder
from motiad.otlp_sender import Batch
from motiad.signals import EmitSpan, RequestSpan
from motiad.tracing import Span, new_id

ROUNDS = 20_000


def cpu_us(work: Callable[[int], Any], rounds: int = ROUNDS) -> float:
    """CPU microseconds per call of ``work(i)``, the best of three passes."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for i in range(rounds):
            work(i)
        best = min(best, (time.process_time() - started) / rounds * 1e6)
    return best


def main() -> None:
    now = time.time()
    trace = new_id()
    request = RequestSpan(trace, "a" * 16, None, "GET", now, now + 0.002, 200, "Ping", "/ping")
    api = Span(
        new_id(), trace, "Ping", "api", "GET /ping", now, now + 0.001, "ok", 1, None, "a" * 16
    )
    event = Span(
        new_id(), trace, "Noop", "event", "burst", now, now + 0.001, "ok", 1, None, "b" * 16
    )
    emit = EmitSpan(new_id(), "burst", trace, now, "Burst", api.id)
    metrics = Metrics()

    def metrics_request(_: int) -> None:
        metrics.on_request("Ping", "GET", 200, 0.002)
        metrics.on_span(api)

    def metrics_event(_: int) -> None:
        metrics.on_emit("burst")
        metrics.on_span(event)

    encoder = OtlpEncoder("motiad")
    batch = 512

    def encode(records: list[Any]) -> Callable[[int], bytes]:
        many = records * batch
        return lambda _: encoder.traces(many)

    packer = msgspec.msgpack.Encoder(enc_hook=str)

    def pack(spans: list[Span], requests: list[RequestSpan], emits: list[EmitSpan]) -> Any:
        batch = Batch(spans * batch_of, requests * batch_of, emits * batch_of, [])
        return lambda _: packer.encode(batch)

    batch_of = batch // 2
    figures = {
        "metrics_us_per_api_request": cpu_us(metrics_request),
        "metrics_us_per_event": cpu_us(metrics_event),
        "otlp_pack_us_per_api_request": cpu_us(pack([api], [request], []), 40) / batch_of,
        "otlp_pack_us_per_event": cpu_us(pack([event], [], [emit]), 40) / batch_of,
        "otlp_encode_us_per_api_request": cpu_us(encode([request, api]), 40) / batch,
        "otlp_encode_us_per_event": cpu_us(encode([emit, event]), 40) / batch,
    }
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
