"""examples/polyglot end to end: one flow across TypeScript, Python, Go and Ruby
steps sharing state and a trace; Go steps compiled by the registry's build."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import httpx
import pytest

from .harness import QUICKSTART, REPO, motiad, run_cli

pytestmark = pytest.mark.anyio

POLYGLOT = REPO / "examples" / "polyglot"


def polyglot_project(root: Path) -> Path:
    """A copy of the example (its go.mod included); tsx from the quickstart."""
    shutil.copytree(POLYGLOT, root, ignore=shutil.ignore_patterns("node_modules", ".motiad"))
    (root / "node_modules").symlink_to(QUICKSTART / "node_modules")
    return root


async def test_an_order_flows_through_typescript_python_go_and_ruby_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    project = polyglot_project(tmp_path / "polyglot")
    async with motiad("run", str(project), "--port", "0") as broker:
        out = broker.output()
        assert "build go building 2 go step file(s)" in out
        assert "go build: 2 step file(s) in 1 package(s)" in out
        await broker.wait_for(
            r"ShipOrder\s+event\s+go\s+order\.priced\s+steps/ship-order\.step\.go"
        )
        await broker.wait_for(r"GetOrder\s+api\s+go\s+GET /orders/:id")
        await broker.wait_for(
            r"InvoiceOrder\s+event\s+ruby\s+order\.shipped\s+steps/invoice_order_step\.rb"
        )
        async with httpx.AsyncClient(base_url=broker.url) as http:
            sent = await http.post(
                "/orders",
                json={"id": "o1", "items": [{"sku": "apple", "qty": 2}, {"sku": "fig", "qty": 1}]},
            )
            assert sent.status_code == 202
            trace = sent.headers["x-trace-id"][-8:]
            await broker.wait_for(rf"PriceOrder {trace} Priced order .*\"totalCents\":480")
            await broker.wait_for(rf"ShipOrder {trace} Shipped order .*\"tracking\":\"GO-o1-480\"")
            await broker.wait_for(rf"InvoiceOrder {trace} Invoiced order .*\"invoice\":\"RB-o1-480")
            await broker.wait_for(rf"OrderShipped {trace} Order complete")
            order = (await http.get("/orders/o1")).json()
            assert order["steps"] == ["typescript", "python", "go", "ruby"]
            assert order["invoice"] == "RB-o1-480"
            assert (order["status"], order["traceId"][-8:]) == ("shipped", trace)
            missing = await http.get("/orders/none")
            assert (missing.status_code, missing.json()) == (404, {"error": "no order none"})
            invalid = await http.post("/orders", json={"id": "o2"})
            assert invalid.status_code == 400
        assert await broker.stop(signal.SIGINT) == 0

    async with motiad("run", str(project), "--port", "0") as again:
        async with httpx.AsyncClient(base_url=again.url) as http:
            assert (await http.get("/orders/o1")).json()["tracking"] == "GO-o1-480"
        assert await again.stop(signal.SIGTERM) == 0


def test_flows_draws_the_go_steps_in_the_orders_flow(tmp_path: Path) -> None:
    project = polyglot_project(tmp_path / "polyglot")
    done = run_cli("flows", str(project), "--json")
    assert done.returncode == 0, done.stderr
    assert "build go built in" in done.stderr  # the build's cost stays visible
    graph = json.loads(done.stdout)
    languages = {
        node["name"]: node.get("language") for node in graph["nodes"] if node.get("language")
    }
    assert languages == {
        "SubmitOrder": "node",
        "PriceOrder": "python",
        "ShipOrder": "go",
        "GetOrder": "go",
        "InvoiceOrder": "ruby",
        "OrderShipped": "node",
    }


def go_project(root: Path, source: str) -> Path:
    (root / "steps").mkdir(parents=True)
    (root / "go.mod").write_text("module broken\n\ngo 1.19\n")
    (root / "steps" / "bad.step.go").write_text(source)
    (root / "steps" / "fine_step.py").write_text(
        "config = {'name': 'Fine', 'type': 'event', 'subscribes': ['x']}\n"
        "async def handler(input, context):\n    pass\n"
    )
    return root


def test_a_go_step_that_does_not_compile_names_the_file_and_the_line(tmp_path: Path) -> None:
    """SPEC `runner.registry`: the build's failure, with the compiler's message;
    the Python step still loads."""
    project = go_project(tmp_path / "p", "package steps\n\nfunc init() { undefinedThing() }\n")
    done = run_cli("steps", str(project), "--json")
    assert done.returncode == 1
    listing = json.loads(done.stdout)
    assert [step["name"] for step in listing["steps"]] == ["Fine"]
    [error] = listing["errors"]
    assert error.startswith("steps/bad.step.go: languages.go.build: the go build failed (exit 2)")
    assert "steps/bad.step.go:3:15: undefined: undefinedThing" in error


def test_a_go_step_outside_a_go_module_says_how_to_make_one(tmp_path: Path) -> None:
    project = go_project(tmp_path / "p", "package steps\n")
    (project / "go.mod").unlink()
    done = run_cli("steps", str(project), "--json")
    [error] = json.loads(done.stdout)["errors"]
    assert "steps/bad.step.go: no go.mod in its folder or above it in the project" in error
    assert "go mod init" in error


def test_without_go_on_path_the_error_says_to_install_it(tmp_path: Path) -> None:
    project = go_project(tmp_path / "p", "package steps\n")
    bin_dir = tmp_path / "bin"  # what build.sh needs before it looks for go
    bin_dir.mkdir()
    for tool in ("sh", "dirname"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    done = run_cli("steps", str(project), "--json", env=env)
    [error] = json.loads(done.stdout)["errors"]
    assert "steps/bad.step.go: languages.go.build: the go build failed (exit 127)" in error
    assert "go is not on PATH: install Go 1.19 or newer" in error


GO_HELLO = """package steps

import (
	"encoding/json"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{"name": "%s", "type": "api", "path": "%s", "method": "GET"},
		func(ctx *motiad.Context, input json.RawMessage) (any, error) {
			return motiad.Response{Status: 200, Body: "%s"}, nil
		})
}
"""


async def test_dev_rebuilds_the_go_steps_when_a_go_file_changes_or_appears(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "steps").mkdir(parents=True)
    (project / "go.mod").write_text("module devgo\n\ngo 1.19\n")
    (project / "steps" / "hello.step.go").write_text(GO_HELLO % ("Hello", "/hello", "one"))
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await http.get("/hello")).text == "one"  # a string goes out raw, as in Motia
        mark = len(broker.lines)
        (project / "steps" / "hello.step.go").write_text(GO_HELLO % ("Hello", "/hello", "two"))
        await broker.wait_for(r"steps/hello.step.go changed; reloading it", start=mark)
        await broker.wait_for(r"build go built in", start=mark)
        await broker.wait_for(r"Hello\s+ready: api step, GET /hello", start=mark)
        assert (await http.get("/hello")).text == "two"

        mark = len(broker.lines)
        (project / "steps" / "more.step.go").write_text(GO_HELLO % ("More", "/more", "new"))
        await broker.wait_for(r"More\s+ready: api step, GET /more", start=mark)
        assert (await http.get("/more")).text == "new"
        assert (await http.get("/hello")).text == "two"
