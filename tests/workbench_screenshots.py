"""Screenshots of every workbench view for the README (``docs/workbench/``).

Runs the quickstart (plus a step that fails, for a dead letter), sends a few
messages, and photographs each view in a real headless Chromium::

    .venv/bin/python -m tests.workbench_screenshots

Not a test: pytest does not collect it. ``flows-large.png`` feeds the flows
view a generated 36-step graph (the real page and layout, a made-up project)
to show how a big project reads.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
from playwright.async_api import Page, Route, expect

from .browser import open_page
from .harness import FIXTURES, QUICKSTART, REPO, make_project, motiad
from .test_streams import streams_project, todo

OUT = REPO / "docs" / "workbench"
WIDTH, HEIGHT = 1200, 720


def large_graph() -> dict[str, Any]:
    """A 36-step project in three flows: orders, billing and shipping."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    flows: list[dict[str, Any]] = []
    names = {
        "orders": [
            "CreateOrder",
            "ValidateCart",
            "ReserveStock",
            "PriceOrder",
            "ApplyCoupon",
            "ConfirmOrder",
            "NotifyBuyer",
            "AuditOrder",
            "CancelStale",
            "OrderReport",
            "FraudCheck",
            "ManualReview",
        ],
        "billing": [
            "ChargeCard",
            "RetryCharge",
            "IssueInvoice",
            "SendReceipt",
            "RefundOrder",
            "LedgerEntry",
            "TaxReport",
            "PayoutSeller",
            "DisputeOpened",
            "DisputeClosed",
            "BillingDigest",
            "CardExpiry",
        ],
        "shipping": [
            "PickItems",
            "PackBox",
            "BuyLabel",
            "HandToCarrier",
            "TrackParcel",
            "DeliveryFailed",
            "Reship",
            "Delivered",
            "AskReview",
            "ReturnRequested",
            "ReturnReceived",
            "ShippingSla",
        ],
    }
    for flow, steps in names.items():
        members: list[str] = []
        topics: list[str] = []
        flow_edges: list[str] = []
        for i, name in enumerate(steps):
            kind = (
                "api"
                if i == 0
                else "cron"
                if name.endswith(("Report", "Digest", "Sla", "Stale", "Expiry"))
                else "event"
            )
            if name in ("ManualReview", "DisputeClosed"):
                kind = "noop"
            trigger = {"api": f"POST /{flow}", "cron": "0 * * * *", "noop": "—"}.get(
                kind, f"{flow}.{i - 1}"
            )
            nodes.append(
                {
                    "id": f"step:{name}",
                    "kind": "step",
                    "name": name,
                    "type": kind,
                    "language": "python" if i % 3 == 1 else "node",
                    "file": f"steps/{flow}/{name}{'_step.py' if i % 3 == 1 else '.step.ts'}",
                    "trigger": trigger,
                    "description": None,
                    "flows": [flow],
                }
            )
            members.append(name)
            topic = f"{flow}.{i}"
            nodes.append({"id": f"topic:{topic}", "kind": "topic", "name": topic, "flows": [flow]})
            topics.append(topic)
            emit: dict[str, Any] = {
                "id": f"emit:{name}:{topic}",
                "from": f"step:{name}",
                "to": f"topic:{topic}",
                "kind": "emit",
                "virtual": kind == "noop",
                "label": None,
                "conditional": False,
            }
            edges.append(emit)
            flow_edges.append(emit["id"])
            for source in {i - 1, i - 2} if i % 4 == 3 else {i - 1}:
                if source >= 0 and kind not in ("api", "cron"):
                    sub: dict[str, Any] = {
                        "id": f"subscribe:{flow}.{source}:{name}",
                        "from": f"topic:{flow}.{source}",
                        "to": f"step:{name}",
                        "kind": "subscribe",
                        "virtual": kind == "noop",
                        "label": None,
                        "conditional": False,
                    }
                    edges.append(sub)
                    flow_edges.append(sub["id"])
        flows.append(
            {
                "name": flow,
                "default": False,
                "steps": members,
                "topics": topics,
                "edges": flow_edges,
            }
        )
    return {"nodes": nodes, "edges": edges, "flows": flows, "warnings": []}


async def shoot(page: Page, name: str) -> None:
    await page.mouse.move(0, HEIGHT - 1)  # no hover effects in the picture
    await page.screenshot(path=OUT / f"{name}.png")
    sys.stdout.write(f"wrote docs/workbench/{name}.png\n")


async def streams(tmp: Path) -> None:
    """The streams view, on the streams fixture with a few items."""
    project = streams_project(tmp / "streams")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        for item, title, done in (("milk", "Buy milk", True), ("bread", "Bake bread", False)):
            await todo(http, f"home/{item}", "set", {"title": title, "done": done})
        await todo(http, "work/report", "set", {"title": "Write the report", "done": False})
        async with open_page(
            f"{broker.url}/__motiad/#/streams/todo/home", width=WIDTH, height=HEIGHT
        ) as page:
            await expect(page.locator(".item[data-item]")).to_have_count(2)
            await shoot(page, "streams")


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(
            Path(tmp) / "quickstart", QUICKSTART / "steps", FIXTURES / "workbench"
        )
        async with motiad("run", str(project), "--port", "0") as broker:
            async with httpx.AsyncClient(base_url=broker.url) as http:
                for text in ("hello", "bonjour", "hola"):
                    sent = await http.post("/messages", json={"text": text})
                    await broker.wait_for(rf"StoreMessage {sent.headers['x-trace-id'][-8:]} Stored")
                await http.get("/messages/hello")
                await http.post(
                    "/__motiad/api/emit", json={"topic": "flaky.run", "data": {"job": 7}}
                )
                await broker.wait_for(r"moved to the dead-letter queue")
                trace_id = sent.headers["x-trace-id"]
            base = f"{broker.url}/__motiad/"
            async with open_page(base, width=WIDTH, height=HEIGHT) as page:
                await page.get_by_role("button", name="default").click()
                await expect(page.locator('[data-node="step:StoreMessage"]')).to_be_visible()
                await page.locator('[data-node="step:StoreMessage"]').click()
                await shoot(page, "flows")
                await page.goto(f"{base}#/traces")
                await expect(page.locator("tr[data-trace]")).to_have_count(5)
                await shoot(page, "traces")
                await page.goto(f"{base}#/traces/{trace_id}")
                await expect(page.locator(".span-row[data-span-step]")).to_have_count(3)
                await shoot(page, "trace")
                await page.goto(f"{base}#/logs")
                await expect(page.locator(".log-table tbody tr").first).to_be_visible()
                await shoot(page, "logs")
                await page.goto(f"{base}#/state/messages")
                await expect(page.locator(".item")).to_have_count(3)
                await shoot(page, "state")
                await page.goto(f"{base}#/dlq")
                await page.locator("tr[data-letter]").click()
                await expect(page.locator(".letter-error")).to_be_visible()
                await shoot(page, "dlq")
                await page.goto(f"{base}#/tester?step=SendMessage")
                await page.fill("#tester-body", '{\n  "text": "hello from the tester"\n}')
                await page.get_by_role("button", name="Send").click()
                await expect(page.locator("#tester-status")).to_have_text("200")
                await shoot(page, "tester")
            async with open_page(
                f"{base}#/traces/{trace_id}", color_scheme="dark", width=WIDTH, height=HEIGHT
            ) as page:
                await expect(page.locator(".span-row[data-span-step]")).to_have_count(3)
                await shoot(page, "trace-dark")
                await page.goto(f"{base}#/flows/default")
                await expect(page.locator('[data-node="step:StoreMessage"]')).to_be_visible()
                await shoot(page, "flows-dark")

            async def large(route: Route) -> None:
                await route.fulfill(json=large_graph())

            async with open_page(f"{base}#/flows/*", width=WIDTH, height=HEIGHT) as page:
                await page.route("**/__motiad/api/flows", large)
                await page.reload()
                await expect(page.locator('[data-node="step:CreateOrder"]')).to_be_visible()
                await shoot(page, "flows-large")
        await streams(Path(tmp))


if __name__ == "__main__":
    anyio.run(main)
