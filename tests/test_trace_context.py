"""W3C Trace Context (issue #21): an incoming ``traceparent`` continues the
caller's trace, handlers get their invocation's ``traceparent`` to pass on,
and responses carry the request's own."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from motiad.invocations import EMITTED_KEPT, Invocation
from motiad.steps import Step
from motiad.trace_context import format_traceparent, parse_traceparent

from .harness import FIXTURES, make_project, motiad, run_cli

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


async def test_a_stored_trace_is_a_tree_under_the_callers_span(tmp_path: Path) -> None:
    # TS API -> Python event (fails once, then emits) -> TS event: the spans
    # ``motiad traces --json`` reads back link each child to its parent through
    # the W3C ids the OTLP export sends (an event's parent is its emit, a span
    # whose id is that of the event id, listed in the emitter's ``emitted``)
    project = make_project(tmp_path / "p", PRODUCTION / "otel")
    (project / "motiad.toml").write_text("[queue]\nbackoff_initial_ms = 20\nbackoff_max_ms = 50\n")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
    ):
        answer = await http.post("/orders/7", json={}, headers={"traceparent": CALLER})
        assert answer.status_code == 202
        await broker.wait_for("order priced")
        assert await broker.stop() == 0  # a clean stop writes the last spans
    caller = parse_traceparent(CALLER)
    request = parse_traceparent(answer.headers["traceparent"])
    assert caller is not None
    assert request is not None
    shown = run_cli("traces", caller.trace_id, "-p", str(project), "--json")
    assert shown.returncode == 0, shown.stderr
    spans: list[dict[str, Any]] = json.loads(shown.stdout)["spans"]

    def parent(span: dict[str, Any]) -> str | None:
        for other in spans:
            if span["parentId"] in {other["id"][-16:], *(e[-16:] for e in other["emitted"] or ())}:
                return str(other["step"])
        return None

    place, first, second, priced = spans
    assert [s["step"] for s in spans] == ["PlaceOrder", "PriceOrder", "PriceOrder", "OrderPriced"]
    assert (place["parentId"], place["callerId"]) == (request.parent_id, caller.parent_id)
    assert parent(place) is None  # the root: under the request's span, under the caller's
    assert [parent(s) for s in (first, second, priced)] == ["PlaceOrder"] * 2 + ["PriceOrder"]
    assert first["parentId"] == second["parentId"]  # both attempts of one delivery
    assert first["emitted"] is None
    assert len(second["emitted"]) == 1
    assert priced["parentId"] == second["emitted"][0][-16:]


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


def test_an_invocation_notes_a_bounded_number_of_emitted_events() -> None:
    # the step is only carried by the invocation, never used here: none is needed
    invocation = Invocation(cast(Step, None), "t1")
    for n in range(EMITTED_KEPT + 5):
        invocation.emitted_event(f"e{n}")
    assert invocation.emitted == [f"e{n}" for n in range(EMITTED_KEPT)]
