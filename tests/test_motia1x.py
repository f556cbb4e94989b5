"""Motia 1.x steps (``triggers``) run beside Motia 0.17 steps (issue 20).

``fixtures/motia1x`` mixes both generations in one project, each file written
the way Motia 1.x's docs or playground write it (each names its source):
``http``/``queue``/``cron`` triggers, ``enqueue``, ``logger`` and
``stateManager`` imported from ``motia`` in TypeScript and Python, a
multi-trigger step with ``ctx.match``, trigger conditions, and the playground's
SSE step. Motia's behaviour is read from frameworks/motia/motia-js/packages/
motia/src (triggers.ts, new/build/utils.ts) and frameworks/motia/motia-py/
packages/motia/src/motia (runtime.py, types.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from motiad.config import ApiStepConfig, CronStepConfig, EventStepConfig
from motiad.errors import ConfigError
from motiad.protocol.messages import ApiTrigger, CronTrigger
from motiad.triggers import parse_step_configs, with_index

from .conftest import Opener
from .harness import FIXTURES, REPO, SDK_NODE_MODULES, motiad, run_cli

pytestmark = pytest.mark.anyio

STATE = "/__motiad/api/state"


def mixed_project(root: Path) -> Path:
    """A copy of the fixture whose node_modules resolves ``zod`` (and no ``motia``)."""
    shutil.copytree(FIXTURES / "motia1x", root)
    (root / "node_modules").symlink_to(SDK_NODE_MODULES)
    return root


async def state_of(http: httpx.AsyncClient, group: str) -> dict[str, Any]:
    """The values of a state group, by key (the workbench API)."""
    answer = await http.get(f"{STATE}/{group}")
    assert answer.status_code == 200, answer.text
    return {item["key"]: item["value"] for item in answer.json()["items"]}


# --- config: Motia 1.x's StepConfig in the broker's model --------------------------


def test_a_1x_config_becomes_one_broker_step_per_trigger_named_as_motia_names_functions() -> None:
    # Motia.addStep registers `steps::<name>::trigger::<suffix>` per trigger,
    # the suffix from getTriggerSuffix (new/build/utils.ts).
    raw = {
        "name": "ProcessOrder",
        "flows": ["orders"],
        "triggers": [
            {"type": "http", "method": "post", "path": "/orders/manual"},
            {
                "type": "queue",
                "topic": "order.created",
                "config": {"type": "fifo", "maxRetries": 2},
            },
            {"type": "cron", "expression": "0 0 0 * * * *"},
        ],
        "enqueues": ["order.processed"],
        "virtualSubscribes": ["order.requested"],
    }
    http_step, queue_step, cron_step = parse_step_configs(raw, "steps/process-order.step.ts")
    assert isinstance(http_step, ApiStepConfig)
    assert (http_step.name, http_step.method, http_step.path) == (
        "ProcessOrder::http(POST /orders/manual)",
        "POST",
        "/orders/manual",
    )
    assert isinstance(queue_step, EventStepConfig)
    assert queue_step.name == "ProcessOrder::queue(order.created)"
    assert queue_step.subscribes == ["order.created"]
    assert queue_step.infrastructure.queue.type == "fifo"
    assert queue_step.infrastructure.queue.max_retries == 2
    assert isinstance(cron_step, CronStepConfig)
    # The docs' 7-field form (a year of * last) is the 6-field schedule.
    assert cron_step.cron == "0 0 0 * * *"
    for step in (http_step, queue_step, cron_step):
        assert step.emits == ["order.processed"]
        assert step.virtual_subscribes == ["order.requested"]
        assert step.flows == ["orders"]
    # The child is told which trigger fired.
    assert with_index(cron_step, CronTrigger()).index == 2
    assert with_index(http_step, ApiTrigger()).index == 0


def test_a_step_with_one_trigger_keeps_its_name_and_a_0_17_config_is_read_as_before() -> None:
    (only,) = parse_step_configs(
        {"name": "CreateUser", "triggers": [{"type": "http", "method": "POST", "path": "/users"}]},
        "steps/create-user.step.ts",
    )
    assert only.name == "CreateUser"
    (legacy,) = parse_step_configs(
        {"type": "event", "name": "Audit", "subscribes": ["user.created"]}, "steps/audit.step.ts"
    )
    assert isinstance(legacy, EventStepConfig)
    assert with_index(legacy, ApiTrigger()) == ApiTrigger()  # no index: a 0.17 child never sees one


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"name": "X", "triggers": []}, "config.triggers", "at least one trigger"),
        (
            {"name": "X", "triggers": [{"type": "http", "method": "POST", "path": "users"}]},
            "config.triggers[0].path",
            "must start with '/'",
        ),
        (
            {"name": "X", "triggers": [{"type": "queue", "topik": "a"}]},
            "config.triggers[0].topik",
            "unknown field",
        ),
        ({"name": "X", "trigers": []}, "config.trigers", "did you mean triggers?"),
        (
            {
                "name": "X",
                "triggers": [{"type": "http", "method": "POST", "path": "/u", "streemBody": True}],
            },
            "config.triggers[0].streemBody",
            "unknown field",
        ),
        (
            {"name": "X", "triggers": [{"type": "webhook"}]},
            "config.triggers[0].type",
            "webhook",
        ),
    ],
)
def test_a_bad_1x_config_is_refused_naming_the_file_and_the_field(
    raw: dict[str, Any], field: str, message: str
) -> None:
    if "trigers" in raw:
        raw = {**raw, "triggers": [{"type": "cron", "expression": "* * * * *"}]}
    with pytest.raises(ConfigError) as caught:
        parse_step_configs(raw, "steps/x.step.ts")
    assert caught.value.source == "steps/x.step.ts"
    assert caught.value.field == field
    assert message in str(caught.value)


def test_the_mixed_project_loads_every_step_of_both_generations(tmp_path: Path) -> None:
    project = mixed_project(tmp_path / "mixed")
    listed = run_cli("steps", str(project), "--json")
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    assert report["errors"] == []
    steps = {(s["name"], s["type"], s["language"]) for s in report["steps"]}
    assert steps == {
        ("CreateUser", "api", "node"),
        ("LegacySignup", "api", "node"),
        ("AuditSignup", "event", "node"),
        ("SendWelcome", "event", "python"),
        ("ProcessOrder::http(POST /orders/manual)", "api", "node"),
        ("ProcessOrder::queue(order.created)", "event", "node"),
        ("ProcessOrder::cron(0 0 0 * * * *)", "cron", "node"),
        ("HighValueOrders::queue(order.processed)", "event", "node"),
        ("HighValueOrders::http(POST /orders/verified)", "api", "node"),
        ("SSE Example", "api", "node"),
        ("DualTrigger::queue(test.dual)", "event", "python"),
        ("DualTrigger::http(POST /test/dual)", "api", "python"),
        ("Tick", "cron", "python"),
        ("Health", "api", "node"),
        ("OnAllStepsComplete", "event", "node"),
        ("RunTasks", "api", "node"),
        ("Deploy", "api", "node"),
        ("OnDeploymentUpdate", "event", "node"),
        ("on-user-state-change", "event", "python"),
        ("UserStatus::http(PUT /users/:userId/status)", "api", "python"),
        ("UserStatus::queue(user.status.changed)", "event", "python"),
        ("Live::http(GET /live)", "api", "node"),
        ("Live::http(POST /live/release)", "api", "node"),
        ("PyLive::http(GET /py/live)", "api", "python"),
        ("PyLive::http(POST /py/live/release)", "api", "python"),
    }
    configs = {s["name"]: s["config"] for s in report["steps"]}
    # A zod bodySchema of a trigger arrives as JSON Schema, as in 0.17.
    body = configs["CreateUser"]["bodySchema"]
    assert body["properties"] == {"email": {"type": "string"}}


# --- running: one flow across both generations -------------------------------------------


async def test_a_1x_enqueue_and_a_0_17_emit_reach_the_same_subscribers_of_both_generations(
    tmp_path: Path,
) -> None:
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        # The issue's own example: `({ request }, { traceId })`, enqueue from 'motia'.
        created = await http.post("/users", json={"email": "ada@example.com"})
        assert created.status_code == 201, created.text
        trace = created.headers["x-trace-id"]
        assert created.json() == {"ok": True, "traceId": trace}
        # A body that fails the trigger's zod bodySchema: 400, the handler never runs.
        refused = await http.post("/users", json={"email": 3})
        assert refused.status_code == 400, refused.text
        assert [issue["path"] for issue in refused.json()["issues"]] == ["body.email"]
        legacy = await http.post("/legacy/users", json={"email": "bob@example.com"})
        assert legacy.status_code == 202, legacy.text

        for email in ("ada@example.com", "bob@example.com"):
            await broker.wait_for(rf'SendWelcome \w+ welcomed .*"email":"{email}"')
            await broker.wait_for(rf'AuditSignup \w+ audited .*"email":"{email}"')
        # Python's blocking stateManager.set wrote under the enqueuing request's trace.
        welcomed = await state_of(http, "welcomed")
        assert welcomed["ada@example.com"] == {"via": "motia-1x", "traceId": trace}
        assert welcomed["bob@example.com"]["via"] == "motia-0.17"
        assert await state_of(http, "audited") == {
            "ada@example.com": "motia-1x",
            "bob@example.com": "motia-0.17",
        }
        # ctx.trigger of a queue trigger names its topic (Python's TriggerInfo).
        assert '"topic":"user.created"' in broker.output()


async def test_a_multi_trigger_step_runs_the_match_branch_of_the_trigger_that_fired(
    tmp_path: Path,
) -> None:
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        answer = await http.post("/orders/manual", json={"orderId": "o-1", "amount": 5000})
        assert answer.status_code == 200, answer.text
        # ctx.trigger is Motia's TriggerInfo: the type and the trigger's index.
        assert answer.json() == {"success": True, "trigger": {"type": "http", "index": 0}}
        await broker.wait_for(r'Processed order .*"orderId":"o-1","via":"http"')

        emitted = await http.post(
            "/__motiad/api/emit",
            json={"topic": "order.created", "data": {"orderId": "o-2", "amount": 10}},
        )
        assert emitted.status_code == 200, emitted.text
        await broker.wait_for(r'Processed order .*"orderId":"o-2","via":"queue"')
        processed = await state_of(http, "processed")
        # ctx.getData() of a queue trigger is the data itself.
        assert processed["o-2"] == {
            "orderId": "o-2",
            "amount": 10,
            "sameAsInput": True,
            "via": "queue",
        }

        # Both orders reach HighValueOrders' queue trigger; its condition
        # (amount > 1000) lets only the first run the handler.
        await broker.wait_for(r'high value .*"orderId":"o-1"')
        assert await state_of(http, "high-value") == {"o-1": {"orderId": "o-1", "amount": 5000}}


async def test_a_condition_that_returns_false_skips_the_handler_and_http_answers_422(
    tmp_path: Path,
) -> None:
    # The iii engine (engine/src/modules/rest_api/views.rs) answers 422
    # {"error": "Request condition not met", "skipped": true}; only an explicit
    # false skips (engine/src/condition.rs).
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        refused = await http.post("/orders/verified", json={"verified": False})
        assert refused.status_code == 422
        assert refused.json() == {"error": "Request condition not met", "skipped": True}
        accepted = await http.post("/orders/verified", json={"verified": True})
        assert accepted.status_code == 200
        assert accepted.json() == {"accepted": {"verified": True}}
        # An ES-module step in step(config).handle(...) form imports 'motia' too.
        health = await http.get("/health")
        assert health.json() == {"ok": True, "trigger": "http"}
        # A Python cron trigger with a condition, its handler written with one parameter.
        await broker.wait_for(r'Tick \w+ tick .*"input":null')


async def test_the_playground_sse_step_reads_its_body_as_a_stream_and_answers_its_events(
    tmp_path: Path,
) -> None:
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        answer = await http.post(
            "/sse",
            content=b"a=1&b=2",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        assert answer.text == (
            'event: item\ndata: {"name":"a","value":"1"}\n\n'
            'event: item\ndata: {"name":"b","value":"2"}\n\n'
            'event: done\ndata: {"total":2}\n\n'
        )


async def test_the_python_playground_dual_trigger_step_runs_unchanged(tmp_path: Path) -> None:
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        answer = await http.post("/test/dual", json={})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "message": "Dual trigger via API",
            "trigger": {"type": "http", "index": 1, "method": "POST", "path": "/test/dual"},
        }
        await http.post("/__motiad/api/emit", json={"topic": "test.dual", "data": {"n": 1}})
        await broker.wait_for(r'Dual trigger fired \(queue\) .*"topic":"test.dual"')


def test_a_child_refuses_a_trigger_index_that_is_not_a_non_negative_integer() -> None:
    """SPEC `invoke.trigger-index`: the Python SDK's check of invoke params."""
    from motiad_sdk.runner import ParamsError, parse_invoke

    params: dict[str, Any] = {
        "step": "/p/steps/x_step.py",
        "input": None,
        "traceId": "t",
        "invocationId": "i",
    }
    assert parse_invoke({**params, "trigger": {"type": "cron", "index": 2}}).trigger["index"] == 2
    for bad in (-1, "1", 1.5, True):
        with pytest.raises(ParamsError) as caught:
            parse_invoke({**params, "trigger": {"type": "cron", "index": bad}})
        assert caught.value.path == "$.params.trigger.index"


async def test_the_flow_graph_draws_one_node_per_1x_step_and_an_edge_per_trigger(
    tmp_path: Path,
) -> None:
    project = mixed_project(tmp_path / "mixed")
    listed = run_cli("flows", str(project), "--json")
    assert listed.returncode == 0, listed.stderr
    graph = json.loads(listed.stdout)
    nodes = {n["name"]: n for n in graph["nodes"] if n["kind"] == "step"}
    order = nodes["ProcessOrder"]
    assert order["triggers"] == [
        {"type": "api", "trigger": "POST /orders/manual"},
        {"type": "event", "trigger": "order.created"},
        {"type": "cron", "trigger": "0 0 0 * * *"},
    ]
    assert "ProcessOrder::queue(order.created)" not in nodes
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert ("topic:order.created", "step:ProcessOrder") in edges
    assert ("step:ProcessOrder", "topic:order.processed") in edges
    assert ("topic:order.processed", "step:HighValueOrders") in edges
    # Both generations meet at one topic.
    assert {
        ("step:CreateUser", "topic:user.created"),
        ("step:LegacySignup", "topic:user.created"),
        ("topic:user.created", "step:SendWelcome"),
        ("topic:user.created", "step:AuditSignup"),
    } <= edges
    assert "triggers" not in nodes["AuditSignup"]  # a 0.17 node is drawn as before
    users = next(f for f in graph["flows"] if f["name"] == "users")
    assert sorted(users["steps"]) == ["AuditSignup", "CreateUser", "LegacySignup", "SendWelcome"]


# --- state, 1.x: atomic updates ---------------------------------------------------


def test_update_ops_follow_the_iii_engine() -> None:
    """SPEC `state.update-atomic`, as engine/src/builtins/kv.rs ``update``:
    top-level paths, a missing value starts as {}, a non-integer field restarts
    the count, root-only merge."""
    from motiad.protocol.messages import (
        UpdateDecrement,
        UpdateIncrement,
        UpdateMerge,
        UpdateRemove,
        UpdateSet,
    )
    from motiad.state_ops import apply_ops

    assert apply_ops(None, [UpdateIncrement("n", 2)]) == {"n": 2}
    assert apply_ops({"n": 5, "s": "x"}, [UpdateDecrement("n", 1), UpdateIncrement("s", 3)]) == {
        "n": 4,
        "s": 3,
    }
    assert apply_ops({"s": "x"}, [UpdateDecrement("s", 3)]) == {"s": 0}
    assert apply_ops({"a": 1}, [UpdateMerge({"b": 2}), UpdateRemove("a")]) == {"b": 2}
    assert apply_ops({"a": 1}, [UpdateMerge({"b": 2}, path="a")]) == {"a": 1}  # root only
    assert apply_ops({"a": 1}, [UpdateSet("", 7), UpdateIncrement("n", 1)]) == 7  # skipped
    assert apply_ops(None, [UpdateSet("a.b", 1)]) == {"a.b": 1}  # a field name, not a path


async def test_update_applies_in_one_step_on_each_store(opened: Opener) -> None:
    """SPEC `state.update-atomic`: concurrent read-change-writes of one key lose
    nothing (SQLite and Redis)."""
    from motiad.protocol.messages import UpdateIncrement
    from motiad.state_ops import change_of

    change = change_of([UpdateIncrement("n", 1)])
    async with opened() as store:
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(store.state_update, "g", "k", change)
        old, new = await store.state_update("g", "k", change)
        assert old is not None
        assert msgspec.json.decode(old) == {"n": 50}
        assert msgspec.json.decode(new) == {"n": 51}


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_increments_from_node_and_python_handlers_lose_nothing(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    project = tmp_path / "counter"
    shutil.copytree(FIXTURES / "motia1x_counter", project)
    if backend == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        (project / "motiad.toml").write_text(f'storage = "{redis_url}"\n')
    events = 40
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        async with anyio.create_task_group() as tg:
            for n in range(events):
                tg.start_soon(
                    partial(
                        http.post, "/__motiad/api/emit", json={"topic": "count", "data": {"n": n}}
                    )
                )
        # Each event runs both handlers; the last increment sees the full total.
        await broker.wait_for(rf'counted .*"total":{2 * events}\b', within=120)
        hits = (await state_of(http, "counters"))["hits"]
        assert hits == {"total": 2 * events, "node": events, "python": events}


# --- state and stream triggers ------------------------------------------------------


async def test_a_state_trigger_fires_on_each_change_with_old_and_new_values_and_its_condition(
    tmp_path: Path,
) -> None:
    # reactive-triggers.mdx: the parallel-merge step runs once, when the
    # condition (all steps complete) holds; created, updated and deleted values
    # reach the Python playground's step with old and new values.
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        started = await http.post("/tasks/t-1")
        assert started.status_code == 202, started.text
        trace = started.headers["x-trace-id"]
        # Three writes (set, two updates): only the last meets the condition.
        await broker.wait_for(
            rf'OnAllStepsComplete {trace[-8:]} All parallel steps complete .*"taskId":"t-1"'
            r'.*"before":1'
        )
        assert broker.output().count("All parallel steps complete") == 1

        for status in ("active", "banned"):
            answer = await http.put("/users/u-1/status", json={"status": status})
            assert answer.status_code == 200, answer.text
        await broker.wait_for(
            r'on-user-state-change \w+ User state changed .*"old_value":null,'
            r'"new_value":\{"status":"active"\}'
        )
        await broker.wait_for(
            r"UserStatus::queue\(user.status.changed\) \w+ status changed "
            r'.*"old_status":"active","new_status":"banned"'
        )


async def test_a_stream_trigger_fires_for_its_group_and_condition(tmp_path: Path) -> None:
    # reactive-triggers.mdx: groupId narrows the trigger to one group; the
    # condition keeps updates only; the input is Motia's StreamWrapperMessage.
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        answer = await http.post("/deployments/d-1")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "live", "id": "d-1"}
        await broker.wait_for(
            r'OnDeploymentUpdate \w+ Deployment updated .*"streamName":"deployment",'
            r'"groupId":"data","eventType":"update","data":\{"status":"live","id":"d-1"\}'
        )
        # A custom event sent to the group reaches the trigger as {type: 'event', data}.
        await broker.wait_for(
            r'OnDeploymentUpdate \w+ Deployment updated .*"eventType":"event",'
            r'"data":\{"type":"rolled-out","data":\{"id":"d-1"\}\}'
        )
        assert broker.output().count("Deployment updated") == 2


async def test_the_motia_1x_example_runs_end_to_end(tmp_path: Path) -> None:
    """examples/motia-1x: HTTP, queue, state and stream triggers and SSE, in
    TypeScript and Python, with no node_modules at all."""
    project = tmp_path / "motia-1x"
    shutil.copytree(REPO / "examples" / "motia-1x", project)
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        placed = await http.post("/orders", json={"item": "tea", "quantity": 2})
        assert placed.status_code == 202, placed.text
        assert placed.json() == {"queued": True, "placed": 1}
        trace = placed.headers["x-trace-id"][-8:]
        await broker.wait_for(rf'PackOrder {trace} packed .*"item":"tea"')
        await broker.wait_for(rf'OnPacked {trace} order packed .*"before":null')
        await broker.wait_for(rf'OnShipment {trace} shipment changed .*"change":"create"')
        feed = await http.get("/orders/feed")
        assert feed.text == (
            'event: order\ndata: {"item":"tea","status":"packed"}\n\nevent: done\ndata: {}\n\n'
        )
        refused = await http.post("/orders", json={"item": "tea", "quantity": 0})
        assert refused.status_code == 400


# --- types ---------------------------------------------------------------------------


def type_check(project: Path) -> subprocess.CompletedProcess[str]:
    """``motiad types`` then ``tsc --noEmit`` of the project."""
    generated = run_cli("types", str(project))
    assert generated.returncode == 0, generated.stderr
    return subprocess.run(
        [str(SDK_NODE_MODULES / ".bin" / "tsc"), "--noEmit", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(
    not (SDK_NODE_MODULES / ".bin" / "tsc").exists(), reason="needs sdk-node's npm ci"
)
def test_motiad_types_types_1x_handlers_for_every_trigger_kind(tmp_path: Path) -> None:
    # Handlers<typeof config> (types.ts): the input of each trigger kind, zod
    # bodies and inputs inferred, ctx.is/ctx.match narrowing; Handlers['Name']
    # of the 0.17 steps beside them still resolves.
    project = mixed_project(tmp_path / "mixed")
    checked = type_check(project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    example = tmp_path / "example"
    shutil.copytree(REPO / "examples" / "motia-1x", example)
    checked = type_check(example)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (project / "steps" / "rogue.step.ts").write_text(
        "import { http, queue, type Handlers, type StepConfig } from 'motia'\n"
        "import { z } from 'zod'\n"
        "export const config = {\n"
        "  name: 'Rogue',\n"
        "  triggers: [http('POST', '/rogue', { bodySchema: z.object({ n: z.number() }) }),\n"
        "    queue('rogue', { input: z.object({ s: z.string() }) }),\n"
        "    { type: 'stream', streamName: 'deployment' }],\n"
        "} as const satisfies StepConfig\n"
        "export const handler: Handlers<typeof config> = async (input, ctx) => {\n"
        "  if (ctx.is.stream(input)) input.event.typo\n"
        "  return ctx.match({\n"
        "    http: async ({ request }) => ({ status: 200, body: request.body.n.toUpperCase() }),\n"
        "    queue: async (data) => { data.s.toFixed() },\n"
        "  })\n"
        "}\n"
    )
    refused = type_check(project)
    assert refused.returncode != 0
    errors = sorted(
        line.split(": error ")[1] for line in refused.stdout.splitlines() if ": error " in line
    )
    assert [error.split(":")[0] for error in errors] == ["TS2339", "TS2339", "TS2551"]
    assert errors[0] == "TS2339: Property 'toUpperCase' does not exist on type 'number'."
    assert errors[1].startswith("TS2339: Property 'typo' does not exist on type")
    assert errors[2] == (
        "TS2551: Property 'toFixed' does not exist on type 'string'. Did you mean 'fixed'?"
    )


# --- streamed responses --------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/py"])
async def test_an_sse_response_streams_each_event_as_the_handler_writes_it(
    tmp_path: Path, prefix: str
) -> None:
    """SPEC `http.stream`: the first event reaches the client while the handler
    is still running (it cannot finish before the release request)."""
    project = mixed_project(tmp_path / "mixed")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=30) as http,
        http.stream("GET", f"{prefix}/live") as live,
    ):
        assert live.status_code == 200
        assert live.headers["content-type"] == "text/event-stream"
        assert "content-length" not in live.headers
        chunks = live.aiter_text()
        with anyio.fail_after(20):
            first = await anext(chunks)
        assert first == "event: first\ndata: {}\n\n"
        released = await http.post(f"{prefix}/live/release")
        assert released.status_code == 204
        rest = [chunk async for chunk in chunks]
        assert "".join(rest) == "event: second\ndata: {}\n\n"


async def test_motias_playground_stream_parallel_merge_completes_with_stream_updates(
    tmp_path: Path,
) -> None:
    """Motia 1.x's JS playground (steps/streamParallelMerge, unchanged): three
    parallel steps each increment completedSteps with Stream.update; the join
    step, a stream trigger, runs once all three are done (no increment lost)."""
    project = mixed_project(tmp_path / "mixed")
    playground = FIXTURES / "motia1x_playground"
    shutil.copytree(playground, project / "steps" / "streamParallelMerge")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        started = await http.post("/api/stream-parallel-merge", json={})
        assert started.status_code == 200, started.text
        await broker.wait_for(
            r"stream-parallel-merge-join \w+ .*Handling Stream Join Complete", within=60
        )
        await broker.wait_for(r"Total # of steps: 3")
