"""Prometheus metrics (README "Production"): what the broker counts and
measures, rendered in the text exposition format at ``GET /__motiad/metrics``.

The numbers come from the buses the broker already has (finished spans, HTTP
requests, emits, dead letters) and, at scrape time, from the parts that hold
a state (queues in storage, children, stream connections). A registry of its
own, not prometheus_client's global one, so two brokers in one process (the
tests) never mix their numbers.

Names follow Prometheus conventions (https://prometheus.io/docs/practices/naming/):
the ``motiad_`` prefix, base units (seconds, bytes) as suffixes, ``_total`` on
counters. Labels are bounded sets (step, method, status, outcome, topic,
child), never a trace id or a raw path."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .tracing import Span

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds: from a warm step's millisecond answer to the default 30 s timeout."""
OUTCOMES = ("ok", "error", "timeout", "cancelled")


@dataclass(frozen=True, slots=True)
class ChildGauge:
    """One child process as the metrics show it."""

    name: str
    pid: int | None
    restarts: int


@dataclass(frozen=True, slots=True)
class QueueGauge:
    """One event step's queue: deliveries due or waiting, and the age of the oldest."""

    pending: int
    oldest_age_s: float


@dataclass(slots=True)
class Sources:
    """What is read at scrape time (each optional: a part not running shows nothing)."""

    children: Callable[[], Iterable[ChildGauge]] = lambda: ()
    streams: Callable[[], tuple[int, int]] = lambda: (0, 0)
    """(connections, subscriptions) of the stream WebSocket."""
    queues: Callable[[], Awaitable[dict[str, QueueGauge]]] | None = None
    """Per event step; a storage query, so awaited before each scrape."""


def outcome_of(span: Span) -> str:
    """``ok``, ``error``, ``timeout`` or ``cancelled``: how an invocation ended."""
    if span.error is None:
        return "ok"
    if span.error.type == "TimeoutError":
        return "timeout"
    if span.error.type == "CancelledError":
        return "cancelled"
    return "error"


class Metrics:
    """The broker's metrics: sinks to subscribe to its buses, and :meth:`render`."""

    def __init__(self, sources: Sources | None = None) -> None:
        self.sources = sources or Sources()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "motiad_http_requests",
            "HTTP requests answered by API steps, by step, method and status code.",
            ["step", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "motiad_http_request_duration_seconds",
            "Time from a request's arrival to its response, by step and method.",
            ["step", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.invocations = Counter(
            "motiad_invocations",
            "Finished invocations of step handlers, by step and outcome"
            " (ok, error, timeout, cancelled).",
            ["step", "outcome"],
            registry=r,
        )
        self.invocation_duration = Histogram(
            "motiad_invocation_duration_seconds",
            "How long step handlers ran, by step.",
            ["step"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "motiad_retries", "Deliveries run again after a failure, by step.", ["step"], registry=r
        )
        self.dead_letters = Counter(
            "motiad_dead_letters",
            "Events moved to the dead-letter queue, by subscribing step.",
            ["step"],
            registry=r,
        )
        self.emits = Counter("motiad_emits", "Events emitted, by topic.", ["topic"], registry=r)
        self.telemetry_dropped = Counter(
            "motiad_telemetry_dropped",
            "Spans and log records the OTLP export dropped (the collector was down or"
            " slow), by signal.",
            ["signal"],
            registry=r,
        )
        self.last_queues: dict[str, QueueGauge] = {}
        r.register(_ScrapeTime(self))

    # --- sinks --------------------------------------------------------------

    def on_span(self, span: Span) -> None:
        """A finished invocation (a SpanBus sink)."""
        self.invocations.labels(span.step, outcome_of(span)).inc()
        self.invocation_duration.labels(span.step).observe(
            max(0.0, span.ended_at - span.started_at)
        )
        if span.trigger == "event" and span.attempt > 1:
            self.retries.labels(span.step).inc()

    def on_request(self, step: str, method: str, status: int, seconds: float) -> None:
        """An answered HTTP request to an API route (``step`` empty: no route matched)."""
        self.http_requests.labels(step, method, str(status)).inc()
        self.http_duration.labels(step, method).observe(seconds)

    def on_emit(self, topic: str) -> None:
        """An event was emitted on ``topic``."""
        self.emits.labels(topic).inc()

    def on_dead_letter(self, step: str) -> None:
        """A delivery to ``step`` was moved to the dead-letter queue."""
        self.dead_letters.labels(step).inc()

    # --- the page -----------------------------------------------------------

    async def render(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics now, in the exposition format the scraper's ``Accept``
        header asks for (text by default): (body, content type)."""
        if self.sources.queues is not None:
            self.last_queues = await self.sources.queues()
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class _ScrapeTime(Collector):
    """The families read at scrape time from the parts that hold the state."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return ()  # unchecked: its families are named nowhere else

    def collect(self) -> Iterator[Metric]:
        sources = self._metrics.sources
        pending = GaugeMetricFamily(
            "motiad_queue_pending_deliveries",
            "Deliveries waiting for an event step (due, delayed or retrying), by step.",
            labels=["step"],
        )
        oldest = GaugeMetricFamily(
            "motiad_queue_oldest_pending_age_seconds",
            "Age of the oldest delivery waiting for an event step, by step.",
            labels=["step"],
        )
        for step, queue in sorted(self._metrics.last_queues.items()):
            pending.add_metric([step], queue.pending)
            oldest.add_metric([step], queue.oldest_age_s)
        yield pending
        yield oldest
        restarts = CounterMetricFamily(
            "motiad_child_restarts", "Restarts of each step's child process.", labels=["child"]
        )
        memory = GaugeMetricFamily(
            "motiad_child_resident_memory_bytes",
            "Resident memory of each step's child process.",
            labels=["child"],
        )
        for child in sources.children():
            restarts.add_metric([child.name], child.restarts)
            rss = resident_bytes(child.pid)
            if rss is not None:
                memory.add_metric([child.name], rss)
        yield restarts
        yield memory
        connections, subscriptions = sources.streams()
        yield GaugeMetricFamily(
            "motiad_stream_connections", "Open stream WebSocket connections.", value=connections
        )
        yield GaugeMetricFamily(
            "motiad_stream_subscriptions",
            "Stream subscriptions (items and groups) held by those connections.",
            value=subscriptions,
        )


_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int | None) -> int | None:
    """The resident set size of process ``pid`` (Linux ``/proc``), or ``None``
    when it is gone or unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None
