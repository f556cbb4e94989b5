"""Every error response carries a trace id, and the trace exists (issue #20):
a request refused before any handler ran (not JSON, not the step's bodySchema,
no route) is recorded as a trace of one span with a log line, so the id a
client pastes into the workbench or ``motiad traces`` leads somewhere."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from .harness import motiad, run_cli

pytestmark = pytest.mark.anyio

STEP = """\
config = {
    "name": "Create",
    "type": "api",
    "path": "/things",
    "method": "POST",
    "bodySchema": {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    },
}


async def handler(req, context):
    return {"status": 201, "body": {"ok": True}}
"""


async def test_refused_requests_name_a_trace_that_exists(tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "create_step.py").write_text(STEP)
    refused: dict[str, tuple[int, str]] = {}
    async with (
        motiad("run", str(tmp_path), "--port", "0") as served,
        httpx.AsyncClient(base_url=served.url) as client,
    ):
        for what, response in {
            "not JSON": await client.post(
                "/things", content=b"{nope", headers={"content-type": "application/json"}
            ),
            "not the bodySchema": await client.post("/things", json={"name": 7}),
            "no route": await client.get("/nowhere"),
        }.items():
            body = response.json()
            assert body["traceId"] == response.headers["x-trace-id"], what
            refused[what] = (response.status_code, body["traceId"])
        assert {what: status for what, (status, _) in refused.items()} == {
            "not JSON": 400,
            "not the bodySchema": 400,
            "no route": 404,
        }
        assert await served.stop() == 0  # a clean stop writes the last spans
    for what, (status, trace_id) in refused.items():
        shown = run_cli("traces", trace_id, "-p", str(tmp_path), "--json")
        assert shown.returncode == 0, (what, shown.stderr)
        trace = json.loads(shown.stdout)
        (span,) = trace["spans"]
        assert span["outcome"] == "error", what
        assert span["error"]["type"] == f"HTTP {status}", what
