"""A step that fails to load is loud (issue #20): ``motiad run`` refuses to
start and lists every error with its file and line (``--allow-broken`` serves
the rest); ``motiad dev`` serves the rest and the workbench shows the error
until the file is fixed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from motiad.config import parse_step_config
from motiad.errors import ChildError, ConfigError
from motiad.flows import BrokenFlowStep, FlowStep, build_graph
from motiad.registry import KnownStep, StepRegistry, broken_files

from .browser import open_page
from .harness import REPO, motiad, run_cli

pytestmark = pytest.mark.anyio
expect.set_options(timeout=20_000)

FINE = (
    'config = {"name": "Fine", "type": "api", "path": "/fine", "method": "GET"}\n'
    "async def handler(req, context):\n"
    '    return {"status": 200, "body": {"fine": True}}\n'
)
BROKEN = (
    "import os\n"
    "import not_installed_anywhere\n"
    'config = {"name": "Broken", "type": "api", "path": "/broken", "method": "GET"}\n'
    "async def handler(req, context):\n"
    '    return {"status": 200, "body": {}}\n'
)


def project(root: Path) -> Path:
    (root / "steps").mkdir(parents=True)
    (root / "steps" / "fine_step.py").write_text(FINE)
    (root / "steps" / "broken_step.py").write_text(BROKEN)
    return root


def test_run_refuses_broken_steps_and_lists_each_with_its_line(tmp_path: Path) -> None:
    refused = run_cli("run", str(project(tmp_path)), "--port", "0")
    assert refused.returncode == 1
    assert "1 problem in the step files:" in refused.stderr
    assert (
        "steps/broken_step.py:2: failed to load: ModuleNotFoundError:"
        " No module named 'not_installed_anywhere'" in refused.stderr
    )
    assert "--allow-broken" in refused.stderr
    assert "serving" not in refused.stdout
    # the HTTP server closes in order: no traceback of its own tasks after the message
    assert "Traceback" not in refused.stderr, refused.stderr


async def test_run_with_allow_broken_serves_the_rest(tmp_path: Path) -> None:
    async with motiad("run", str(project(tmp_path)), "--port", "0", "--allow-broken") as served:
        assert "steps/broken_step.py:2: failed to load" in served.output()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{served.url}/fine")).json() == {"fine": True}


async def test_dev_shows_the_broken_file_in_the_workbench_until_it_is_fixed(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    async with (
        motiad("dev", str(root), "--port", "0") as served,
        open_page(f"{served.url}/__motiad/") as page,
    ):
        banner = page.locator("#problems")
        await expect(banner).to_contain_text("1 step file failed to load")
        await expect(banner).to_contain_text(
            "steps/broken_step.py:2: failed to load: ModuleNotFoundError"
        )
        mark = len(served.lines)
        (root / "steps" / "broken_step.py").write_text(
            BROKEN.replace("import not_installed_anywhere\n", "")
        )
        await served.wait_for(r"Broken", start=mark)
        await expect(banner).to_be_hidden()


ORDERS = (
    'config = {"name": "Orders", "type": "api", "path": "/orders/:id", "method": "GET",'
    ' "flows": ["shop"], "emits": ["order.read"]}\n'
    "async def handler(req, context):\n"
    '    return {"status": 200, "body": {"id": req["pathParams"]["id"]}}\n'
)
AUDIT = (
    'config = {"name": "Audit", "type": "event", "subscribes": ["order.read"], "flows": ["shop"]}\n'
    "async def handler(data, context):\n"
    "    pass\n"
)
BREAKINGS = [
    # (what the file becomes, what the load error says, the line it names)
    (ORDERS.replace("context):", "context)"), "SyntaxError", 2),
    ('raise RuntimeError("not today")\n' + ORDERS, "RuntimeError: not today", 1),
    (ORDERS.split("async def")[0], "does not define `handler`", None),
    # its child dies at import: the file's own error, not the project's
    ("import os\nos._exit(3)\n" + ORDERS, "ChildError: child exited with code 3", None),
]


def shop(root: Path) -> Path:
    (root / "steps").mkdir(parents=True)
    (root / "steps" / "orders_step.py").write_text(ORDERS)
    (root / "steps" / "audit_step.py").write_text(AUDIT)
    return root


async def test_dev_a_step_that_breaks_answers_503_naming_the_error_until_it_is_fixed(
    tmp_path: Path,
) -> None:
    """Issue #20: the last known route of a step edited into a broken state (a
    syntax error, a throw at import, no handler) answers 503 with the file,
    line and error and a trace id that leads to the refusal, not ``404 no
    route``; readiness says a step failed to load meanwhile; fixed, it serves."""
    root = shop(tmp_path)
    orders = root / "steps" / "orders_step.py"
    async with (
        motiad("dev", str(root), "--port", "0") as served,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        assert (await http.get("/orders/7")).json() == {"id": "7"}
        assert (await http.get("/__motiad/ready")).status_code == 200
        for source, error, line in BREAKINGS:
            mark = len(served.lines)
            orders.write_text(source)
            await served.wait_for(r"steps/orders_step.py(:\d+)?: failed to load", start=mark)
            answer = await http.get("/orders/7")
            assert answer.status_code == 503, answer.text
            body = answer.json()
            assert body["file"] == "steps/orders_step.py"
            assert body["line"] == line
            assert body["error"].startswith("Orders is broken: steps/orders_step.py")
            assert error in body["error"]
            assert body["traceId"] == answer.headers["x-trace-id"]
            refusal = (await http.get(f"/__motiad/api/traces/{body['traceId']}")).json()
            assert refusal["spans"][0]["step"] == "Orders"
            ready = await http.get("/__motiad/ready")
            assert ready.json() == {"status": "not ready", "reason": "a step failed to load"}
        mark = len(served.lines)
        orders.write_text(ORDERS)
        await served.wait_for(r"Orders\s+ready", start=mark)
        assert (await http.get("/orders/7")).json() == {"id": "7"}
        assert (await http.get("/__motiad/ready")).status_code == 200
        assert (await http.get("/__motiad/api/steps")).json()["problems"] == []


INVALID = (
    'config = {"name": "Typo", "type": "api", "path": "/typo", "method": "POST",'
    ' "flows": ["shop"], "bodySchemaa": {}}\n'
    "async def handler(req, context):\n"
    '    return {"status": 200, "body": {}}\n'
)


async def test_run_allow_broken_answers_503_on_the_route_of_a_config_it_refused(
    tmp_path: Path,
) -> None:
    """A config that is read but not accepted (a misspelt field) keeps its
    route known: 503 naming the field, under ``run --allow-broken`` too. A
    file that fails before its config is read has no route: 404. Readiness
    stays 503 while a step does not load (a load balancer prefers a whole
    instance); the refusals are counted as the step's 503s."""
    root = project(tmp_path)
    (root / "steps" / "typo_step.py").write_text(INVALID)
    async with (
        motiad("run", str(root), "--port", "0", "--allow-broken") as served,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        answer = await http.post("/typo", json={})
        assert answer.status_code == 503
        body = answer.json()
        assert body["file"] == "steps/typo_step.py"
        assert "config.bodySchemaa: unknown field" in body["error"]
        assert body["error"].startswith("Typo is broken: steps/typo_step.py")
        unknown = await http.get("/broken")
        assert unknown.status_code == 404
        assert unknown.json()["error"] == (
            "no route for GET /broken (maybe a step of steps/broken_step.py,"
            " which did not load before its config could be read)"
        )
        assert (await http.get("/fine")).json() == {"fine": True}
        ready = await http.get("/__motiad/ready")
        assert ready.json() == {"status": "not ready", "reason": "a step failed to load"}
        metrics = (await http.get("/__motiad/metrics")).text
        assert 'motiad_http_requests_total{method="POST",status="503",step="Typo"} 1.0' in metrics
        graph = (await http.get("/__motiad/api/flows")).json()
        drawn = {n["id"]: n for n in graph["nodes"] if "broken" in n}
        assert drawn["step:Typo"]["flows"] == ["shop"]
        assert drawn["step:Typo"]["trigger"] == "POST /typo"
        assert drawn["file:steps/broken_step.py"]["broken"]["line"] == 2
        assert drawn["file:steps/broken_step.py"]["flows"] == ["default"]


BROKEN_NODE = re.compile(r"(^|\s)broken(\s|$)")


async def test_the_flow_view_draws_a_step_that_broke_and_clears_it_when_fixed(
    tmp_path: Path,
) -> None:
    """Issue #20: the flow view draws a step that broke where it was, marked
    broken, with file:line on it and the error in its details; fixed, it is
    drawn as before and the problems banner goes."""
    root = shop(tmp_path)
    orders = root / "steps" / "orders_step.py"
    async with (
        motiad("dev", str(root), "--port", "0") as served,
        open_page(f"{served.url}/__motiad/#/flows/shop") as page,
    ):
        node = page.locator('[data-node="step:Orders"]')
        await expect(node).to_be_visible()
        await expect(node).not_to_have_class(BROKEN_NODE)
        orders.write_text(BREAKINGS[0][0])
        await expect(node).to_have_class(BROKEN_NODE)
        await expect(node.locator(".meta")).to_have_text("steps/orders_step.py:2")
        await expect(node).to_have_attribute(
            "aria-label", "broken step Orders, failed to load at steps/orders_step.py:2"
        )
        await expect(page.locator("#problems")).to_be_visible()
        await node.click()
        details = page.locator("aside.details")
        await expect(details).to_contain_text("SyntaxError")
        await expect(details).to_contain_text("steps/orders_step.py:2")
        orders.write_text(ORDERS)
        await expect(node).not_to_have_class(BROKEN_NODE)
        await expect(node).to_have_attribute("aria-label", "api step Orders, GET /orders/:id")
        await expect(page.locator("#problems")).to_be_hidden()


def test_what_can_be_read_of_a_refused_config_keeps_its_routes() -> None:
    """Each field is read only if it has the right shape; a route only when a
    step could serve it (never the reserved prefix, a known method)."""
    refused = {"name": "Typo", "type": "api", "path": "/typo", "method": "post", "flows": ["a"]}
    assert KnownStep.of_raw(refused) == KnownStep(
        "Typo", "api", "POST /typo", ("a",), (("POST", "/typo"),)
    )
    motia1x = {
        "name": "Orders",
        "triggers": [
            {"type": "queue", "topic": "t"},
            {"type": "http", "method": "GET", "path": "/orders"},
            {"type": "http", "method": "GET", "path": "/__motiad/x"},
        ],
    }
    known = KnownStep.of_raw(motia1x)
    assert known is not None
    assert (known.type, known.routes) == ("event", (("GET", "/orders"),))
    assert KnownStep.of_raw(
        {"name": 3, "type": "api", "path": "/x", "method": "FETCH"}
    ) == KnownStep(None, "api", None, (), ())
    assert KnownStep.of_raw({"flows": "a", "type": ["api"]}) is None
    assert KnownStep.of_raw(None) is None


def test_the_graph_draws_a_broken_step_in_its_flow_without_edges() -> None:
    running = FlowStep(
        "steps/a_step.py",
        "python",
        parse_step_config(
            {"name": "A", "type": "event", "subscribes": ["t"], "flows": ["shop"]}, "a"
        ),
    )
    graph = build_graph(
        [running],
        [
            BrokenFlowStep("steps/b_step.py", "B", "api", "GET /b", ("shop",), ("boom",), 3),
            BrokenFlowStep("steps/c_step.py", None, None, None, (), ("early",), None),
            BrokenFlowStep("steps/d_step.py", "A", "api", None, (), ("name taken",), None),
        ],
    )
    broken = {n["id"]: n for n in graph["nodes"] if "broken" in n}
    assert broken["step:B"] == {
        "id": "step:B",
        "kind": "step",
        "name": "B",
        "type": "api",
        "language": None,
        "file": "steps/b_step.py",
        "trigger": "GET /b",
        "description": None,
        "flows": ["shop"],
        "broken": {"errors": ["boom"], "line": 3},
    }
    assert broken["file:steps/c_step.py"]["name"] == "steps/c_step.py"
    assert broken["file:steps/c_step.py"]["type"] == "unknown"
    assert broken["file:steps/c_step.py"]["flows"] == ["default"]
    assert broken["file:steps/d_step.py"]["name"] == "A"  # its name is a running step's
    shop = next(f for f in graph["flows"] if f["name"] == "shop")
    assert shop["steps"] == ["A", "B"]
    assert all("step:B" not in (e["from"], e["to"]) for e in graph["edges"])


HELLO_MJS = (
    "export const config = { name: 'Hello', type: 'api', path: '/hello', method: 'GET' }\n"
    "export const handler = async () => ({ status: 200, body: 'hi' })\n"
)


def built_language(root: Path) -> Path:
    """A project whose ``*.handler.mjs`` steps are a language with a build (as
    Go's), one that fails while a step file says BROKEN."""
    (root / "steps").mkdir()
    (root / "motiad.toml").write_text(
        "[languages.esm]\n"
        'patterns = ["*.handler.mjs"]\n'
        'command = ["node", "{sdk}/src/runner.mjs"]\n'
        f'sdk = "{REPO / "sdk-node"}"\n'
        'build = ["sh", "-c", "! grep -l BROKEN \\"$@\\"", "build", "{files}"]\n'
    )
    (root / "steps" / "hello.handler.mjs").write_text(HELLO_MJS)
    return root


async def test_dev_shows_a_failed_build_in_the_workbench_and_on_the_route(tmp_path: Path) -> None:
    """An edit whose build fails reloads no step, yet the workbench is told
    (banner, the step drawn broken) and the step's route answers 503 naming
    the build's failure; fixed, all clears."""
    hello = built_language(tmp_path) / "steps" / "hello.handler.mjs"
    source = HELLO_MJS
    async with (
        motiad("dev", str(tmp_path), "--port", "0") as served,
        httpx.AsyncClient(base_url=served.url) as http,
        open_page(f"{served.url}/__motiad/#/flows") as page,
    ):
        node = page.locator('[data-node="step:Hello"]')
        await expect(node).to_be_visible()
        mark = len(served.lines)
        hello.write_text(source + "// BROKEN\n")
        await served.wait_for(r"the esm build failed", start=mark)
        await expect(page.locator("#problems")).to_contain_text("the esm build failed")
        await expect(node).to_have_class(BROKEN_NODE)
        answer = await http.get("/hello")
        assert answer.status_code == 503
        assert "the esm build failed" in answer.json()["error"]
        hello.write_text(source)
        await expect(page.locator("#problems")).to_be_hidden()
        await expect(node).not_to_have_class(BROKEN_NODE)
        assert (await http.get("/hello")).text == "hi"


async def test_dev_clears_a_failed_build_of_several_files_once_it_builds(tmp_path: Path) -> None:
    """A build of several files that fails breaks each of them (listed once);
    their shared child keeps serving the last good version meanwhile, drawn as
    running; a build that passes clears the problem of every file."""
    root = built_language(tmp_path)
    (root / "steps" / "bye.handler.mjs").write_text(
        HELLO_MJS.replace("Hello", "Bye").replace("/hello", "/bye")
    )
    hello = root / "steps" / "hello.handler.mjs"
    async with (
        motiad("dev", str(root), "--port", "0") as served,
        httpx.AsyncClient(base_url=served.url) as http,
        open_page(f"{served.url}/__motiad/#/flows") as page,
    ):
        banner = page.locator("#problems")
        mark = len(served.lines)
        hello.write_text(HELLO_MJS + "// BROKEN\n")
        await served.wait_for(r"the esm build failed", start=mark)
        await expect(banner).to_contain_text("2 step files failed to load")
        await expect(banner.locator("li")).to_have_count(1)
        assert (await http.get("/hello")).text == "hi"  # the last good version
        await expect(page.locator(".node.broken")).to_have_count(0)
        problems = (await http.get("/__motiad/api/steps")).json()["problems"]
        assert sorted(p["file"] for p in problems) == [
            "steps/bye.handler.mjs",
            "steps/hello.handler.mjs",
        ]
        hello.write_text(HELLO_MJS)
        await expect(banner).to_be_hidden()
        assert (await http.get("/__motiad/api/steps")).json()["problems"] == []


def test_a_typescript_syntax_error_names_its_line(tmp_path: Path) -> None:
    """The transpiler's ``Unexpected token (L:C)`` becomes the file's line, as
    a stack's would (the 503 and the flow view show it)."""
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "bad.step.ts").write_text(
        "export const config = { name: 'Bad', type: 'api', path: '/bad', method: 'GET' }\n"
        "export const handler = async () =>> ({ status: 200 })\n"
    )
    listed = run_cli("steps", str(tmp_path))
    assert listed.returncode == 1
    assert "steps/bad.step.ts:2: failed to load: SyntaxError:" in listed.stderr


def test_the_graph_draws_no_node_for_a_problem_of_the_project() -> None:
    registry = StepRegistry()
    project_wide = ChildError("stream files (python): child exited with code 1")
    refused = ConfigError("steps/a_step.py", "unknown field", field="config.x")
    registry.record_broken([], broken_files([project_wide, refused]))
    assert set(registry.broken) == {"", "steps/a_step.py"}
    assert [step.file for step in registry.broken_flow_steps()] == ["steps/a_step.py"]


NO_HANDLER_PY = (
    'config = {"name": "NoHandlerPy", "type": "api", "path": "/nh-py", "method": "GET"}\n'
)
NO_HANDLER_TS = (
    "export const config = { name: 'NoHandlerTs', type: 'api', path: '/nh-ts', method: 'POST' }\n"
)
NO_HANDLER_1X = (
    "import { http } from 'motia'\n"
    "export const config = { name: 'NoHandler1x', triggers: [http('GET', '/nh-1x')] }\n"
)


async def test_a_step_without_a_handler_answers_503_from_its_first_load(tmp_path: Path) -> None:
    """SPEC ``lifecycle.initialize``: the child reports the config it read beside
    the error, so a step without a handler is broken with its routes known from
    the start (not only after a dev reload): 503 naming the error, not 404."""
    root = project(tmp_path)
    (root / "steps" / "nh_step.py").write_text(NO_HANDLER_PY)
    (root / "steps" / "nh.step.ts").write_text(NO_HANDLER_TS)
    (root / "steps" / "nh1x.step.ts").write_text(NO_HANDLER_1X)
    async with (
        motiad("run", str(root), "--port", "0", "--allow-broken") as served,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        for method, path, file in (
            ("GET", "/nh-py", "steps/nh_step.py"),
            ("POST", "/nh-ts", "steps/nh.step.ts"),
            ("GET", "/nh-1x", "steps/nh1x.step.ts"),
        ):
            answer = await http.request(method, path)
            assert answer.status_code == 503, (path, answer.text)
            body = answer.json()
            assert body["file"] == file
            assert "handler" in body["error"], body["error"]
            assert body["traceId"]
        assert (await http.get("/fine")).json() == {"fine": True}
