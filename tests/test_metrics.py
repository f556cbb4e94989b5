"""Prometheus metrics at ``/__motiad/metrics`` (issue #21), scraped by Debian's
real ``prometheus`` and read back through its HTTP API: the numbers are what
Prometheus stores, not just our own text."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from motiad.metrics import Metrics
from motiad.protocol.messages import ErrorInfo
from motiad.records import Outcome, Span

from .harness import FIXTURES, make_project, motiad
from .prometheus_server import PrometheusServer

pytestmark = pytest.mark.anyio

DELIVERY = FIXTURES / "delivery"
FAST_RETRIES = "[queue]\nbackoff_initial_ms = 20\nbackoff_max_ms = 50\n"


def metrics_project(root: Path, settings: str = "") -> Path:
    """The delivery fixtures behind the Ingest API step; ``settings`` come first
    in motiad.toml (top-level keys, then tables)."""
    project = make_project(
        root,
        FIXTURES / "redis" / "ingest_step.py",
        DELIVERY / "recorder_step.py",
        DELIVERY / "permanent_step.py",
        DELIVERY / "flaky_step.py",
        FIXTURES / "production" / "parked_step.py",
    )
    (project / "motiad.toml").write_text(settings + FAST_RETRIES)
    return project


async def test_prometheus_scrapes_requests_invocations_retries_dead_letters_and_children(
    tmp_path: Path,
) -> None:
    project = metrics_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
    ):
        target = broker.url.removeprefix("http://").replace("localhost", "127.0.0.1")
        prometheus = PrometheusServer(tmp_path / "prometheus", target, "/__motiad/metrics")
        prometheus.start()
        try:
            for topic, count in (("load", 2), ("permanent", 1), ("flaky", 1), ("parked", 2)):
                items = [{"n": n} for n in range(count)]
                answer = await http.post(f"/emit/{topic}", json={"items": items})
                assert answer.status_code == 202
            assert (await http.get("/no/such/route")).status_code == 404

            async def expect(promql: str, wanted: float) -> None:
                await prometheus.value_of(http, promql, wanted)

            await expect('motiad_http_requests_total{step="Ingest",method="POST",status="202"}', 4)
            await expect('motiad_http_requests_total{step="",method="GET",status="404"}', 1)
            await expect('motiad_http_request_duration_seconds_count{step="Ingest"}', 4)
            await expect('motiad_invocations_total{step="Recorder",outcome="ok"}', 2)
            await expect('motiad_invocation_duration_seconds_count{step="Recorder"}', 2)
            await expect('motiad_invocations_total{step="Flaky",outcome="error"}', 2)
            await expect('motiad_invocations_total{step="Flaky",outcome="ok"}', 1)
            await expect('motiad_retries_total{step="Flaky"}', 2)
            await expect('motiad_dead_letters_total{step="Permanent"}', 1)
            await expect('motiad_invocations_total{step="Permanent",outcome="error"}', 1)
            await expect('motiad_emits_total{topic="load"}', 2)
            # one child hosts the five Python steps (named after them, as in the log)
            await expect("count(motiad_child_restarts_total)", 1)
            await expect("sum(motiad_child_restarts_total)", 0)
            await expect("count(motiad_child_resident_memory_bytes > 1e6)", 1)
            await expect('motiad_queue_pending_deliveries{step="Parked"}', 2)
            await expect('motiad_queue_pending_deliveries{step="Recorder"}', 0)
            await expect('motiad_queue_oldest_pending_age_seconds{step="Parked"}', 0)  # not due
            await expect("motiad_stream_connections", 0)
            await expect("motiad_stream_subscriptions", 0)
            # bounded label sets: no trace ids, no raw paths
            series = await prometheus.query(http, '{__name__=~"motiad_.*"}')
            labels = {key for sample in series for key in sample["metric"]}
            assert labels <= {"__name__", "instance", "job", "step", "method", "status",
                              "outcome", "topic", "child", "le", "signal"}  # fmt: skip
        finally:
            prometheus.stop()


async def test_metrics_are_guarded_like_the_workbench_and_can_move_or_be_off(
    tmp_path: Path,
) -> None:
    moved = metrics_project(tmp_path / "moved", '[metrics]\npath = "/internal/metrics"\n')
    async with (
        motiad("run", str(moved), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
    ):
        page = await http.get("/internal/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain; version=")
        assert "# TYPE motiad_invocations_total counter" in page.text
        assert (await http.get("/__motiad/metrics")).status_code == 404
        rebinding = await http.get("/internal/metrics", headers={"host": "evil.example"})
        assert rebinding.status_code == 403
    off = metrics_project(tmp_path / "off", "[metrics]\nenabled = false\n")
    async with (
        motiad("run", str(off), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
    ):
        assert (await http.get("/__motiad/metrics")).status_code == 404
    exposed = metrics_project(tmp_path / "exposed", 'workbench_token = "s3cret"\n')
    async with motiad("run", str(exposed), "--port", "0", "--host", "0.0.0.0") as broker:
        url = broker.url.replace("0.0.0.0", "127.0.0.1")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await http.get("/__motiad/metrics")).status_code == 401
            bearer = {"authorization": "Bearer s3cret"}
            assert (await http.get("/__motiad/metrics", headers=bearer)).status_code == 200


async def test_invocation_outcomes_are_ok_error_timeout_and_cancelled() -> None:
    metrics = Metrics()
    for error in (
        None,
        ErrorInfo("ValueError", "bad"),
        ErrorInfo("TimeoutError", "handler timed out after 1s"),
        ErrorInfo("CancelledError", "the invocation was cancelled"),
    ):
        outcome: Outcome = "ok" if error is None else "error"
        metrics.on_span(Span("a" * 32, "b" * 32, "S", "api", "GET /", 0.0, 0.5, outcome, 1, error))
    page = (await metrics.render())[0].decode()
    for shown in ("ok", "error", "timeout", "cancelled"):
        assert f'motiad_invocations_total{{outcome="{shown}",step="S"}} 1.0' in page
    assert 'motiad_invocation_duration_seconds_bucket{le="0.5",step="S"} 4.0' in page
    assert 'motiad_invocation_duration_seconds_bucket{le="0.25",step="S"} 0.0' in page
