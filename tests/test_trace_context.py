"""W3C Trace Context (issue #21): an incoming ``traceparent`` continues the
caller's trace, handlers get their invocation's ``traceparent`` to pass on,
and responses carry the request's own."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from motiad.trace_context import format_traceparent, parse_traceparent

from .harness import FIXTURES, make_project, motiad

pytestmark = pytest.mark.anyio

PRODUCTION = FIXTURES / "production"
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_an_incoming_traceparent_continues_the_callers_trace(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "p", PRODUCTION / "traced_step.py", PRODUCTION / "follower_step.py"
    )
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
    ):
        answer = await http.post("/traced", json={}, headers={"traceparent": CALLER})
        caller = parse_traceparent(CALLER)
        assert caller is not None
        assert answer.headers["x-trace-id"] == caller.trace_id
        ours = parse_traceparent(answer.headers["traceparent"])
        assert ours is not None
        assert ours.trace_id == caller.trace_id
        assert ours.parent_id != caller.parent_id  # the request's own span
        handler = parse_traceparent(answer.json()["traceparent"])
        assert handler is not None
        assert handler.trace_id == caller.trace_id
        assert handler.parent_id not in (caller.parent_id, ours.parent_id)  # the invocation's
        found = await broker.wait_for(r"following .*traceparent.*(00-[0-9a-f]{32}-[0-9a-f]{16}-01)")
        follower = parse_traceparent(found.group(1))
        assert follower is not None
        assert follower.trace_id == caller.trace_id

        # without one (or with an invalid one), motiad starts a trace of its own
        for headers in ({}, {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}):
            fresh = await http.post("/traced", json={}, headers=headers)
            trace_id = fresh.headers["x-trace-id"]
            assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
            assert trace_id != caller.trace_id
            assert fresh.json()["traceparent"].split("-")[1] == trace_id


def test_traceparent_parsing_follows_the_w3c_rules() -> None:
    assert parse_traceparent(CALLER) == parse_traceparent(f" {CALLER} ")
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7") is None
    assert parse_traceparent(CALLER.upper()) is None  # lower-case hex only
    assert parse_traceparent("ff" + CALLER[2:]) is None  # version ff is invalid
    assert parse_traceparent(CALLER + "-extra") is None  # version 00 has four fields
    future = parse_traceparent("01" + CALLER[2:] + "-extra")  # a later version: read what we know
    assert future is not None
    assert future.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01") is None
    assert format_traceparent("a" * 32, "b" * 16) == f"00-{'a' * 32}-{'b' * 16}-01"
