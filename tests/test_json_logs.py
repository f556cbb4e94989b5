"""``motiad run --log-format json`` and ``[log] format = "json"`` (issue #21):
one JSON object per line on stdout, for a log shipper."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import httpx
import pytest

from motiad.console import rfc3339

from .harness import FIXTURES, MotiadProcess, make_project, motiad

pytestmark = pytest.mark.anyio

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def records(broker: MotiadProcess) -> list[dict[str, object]]:
    """Every line printed so far, each of which must be one JSON object."""
    return [json.loads(line) for line in broker.lines if line.strip()]


async def greet_and_read_log(broker: MotiadProcess) -> tuple[str, dict[str, object]]:
    (serving,) = [r for r in records(broker) if "serving" in str(r["message"])]
    assert isinstance(serving["fields"], dict)
    url = serving["fields"]["url"]
    assert serving["fields"]["steps"] == ["Greet"]
    async with httpx.AsyncClient(base_url=str(url), timeout=10) as http:
        answer = await http.get("/greet")
    assert answer.status_code == 200
    await broker.wait_for('"message":"greeting"')
    (greeting,) = [r for r in records(broker) if r["message"] == "greeting"]
    return answer.headers["x-trace-id"], greeting


async def test_json_logs_are_one_object_per_line_with_trace_and_span(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "production" / "greet_step.py")
    async with motiad("run", str(project), "--port", "0", "--log-format", "json") as broker:
        trace_id, greeting = await greet_and_read_log(broker)
        assert greeting["level"] == "info"
        assert greeting["step"] == "Greet"
        assert greeting["trace_id"] == trace_id
        assert re.fullmatch(r"[0-9a-f]{16}", str(greeting["span_id"]))
        assert greeting["fields"] == {"user": "ada"}
        assert RFC3339_UTC.match(str(greeting["time"]))
        with anyio.fail_after(20):
            await broker.stop()
        assert all(RFC3339_UTC.match(str(r["time"])) for r in records(broker))
        assert records(broker)[-1]["message"] == "stopped"


async def test_log_format_json_in_motiad_toml(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "production" / "greet_step.py")
    (project / "motiad.toml").write_text('[log]\nformat = "json"\n')
    async with motiad("run", str(project), "--port", "0") as broker:
        _, greeting = await greet_and_read_log(broker)
        assert greeting["fields"] == {"user": "ada"}


def test_rfc3339_is_utc_to_the_millisecond() -> None:
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500Z"
    assert rfc3339(1_796_665_458.123) == "2026-12-07T17:44:18.123Z"
