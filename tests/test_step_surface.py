"""Schemas checked by the broker, cron schedules, declared emits (ARCHITECTURE §1)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from .harness import FIXTURES, make_project, motiad

pytestmark = pytest.mark.anyio


async def test_schemas_are_enforced_at_the_edge_where_the_mistake_is(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "surface")
    async with (
        motiad("run", str(project), "--port", "0", "--allow-broken") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert "error: steps/reserved.step.js: config.path: /__motiad is reserved" in (
            broker.output()
        )
        bad = await http.post("/users", json={"name": 3})
        assert bad.status_code == 400
        issues = {issue["path"] for issue in bad.json()["issues"]}
        assert issues == {"body.name", "body.age"}
        created = await http.post("/users", json={"name": "Ada", "age": 36})
        assert created.status_code == 201
        await broker.wait_for(r"Welcome \w+ welcome Ada")
        refused = await http.post("/bad", json={})
        assert refused.status_code == 500
        await broker.wait_for(
            r"emit 'user.created': data does not match the input schema of Welcome"
            r" \(steps/welcome_step.py\): data.name"
        )


async def test_a_cron_step_fires_on_schedule_each_tick_in_its_own_trace(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "surface" / "heartbeat_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        first = await broker.wait_for(r"Heartbeat (\w+) tick")
        second = await broker.wait_for(rf"Heartbeat (?!{first.group(1)})(\w+) tick")
        assert second.group(1) != first.group(1)


async def test_emitting_an_undeclared_topic_warns_once_and_declared_ones_never(
    tmp_path: Path,
) -> None:
    undeclared = make_project(
        tmp_path / "undeclared",
        FIXTURES / "delivery" / "emitter.step.ts",
        FIXTURES / "delivery" / "later_step.py",
    )
    async with (
        motiad("run", str(undeclared), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        for n in range(2):
            sent = await http.post("/emit/later", json={"items": [{"at": n}]})
            assert sent.status_code == 202
            await broker.wait_for(rf'Later \w+ later .*"emitted":{n}')
        warnings = re.findall(
            r"Emitter emits 'later', which config.emits does not declare", broker.output()
        )
        assert len(warnings) == 1
    declared = make_project(tmp_path / "declared", FIXTURES / "unawaited")
    async with (
        motiad("run", str(declared), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await http.post("/fire", json={"n": 1})).status_code == 202
        await broker.wait_for(r'Record \w+ recorded .*"n":1')
        assert "does not declare" not in broker.output()
