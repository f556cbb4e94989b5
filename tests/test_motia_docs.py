"""Step files written the way Motia's docs write them run unchanged (issue 6).

``fixtures/motia_docs`` is a small pet store put together from Motia's docs and
its ``motia create`` templates (each file names the page it follows): TypeScript
steps with zod and ``Handlers[...]``, CommonJS JavaScript steps, Python steps with
dict configs and pydantic models, an event topic with a subscriber in each
language, state, two crons, middleware in all three languages and noop steps.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from .harness import FIXTURES, SDK_NODE_MODULES, motiad, run_cli

pytestmark = pytest.mark.anyio

TSC = SDK_NODE_MODULES / ".bin" / "tsc"
BAD_ORDER = {"pet": {"name": 3}, "foodOrder": {"quantity": "two"}}
"""Wrong in three places: ``pet.name`` (a number), ``pet.photoUrl`` (missing),
``foodOrder.quantity`` (a string)."""


def docs_project(root: Path) -> Path:
    """A copy of the fixture whose node_modules resolves ``zod`` 4 and ``tsx``."""
    shutil.copytree(FIXTURES / "motia_docs", root)
    (root / "node_modules").symlink_to(SDK_NODE_MODULES)
    return root


async def cli_json(*args: str) -> Any:
    """The JSON a one-shot ``motiad ARGS`` prints."""
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-m", "motiad", *args], check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout)


async def test_every_docs_step_loads_with_zod_and_pydantic_schemas_as_json_schema(
    tmp_path: Path,
) -> None:
    project = str(docs_project(tmp_path / "petstore"))
    listed: dict[str, Any] = {}

    async def load(command: str) -> None:
        listed[command] = await cli_json(command, project, "--json")

    # Two independent loads of the project: side by side to halve the wait.
    async with anyio.create_task_group() as tg:
        tg.start_soon(load, "steps")
        tg.start_soon(load, "flows")

    assert listed["steps"]["errors"] == []
    steps = {step["name"]: step for step in listed["steps"]["steps"]}
    assert {name: (step["type"], step["language"]) for name, step in steps.items()} == {
        "ApiTrigger": ("api", "node"),
        "ProcessFoodOrder": ("event", "node"),
        "StateAuditJob": ("cron", "node"),
        "GetOrders": ("api", "node"),
        "ProtectedEndpoint": ("api", "node"),
        "Flow Starter": ("noop", "node"),
        "Email Provider": ("noop", "node"),
        "PythonApiTrigger": ("api", "python"),
        "PythonProcessFoodOrder": ("event", "python"),
        "PythonStateAuditJob": ("cron", "python"),
        "PythonGetOrder": ("api", "python"),
    }  # and not the workbench UI in flow-starter.step.tsx
    config = {name: step["config"] for name, step in steps.items()}

    # zod 4 (TypeScript): its own converter, draft 2020-12.
    body = config["ApiTrigger"]["bodySchema"]
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert body["required"] == ["pet"]
    assert body["properties"]["pet"]["required"] == ["name", "photoUrl"]
    assert body["properties"]["foodOrder"]["properties"] == {"quantity": {"type": "number"}}
    assert config["ApiTrigger"]["responseSchema"]["200"]["properties"]["id"] == {"type": "number"}
    assert config["ProcessFoodOrder"]["input"]["required"] == ["email", "quantity", "petId"]

    # pydantic (Python): model_json_schema(), nested models under $defs; the
    # template's integer status key 200 arrives as the JSON key "200".
    body = config["PythonApiTrigger"]["bodySchema"]
    assert body["title"] == "RequestBody"
    assert set(body["$defs"]) == {"PetRequest", "FoodOrder"}
    assert body["properties"]["pet"] == {"$ref": "#/$defs/PetRequest"}
    assert config["PythonApiTrigger"]["responseSchema"]["200"]["title"] == "Pet"
    assert config["PythonProcessFoodOrder"]["input"]["properties"]["quantity"] == {
        "title": "Quantity",
        "type": "integer",
    }

    # Middleware functions show by name; cron keeps node-cron's six fields.
    assert config["ProtectedEndpoint"]["middleware"] == ["authMiddleware", "addHeadersMiddleware"]
    assert config["GetOrders"]["middleware"] == ["coreMiddleware"]
    assert config["PythonGetOrder"]["middleware"] == ["auth_middleware", "add_headers_middleware"]
    assert config["StateAuditJob"]["cron"] == config["PythonStateAuditJob"]["cron"] == "* * * * * *"

    # The noop steps draw virtual edges: into the API step (through its
    # virtualSubscribes on its path, as Motia's default template does) and out of
    # the notification topic every order step emits.
    graph = listed["flows"]
    virtual = {(e["from"], e["to"]) for e in graph["edges"] if e["virtual"]}
    assert virtual == {
        ("step:Flow Starter", "topic:/basic-tutorial"),
        ("topic:/basic-tutorial", "step:ApiTrigger"),
        ("topic:notification", "step:Email Provider"),
    }
    real = {(e["from"], e["to"]) for e in graph["edges"] if not e["virtual"]}
    assert {
        ("topic:process-food-order", "step:ProcessFoodOrder"),
        ("topic:process-food-order", "step:PythonProcessFoodOrder"),
        ("step:PythonApiTrigger", "topic:process-food-order"),
    } <= real
    assert graph["warnings"] == []


@pytest.mark.skipif(not TSC.exists(), reason="needs sdk-node's dev dependencies (npm ci)")
def test_motiad_types_lets_tsc_check_the_docs_steps_as_written(tmp_path: Path) -> None:
    project = docs_project(tmp_path / "petstore")

    generated = run_cli("types", str(project))
    assert generated.returncode == 0, generated.stderr
    text = (project / "types.d.ts").read_text()
    # One topic, two subscribers: the TypeScript emitter is held to the Python
    # subscriber's pydantic input as well as to the zod one.
    assert (
        "{ topic: 'process-food-order'; data: { email: string; quantity: number; petId: string } }"
        in text
    )
    assert "foodOrder?: { quantity: number } | null" in text  # pydantic's Optional

    # The docs import types with a plain `import { Handlers } from 'motia'`.
    checked = subprocess.run(
        [str(TSC), "--noEmit", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_the_docs_pet_store_behaves_as_the_docs_say(tmp_path: Path) -> None:
    project = docs_project(tmp_path / "petstore")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        # A body that fails the zod or the pydantic bodySchema: 400 naming every
        # field, and the handler never runs.
        for path in ("/basic-tutorial", "/python-basic-tutorial"):
            refused = await http.post(path, json=BAD_ORDER)
            assert refused.status_code == 400, refused.text
            assert sorted(issue["path"] for issue in refused.json()["issues"]) == [
                "body.foodOrder.quantity",
                "body.pet.name",
                "body.pet.photoUrl",
            ]
        assert "Step 01" not in broker.output()

        # TypeScript API → the topic's TypeScript and Python subscribers, one trace.
        created = await http.post(
            "/basic-tutorial",
            json={"pet": {"name": "Jack", "photoUrl": "jack.png"}, "foodOrder": {"quantity": 2}},
        )
        assert created.status_code == 200, created.text
        pet = created.json()
        trace = created.headers["x-trace-id"]
        assert pet == {"id": pet["id"], "name": "Jack", "photoUrl": "jack.png", "traceId": trace}
        pet_id = str(pet["id"])
        await broker.wait_for(rf"\bApiTrigger {trace[-8:]} Step 01 - Processing API Step")
        await broker.wait_for(
            rf'\bProcessFoodOrder {trace[-8:]} Step 02 - Process food order .*"petId":"{pet_id}"'
        )
        await broker.wait_for(
            rf'PythonProcessFoodOrder {trace[-8:]} Order created .*"petId":"{pet_id}"'
        )

        # Python API → the same two subscribers.
        created = await http.post(
            "/python-basic-tutorial",
            json={"pet": {"name": "Max", "photoUrl": "max.png"}, "foodOrder": {"quantity": 1}},
        )
        assert created.status_code == 200, created.text
        python_pet_id = str(created.json()["id"])
        assert created.json()["traceId"] == created.headers["x-trace-id"]
        await broker.wait_for(
            rf'\bProcessFoodOrder \w+ Step 02 - Process food order .*"petId":"{python_pet_id}"'
        )

        # Each cron reads back what its event step stored in state: an order
        # shipped a second ago is "not complete and ship date is past". Every
        # tick warns about every order, so two ticks at most name both.
        audit = r"Order is not complete and ship date is past"
        ts_audit = rf'WARN\s+StateAuditJob \w+ {audit} .*"orderId":'
        first = (await broker.wait_for(ts_audit + r'"([-\w]+)"')).group(1)
        second = (await broker.wait_for(ts_audit + rf'"(?!{first})([-\w]+)"')).group(1)
        py_order = await broker.wait_for(
            rf'WARN\s+PythonStateAuditJob \w+ {audit} .*"order_id":"([-\w]+)"'
        )

        # GET /orders lists the state group ProcessFoodOrder writes.
        orders = await http.get("/orders")
        assert orders.status_code == 200
        assert {order["id"] for order in orders.json()} == {first, second}
        by_pet = {order["petId"]: order for order in orders.json()}
        assert set(by_pet) == {pet_id, python_pet_id}
        order = by_pet[pet_id]
        assert (order["quantity"], order["status"], order["complete"]) == (2, "placed", False)

        # Middleware, JavaScript and Python: no Authorization, 401 before the
        # handler; with it, the response gains X-Request-Id (the trace id).
        for path in ("/protected", f"/python-orders/{py_order.group(1)}"):
            unauthorized = await http.get(path)
            assert unauthorized.status_code == 401
            assert unauthorized.json() == {"error": "Unauthorized"}
            allowed = await http.get(path, headers={"Authorization": "Bearer docs"})
            assert allowed.status_code == 200, allowed.text
            assert allowed.headers["x-request-id"] == allowed.headers["x-trace-id"]
        assert allowed.json()["id"] == py_order.group(1)  # the Python step reads its state
        assert (await http.get("/protected", headers={"Authorization": "x"})).json() == {
            "message": "Success"
        }
        missing = await http.get("/python-orders/none", headers={"Authorization": "x"})
        assert missing.status_code == 404
        assert missing.json() == {"message": "Not found"}

        # What Motia's logs show: no load errors, no undeclared emits, no failures.
        assert not re.search(r"\bERROR\b|error:|does not declare|Traceback", broker.output())
