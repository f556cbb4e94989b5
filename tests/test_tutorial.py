"""The starter project ``motiad create`` writes, and the workbench's Tutorial
that walks through it in a real Chromium (Motia's quick start: "Click the
Tutorial button on the top right of the workbench")."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest
from playwright.async_api import expect

from motiad.scaffold import create_project

from .browser import open_page
from .harness import motiad, run_cli

pytestmark = pytest.mark.anyio
expect.set_options(timeout=20_000)  # auto-waiting: generous on a busy machine


def starter(root: Path) -> Path:
    """A new starter project, as written: no node_modules (it imports nothing,
    and the Node SDK brings its own TypeScript loader)."""
    project = root / "shop"
    create_project(project)
    return project


def test_the_starter_loads_its_tutorial_flow_in_both_languages(tmp_path: Path) -> None:
    project = starter(tmp_path)

    listed = run_cli("steps", str(project), "--json")
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert listing["errors"] == []
    assert {(s["name"], s["type"], s["language"]) for s in listing["steps"]} == {
        ("CreateOrder", "api", "node"),
        ("PackOrder", "event", "python"),
        ("NotifyCustomer", "event", "node"),
        ("CountOrders", "cron", "python"),
    }
    assert [stream["name"] for stream in listing["streams"]] == ["orderStatus"]
    package = json.loads((project / "package.json").read_text())
    assert package["scripts"]["dev"] == "motiad dev ."
    assert "npm run dev" in (project / "README.md").read_text()


def test_the_starters_shipped_types_match_what_motiad_types_writes(tmp_path: Path) -> None:
    project = starter(tmp_path)

    regenerated = run_cli("types", str(project))

    assert regenerated.returncode == 0, regenerated.stderr
    shipped = files("motiad") / "templates" / "starter" / "types.d.ts"
    assert (project / "types.d.ts").read_text() == shipped.read_text(), (
        "the starter's types.d.ts is stale: copy the regenerated file over "
        "src/motiad/templates/starter/types.d.ts"
    )


async def test_the_tutorial_walks_a_newcomer_through_the_starter_flow(tmp_path: Path) -> None:
    project = starter(tmp_path)
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        open_page(f"{broker.url}/__motiad/") as page,
    ):
        await page.get_by_role("button", name="Tutorial", exact=True).click()
        tour = page.locator("#tutorial")
        await expect(tour).to_contain_text("Your first flow")
        for node in ("CreateOrder", "PackOrder", "NotifyCustomer", "CountOrders"):
            await expect(page.locator(f'[data-node="step:{node}"]')).to_be_visible()

        # the tester, with the API step chosen: Next waits for a request
        await page.locator("#tutorial-next").click()
        await expect(tour).to_contain_text("Send an order")
        await expect(page.locator("#tester-step")).to_have_value("CreateOrder")
        await expect(page.locator("#tutorial-next")).to_be_disabled()
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator("#tester-status")).to_have_text("201")
        await expect(page.locator("#tutorial-next")).to_be_enabled()

        # its trace: a span per step of the flow
        await page.locator("#tutorial-next").click()
        await expect(tour).to_contain_text("Its trace")
        for step in ("CreateOrder", "PackOrder", "NotifyCustomer"):
            row = page.locator(f'.span-row[data-span-step="{step}"]')
            await expect(row).to_have_attribute("data-outcome", "ok")

        # the logs of that trace
        await page.locator("#tutorial-next").click()
        await expect(tour).to_contain_text("The logs of each step")
        await expect(page.locator("main")).to_contain_text("is on its way")

        # the state PackOrder wrote
        await page.locator("#tutorial-next").click()
        await expect(tour).to_contain_text("The state it wrote")
        await expect(page.locator("main")).to_contain_text('"status": "packed"')

        # the stream, with the order notified
        await page.locator("#tutorial-next").click()
        await expect(tour).to_contain_text("A stream, live")
        await expect(page.locator("main")).to_contain_text("notified")

        # back goes back; Done, then Esc-free exit: the panel is gone
        await page.locator("#tutorial-back").click()
        await expect(tour).to_contain_text("The state it wrote")
        await page.locator("#tutorial-next").click()
        await page.locator("#tutorial-next").click()
        await expect(tour).to_contain_text("That's the tour")
        await page.locator("#tutorial-done").click()
        await expect(tour).to_be_hidden()


async def test_the_tutorial_button_hides_for_projects_without_the_tutorial_flow(
    tmp_path: Path,
) -> None:
    project = tmp_path / "plain"
    create_project(project, template="minimal")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        open_page(f"{broker.url}/__motiad/") as page,
    ):
        await expect(page.locator('[data-node="step:HelloApi"]')).to_be_visible()
        await expect(page.get_by_role("button", name="Tutorial", exact=True)).to_be_hidden()
