"""OpenTelemetry export over OTLP/HTTP (issue #21): a TS -> Python -> TS flow
arrives at a real receiver, decoded with the OpenTelemetry protobuf
definitions, as one trace (the caller's) with every parent link in place; a
collector that is down costs counted drops and one warning, never a request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from motiad.otlp_encoding import OtlpEncoder
from motiad.signals import EmitSpan, RequestSpan
from motiad.trace_context import parse_traceparent
from motiad.tracing import Span

from .harness import FIXTURES, MotiadProcess, make_project, motiad
from .otlp_receiver import OtlpReceiver, attributes
from .redis_server import free_port

pytestmark = pytest.mark.anyio

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FLOW = FIXTURES / "production" / "otel"
SETTINGS = """[telemetry]
otlp_endpoint = "{endpoint}"
service_name = "shop"
[queue]
backoff_initial_ms = 20
backoff_max_ms = 50
"""


def named(spans: list[Any], name: str) -> list[Any]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time_unix_nano)


@asynccontextmanager
async def _exporting(
    tmp_path: Path,
) -> AsyncIterator[tuple[OtlpReceiver, MotiadProcess, httpx.AsyncClient]]:
    """The ``FLOW`` project served with export to a real OTLP receiver."""
    receiver = OtlpReceiver()
    async with anyio.create_task_group() as tg:
        await tg.start(receiver.serve)
        project = make_project(tmp_path / "p", FLOW)
        endpoint = f"http://127.0.0.1:{receiver.port}"
        (project / "motiad.toml").write_text(SETTINGS.format(endpoint=endpoint))
        async with (
            motiad("run", str(project), "--port", "0") as broker,
            httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        ):
            yield receiver, broker, http
        tg.cancel_scope.cancel()


async def test_a_ts_python_ts_flow_arrives_as_one_linked_trace(tmp_path: Path) -> None:
    async with _exporting(tmp_path) as (receiver, _, http):
        answer = await http.post(
            "/orders/7", json={}, headers={"traceparent": CALLER, "tracestate": "shop=1"}
        )
        assert answer.status_code == 202

        def complete() -> bool:
            names = [s.name for s in receiver.spans]
            done = names.count("event PriceOrder") == 2 and "event OrderPriced" in names
            logged = any(r.body.string_value == "order priced" for r in receiver.logs)
            return done and logged

        await receiver.until(complete)

    caller = parse_traceparent(CALLER)
    assert caller is not None
    spans = receiver.spans
    assert receiver.service_names == {"shop"}
    assert {s.trace_id.hex() for s in spans} == {caller.trace_id}
    (server,) = named(spans, "POST /orders/:id")
    (placed,) = named(spans, "api PlaceOrder")
    (emit_placed,) = named(spans, "emit order.placed")
    first, second = named(spans, "event PriceOrder")
    (emit_priced,) = named(spans, "emit order.priced")
    (priced,) = named(spans, "event OrderPriced")

    assert server.parent_span_id.hex() == caller.parent_id
    assert server.trace_state == "shop=1"
    assert attributes(server)["http.route"] == "/orders/:id"
    assert attributes(server)["http.response.status_code"] == 202
    assert answer.headers["traceparent"].split("-")[2] == server.span_id.hex()
    assert placed.parent_span_id == server.span_id
    assert emit_placed.parent_span_id == placed.span_id
    assert attributes(emit_placed)["motiad.topic"] == "order.placed"
    for attempt, span in enumerate((first, second), start=1):
        assert span.parent_span_id == emit_placed.span_id
        assert attributes(span)["motiad.attempt"] == attempt
        assert attributes(span)["motiad.step"] == "PriceOrder"
        assert attributes(span)["motiad.topic"] == "order.placed"
    assert attributes(first)["motiad.outcome"] == "error"
    (error,) = first.events
    assert error.name == "exception"
    assert attributes(error)["exception.message"] == "the price list is not loaded yet"
    assert attributes(second)["motiad.outcome"] == "ok"
    assert emit_priced.parent_span_id == second.span_id
    assert priced.parent_span_id == emit_priced.span_id

    (log,) = [r for r in receiver.logs if r.body.string_value == "order priced"]
    assert log.trace_id.hex() == caller.trace_id
    assert log.span_id == priced.span_id
    assert attributes(log)["motiad.step"] == "OrderPriced"
    assert attributes(log)["total"] == 42


async def test_a_collector_that_is_down_costs_counted_drops_not_requests(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FLOW)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    (project / "motiad.toml").write_text(SETTINGS.format(endpoint=endpoint))
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
    ):
        for n in range(5):
            assert (await http.post(f"/orders/{n}", json={})).status_code == 202
        await broker.wait_for("telemetry: the OTLP collector at .* did not take a batch")
        with anyio.fail_after(30):
            while True:
                page = (await http.get("/__motiad/metrics")).text
                if 'motiad_telemetry_dropped_total{signal="spans"}' in page:
                    break
                await broker.wait_for(".", start=len(broker.lines))
        warnings = [line for line in broker.lines if "did not take a batch" in line]
        assert len(warnings) == 1


def _children(pid: int, marker: str) -> list[int]:
    """The running children of ``pid`` whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and marker.encode() in command:
            found.append(int(entry))
    return found


def _has_protobuf(pid: int) -> bool:
    """Whether ``pid`` has loaded protobuf's compiled runtime (upb)."""
    return "_upb" in Path(f"/proc/{pid}/maps").read_text()


async def test_a_sender_process_encodes_and_sends_and_is_started_again_if_it_dies(
    tmp_path: Path,
) -> None:
    # encoding and http.client are Python: in a thread of the broker they held
    # its GIL, and the event loop paid for it (10-30 µs an event, issue #21's
    # benchmark); in a process of their own they cost the broker a pipe write
    async with _exporting(tmp_path) as (receiver, broker, http):

        def priced(count: int) -> Callable[[], bool]:
            return lambda: [s.name for s in receiver.spans].count("event OrderPriced") == count

        assert (await http.post("/orders/1", json={})).status_code == 202
        await receiver.until(priced(1))
        (sender,) = _children(broker.process.pid, "motiad.otlp_sender")
        assert _has_protobuf(sender)
        assert not _has_protobuf(broker.process.pid)

        os.kill(sender, signal.SIGKILL)
        await broker.wait_for("telemetry: the OTLP sender process exited")
        assert (await http.post("/orders/2", json={})).status_code == 202
        await receiver.until(priced(2))


async def test_a_refused_request_is_one_trace_its_span_a_child_of_the_request(
    tmp_path: Path,
) -> None:
    async with _exporting(tmp_path) as (receiver, _, http):
        answer = await http.post("/nowhere", json={}, headers={"traceparent": CALLER})
        assert answer.status_code == 404
        await receiver.until(lambda: len(receiver.spans) == 2)
    caller = parse_traceparent(CALLER)
    assert caller is not None
    (server,) = named(receiver.spans, "POST")
    (refused,) = named(receiver.spans, "api POST /nowhere")
    assert server.parent_span_id.hex() == caller.parent_id
    assert refused.parent_span_id == server.span_id
    assert refused.trace_id == server.trace_id


def test_nothing_of_opentelemetry_is_imported_unless_configured(tmp_path: Path) -> None:
    code = (
        "import sys, motiad.app, motiad.http, motiad.cli;"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('opentelemetry')}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"


async def test_a_sample_ratio_of_zero_sends_logs_but_no_spans(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    async with anyio.create_task_group() as tg:
        await tg.start(receiver.serve)
        project = make_project(tmp_path / "p", FLOW)
        settings = SETTINGS.format(endpoint=f"http://127.0.0.1:{receiver.port}")
        (project / "motiad.toml").write_text(
            settings.replace('service_name = "shop"', 'service_name = "shop"\nsample_ratio = 0.0')
        )
        async with (
            motiad("run", str(project), "--port", "0") as broker,
            httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        ):
            assert (await http.post("/orders/1", json={})).status_code == 202
            await receiver.until(
                lambda: any(r.body.string_value == "order priced" for r in receiver.logs)
            )
        tg.cancel_scope.cancel()
    assert receiver.spans == []


def test_spans_of_any_id_length_encode_and_a_bad_id_is_left_out_and_counted() -> None:
    # the wire format is written by hand for W3C-length ids (the common case)
    # and generically otherwise; both decode with the OpenTelemetry definitions
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    encoder = OtlpEncoder("motiad")
    trace, short_trace = "4bf92f3577b34da6a3ce929d0e0e4736", "ab" * 8
    records: list[Span | RequestSpan | EmitSpan] = [
        Span("c" * 32, trace, "Pay", "event", "paid", 1.0, 2.0, "ok", 2, None, "d" * 16),
        Span("e" * 40, short_trace, "Pay", "api", "POST /pay", 1.0, 2.0, "ok"),
        Span("not hex" * 5, trace, "Pay", "api", "POST /pay", 1.0, 2.0, "ok"),
        RequestSpan(trace, "f" * 16, "a" * 16, "POST", 1.0, 2.5, 503, "Pay", "/pay", "k=v"),
        EmitSpan("1" * 32, "paid", trace, 1.5, None, None),
    ]
    request = ExportTraceServiceRequest.FromString(encoder.traces(records))
    (resource_spans,) = request.resource_spans
    (scope_spans,) = resource_spans.scope_spans
    event, short, server, emit = scope_spans.spans
    assert (event.trace_id.hex(), event.span_id.hex(), event.parent_span_id.hex()) == (
        trace,
        "c" * 16,
        "d" * 16,
    )
    assert (event.start_time_unix_nano, event.end_time_unix_nano) == (10**9, 2 * 10**9)
    assert attributes(event) == {
        "motiad.step": "Pay",
        "motiad.trigger": "event",
        "motiad.attempt": 2,
        "motiad.outcome": "ok",
        "motiad.topic": "paid",
        "motiad.invocation_id": "c" * 32,
    }
    assert (short.trace_id.hex(), short.span_id.hex(), short.parent_span_id) == (
        short_trace,
        "e" * 16,
        b"",
    )
    assert (server.name, server.trace_state, server.status.code) == ("POST /pay", "k=v", 2)
    assert (server.span_id.hex(), server.parent_span_id.hex()) == ("f" * 16, "a" * 16)
    assert (emit.name, emit.span_id.hex(), emit.parent_span_id) == ("emit paid", "1" * 16, b"")
    assert attributes(emit)["messaging.message.id"] == "1" * 32
    assert encoder.unencodable["spans"] == 1  # the span whose id is not hex
