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

import math
import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .request_stream import BodyStreamStats
from .storage import QueueStats
from .tracing import Span

if TYPE_CHECKING:  # imported at the first scrape: counting needs none of it
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds: from a warm step's millisecond answer to the default 30 s timeout."""
OUTCOMES = ("ok", "error", "timeout", "cancelled")


@dataclass(frozen=True, slots=True)
class ChildGauge:
    """One child process as the metrics show it."""

    name: str
    pid: int | None
    restarts: int


@dataclass(slots=True)
class Sources:
    """What is read at scrape time (each optional: a part not running shows nothing)."""

    children: Callable[[], Iterable[ChildGauge]] = lambda: ()
    streams: Callable[[], tuple[int, int]] = lambda: (0, 0)
    """(connections, subscriptions) of the stream WebSocket."""
    queues: Callable[[], Awaitable[dict[str, QueueStats]]] | None = None
    """Per event step; a storage query, so awaited before each scrape."""
    body_streams: BodyStreamStats | None = None
    """What streamed request bodies hold (SPEC ``http.body-stream``)."""


def outcome_of(span: Span) -> str:
    """``ok``, ``error``, ``timeout`` or ``cancelled``: how an invocation ended."""
    if span.error is None:
        return "ok"
    if span.error.type == "TimeoutError":
        return "timeout"
    if span.error.type == "CancelledError":
        return "cancelled"
    return "error"


class Tally:
    """A counter family as plain numbers by label values: counting is a dict
    update on the event loop (prometheus_client's children take a lock and
    check labels on every call: a fifth of an event's cost in events-durable)."""

    __slots__ = ("counts", "help", "labels", "name")

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.labels = name, help, list(labels)
        self.counts: dict[tuple[str, ...], float] = {}

    def add(self, key: tuple[str, ...], amount: float = 1) -> None:
        """Count ``amount`` for the label values ``key``."""
        self.counts[key] = self.counts.get(key, 0) + amount

    def family(self) -> CounterMetricFamily:
        from prometheus_client.core import CounterMetricFamily

        """The family as exposed (``NAME_total``)."""
        family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        for key, value in self.counts.items():
            family.add_metric(list(key), value)
        return family


class Timings:
    """A histogram family (seconds) kept as bucket counts by label values."""

    __slots__ = ("help", "labels", "name", "series")

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        self.name, self.help, self.labels = name, help, list(labels)
        self.series: dict[tuple[str, ...], list[float]] = {}
        """Per label values: a count per bucket (the last: beyond the largest), then the sum."""

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        """Record one duration for the label values ``key``."""
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        series[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[-1] += seconds

    def family(self) -> HistogramMetricFamily:
        from prometheus_client.core import HistogramMetricFamily

        """The family as exposed (cumulative ``_bucket``, ``_count``, ``_sum``)."""
        family = HistogramMetricFamily(self.name, self.help, labels=self.labels)
        for key, series in self.series.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip((*LATENCY_BUCKETS, math.inf), series[:-1], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), cumulative))
            family.add_metric(list(key), buckets, series[-1])
        return family


class Metrics:
    """The broker's metrics: sinks to subscribe to its buses, and :meth:`render`."""

    def __init__(self, sources: Sources | None = None) -> None:
        self.sources = sources or Sources()
        self.http_requests = Tally(
            "motiad_http_requests",
            "HTTP requests answered by API steps, by step, method and status code.",
            ["step", "method", "status"],
        )
        self.http_duration = Timings(
            "motiad_http_request_duration_seconds",
            "Time from a request's arrival to its response, by step and method.",
            ["step", "method"],
        )
        self.invocations = Tally(
            "motiad_invocations",
            "Finished invocations of step handlers, by step and outcome"
            " (ok, error, timeout, cancelled).",
            ["step", "outcome"],
        )
        self.invocation_duration = Timings(
            "motiad_invocation_duration_seconds", "How long step handlers ran, by step.", ["step"]
        )
        self.retries = Tally(
            "motiad_retries", "Deliveries run again after a failure, by step.", ["step"]
        )
        self.dead_letters = Tally(
            "motiad_dead_letters",
            "Events moved to the dead-letter queue, by subscribing step.",
            ["step"],
        )
        self.emits = Tally("motiad_emits", "Events emitted, by topic.", ["topic"])
        self.telemetry_dropped = Tally(
            "motiad_telemetry_dropped",
            "Spans and log records the OTLP export dropped (the collector was down or"
            " slow), by signal.",
            ["signal"],
        )
        self.last_queues: dict[str, QueueStats] = {}
        self._registry: CollectorRegistry | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """A registry of its own, never prometheus_client's global one; made at
        the first scrape (prometheus_client is megabytes a broker nobody
        scrapes need not hold)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_ScrapeTime(self))
        return self._registry

    # --- sinks (the hot path: a dict update each) ---------------------------

    def on_span(self, span: Span) -> None:
        """A finished invocation (a SpanBus sink)."""
        step = (span.step,)
        self.invocations.add((span.step, outcome_of(span)))
        self.invocation_duration.observe(step, max(0.0, span.ended_at - span.started_at))
        if span.attempt > 1 and span.trigger == "event":
            self.retries.add(step)

    def on_request(self, step: str, method: str, status: int, seconds: float) -> None:
        """An answered HTTP request to an API route (``step`` empty: no route matched)."""
        self.http_requests.add((step, method, str(status)))
        self.http_duration.observe((step, method), seconds)

    def on_emit(self, topic: str) -> None:
        """An event was emitted on ``topic``."""
        self.emits.add((topic,))

    def on_dead_letter(self, step: str) -> None:
        """A delivery to ``step`` was moved to the dead-letter queue."""
        self.dead_letters.add((step,))

    def on_telemetry_dropped(self, signal: str, count: int) -> None:
        """The OTLP export dropped ``count`` records of ``signal`` (spans, logs)."""
        if count:
            self.telemetry_dropped.add((signal,), count)

    # --- the page -----------------------------------------------------------

    async def render(self, accept: str = "") -> tuple[bytes, str]:
        """The metrics now, in the exposition format the scraper's ``Accept``
        header asks for (text by default): (body, content type)."""
        if self.sources.queues is not None:
            self.last_queues = await self.sources.queues()
        from prometheus_client.exposition import choose_encoder

        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class _ScrapeTime:
    """The families read at scrape time from the parts that hold the state (a
    prometheus_client ``Collector`` by its methods: the registry asks no more)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return ()  # unchecked: its families are named nowhere else

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        metrics = self._metrics
        sources = metrics.sources
        for tally in (
            metrics.http_requests,
            metrics.invocations,
            metrics.retries,
            metrics.dead_letters,
            metrics.emits,
            metrics.telemetry_dropped,
        ):
            yield tally.family()
        yield metrics.http_duration.family()
        yield metrics.invocation_duration.family()
        pending = GaugeMetricFamily(
            "motiad_queue_pending_deliveries",
            "Deliveries of an event step not settled yet (waiting, delayed, retrying or"
            " running), by step.",
            labels=["step"],
        )
        oldest = GaugeMetricFamily(
            "motiad_queue_oldest_pending_age_seconds",
            "How long the oldest unsettled delivery of an event step has been due, by step.",
            labels=["step"],
        )
        now = time.time()
        for step, queue in sorted(metrics.last_queues.items()):
            pending.add_metric([step], queue.pending)
            oldest.add_metric([step], max(0.0, now - queue.oldest_due_at))
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
        body = sources.body_streams
        if body is not None:
            yield GaugeMetricFamily(
                "motiad_http_body_stream_buffered_bytes",
                "Bytes of request bodies read as streams held by the broker now"
                " (read from the connection, not yet handed to the step).",
                value=body.buffered,
            )
            yield GaugeMetricFamily(
                "motiad_http_body_stream_buffered_bytes_max",
                "The most bytes of streamed request bodies the broker has held at once.",
                value=body.max_buffered,
            )
            yield CounterMetricFamily(
                "motiad_http_body_stream_bytes",
                "Bytes of request bodies handed to steps that read them as streams.",
                value=body.streamed,
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
