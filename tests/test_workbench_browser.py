"""The workbench in a real headless Chromium, on the quickstart (plus a step
that fails until it is fixed): the flow, a message sent from the tester, its
trace with a span per step and their logs, the state it left, the logs view,
and a dead letter redriven."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from .browser import open_page
from .harness import FIXTURES, QUICKSTART, make_project, motiad
from .test_streams import streams_project, todo

pytestmark = pytest.mark.anyio
# auto-waiting expectations: generous, as the machine may be busy (nothing sleeps)
expect.set_options(timeout=20_000)


async def test_a_message_sent_from_the_workbench_is_traced_and_a_dead_letter_redriven(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps", FIXTURES / "workbench")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        open_page(f"{broker.url}/__motiad/") as page,
    ):
        # flows: the quickstart's steps and topic, in the default flow; Flaky in "ops"
        await page.get_by_role("button", name="default").click()
        for node in ("SendMessage", "ProcessMessage", "StoreMessage", "GetMessage"):
            await expect(page.locator(f'[data-node="step:{node}"]')).to_be_visible()
        await expect(page.locator('[data-node="topic:message.sent"]')).to_be_visible()
        await expect(page.locator('[data-node="step:Flaky"]')).to_have_count(0)
        await page.get_by_role("button", name="ops").click()
        await expect(page.locator('[data-node="step:Flaky"]')).to_be_visible()
        await page.locator('[data-node="step:Flaky"]').click()
        await expect(page.locator(".details")).to_contain_text("Fails until the project")

        # tester: POST /messages, then its trace
        await page.keyboard.press("7")
        await page.select_option("#tester-step", "SendMessage")
        await page.fill("#tester-body", '{"text": "hello"}')
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator("#tester-status")).to_have_text("200")
        await page.locator("#tester-trace").click()
        await expect(page.locator(".span-row[data-span-step]")).to_have_count(3)
        for step, depth in (("SendMessage", 0), ("ProcessMessage", 1), ("StoreMessage", 1)):
            row = page.locator(f'.span-row[data-span-step="{step}"]')
            await expect(row).to_have_attribute("data-outcome", "ok")
            # a tree: the subscribers under the API step that emitted their event
            await expect(row).to_have_attribute("data-depth", str(depth))
        await expect(
            page.locator('.span-row[data-span-step="StoreMessage"] .log-line')
        ).to_contain_text("Stored message")
        await expect(
            page.locator('.span-row[data-span-step="ProcessMessage"] .log-line')
        ).to_contain_text("Processing message")

        # traces: the list has it, started by SendMessage
        await page.keyboard.press("2")
        await expect(page.locator("tr[data-trace]")).to_have_count(1)
        await expect(page.locator("tr[data-trace]")).to_contain_text("SendMessage POST /messages")

        # state: the message StoreMessage kept
        await page.keyboard.press("4")
        await page.locator('[data-group="messages"]').click()
        await expect(page.locator('.item[data-key="hello"]')).to_contain_text('"text": "hello"')

        # tester: GET /messages/:text with the path parameter filled in
        await page.locator("main").click(position={"x": 5, "y": 5})
        await page.keyboard.press("7")
        await page.select_option("#tester-step", "GetMessage")
        await page.get_by_label("text", exact=True).fill("hello")
        await expect(page.locator("#tester-path")).to_have_value("/messages/hello")
        await page.get_by_role("button", name="Send").click()
        await expect(page.locator("#tester-status")).to_have_text("200")
        await expect(page.locator(".tester pre.json")).to_contain_text('"text": "hello"')

        # flows: find a step by name
        await page.locator("main").click(position={"x": 5, "y": 5})
        await page.keyboard.press("1")
        await expect(page.locator("[data-node]").first).to_be_visible()  # the view is drawn
        await page.keyboard.press("/")
        # keys typed before the field has the focus would go to the shortcuts
        await expect(page.get_by_role("searchbox", name="Find a step or topic")).to_be_focused()
        await page.keyboard.type("storem")
        await expect(page.locator(".details h2")).to_have_text("StoreMessage")
        await page.keyboard.press("Escape")  # out of the field, back to the shortcuts

        # logs: filtered by text
        await page.keyboard.press("3")
        await page.get_by_label("Search messages").fill("stored")
        await expect(page.locator(".log-table tbody tr")).to_have_count(1)
        await expect(page.locator(".log-table tbody tr")).to_contain_text("StoreMessage")

        # a dead letter: emitted from the tester, failed for good, fixed, redriven
        await page.locator("main").click(position={"x": 5, "y": 5})
        await page.keyboard.press("7")
        await page.get_by_role("button", name="Emit an event").click()
        await page.select_option("#tester-topic", "flaky.run")
        await page.fill("#tester-data", '{"job": 7}')
        await page.get_by_role("button", name="Emit", exact=True).click()
        await expect(page.locator("#tester-status")).to_have_text("emitted")
        await page.get_by_role("link", name="Dead letters").click()
        letter = page.locator("tr[data-letter]")
        await expect(letter).to_contain_text("Flaky")
        await letter.click()
        await expect(page.locator(".letter-error")).to_have_text(
            "NonRetryableError: not fixed yet (job 7)"
        )
        (project / "fixed").touch()
        await page.get_by_role("button", name="Redrive", exact=True).click()
        await expect(page.get_by_text("No dead letters")).to_be_visible()
        await broker.wait_for(r"Flaky \S+ fixed now .*\"job\":7")

        # the theme follows a toggle
        await page.keyboard.press("t")
        await expect(page.locator("html")).to_have_attribute("data-theme", "dark")


async def test_the_printed_address_opens_a_workbench_that_needs_a_token(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", QUICKSTART / "steps")
    async with motiad("run", str(project), "--port", "0", "--host", "0.0.0.0") as broker:
        found = await broker.wait_for(r"workbench: http://\S+:(\d+)(/__motiad/\?token=\S+)")
        port, path = found.group(1), found.group(2)
        async with open_page(f"http://127.0.0.1:{port}{path}") as page:
            # the token went into a cookie: the page, its modules and the live stream load
            await expect(page).to_have_url(f"http://127.0.0.1:{port}/__motiad/")
            await expect(page.locator('[data-node="step:SendMessage"]')).to_be_visible()
            await expect(page.locator("#live")).to_have_attribute("data-state", "live")
        async with open_page(f"http://127.0.0.1:{port}/__motiad/") as page:
            heading = page.get_by_role("heading", name="This workbench needs its token")
            await expect(heading).to_be_visible()


async def test_the_streams_view_shows_items_as_they_change(tmp_path: Path) -> None:
    project = streams_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
        open_page(f"{broker.url}/__motiad/#/streams/todo") as page,
    ):
        await expect(page.locator('[data-stream="todo"]')).to_be_visible()
        await expect(page.locator("#live")).to_have_attribute("data-state", "live")
        await todo(http, "home/milk", "set", {"title": "milk", "done": False})
        await expect(page.locator('[data-group="home"]')).to_be_visible()
        await expect(page.locator('.item[data-item="milk"]')).to_contain_text('"done": false')
        await todo(http, "home/milk", "set", {"title": "milk", "done": True})
        await expect(page.locator('.item[data-item="milk"]')).to_contain_text('"done": true')
