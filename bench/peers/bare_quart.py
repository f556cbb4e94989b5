"""The floor: quart on hypercorn, one worker, doing the JSON work of each bench
project's routes without steps, pipes or storage.

Run: ``python -m bench.peers.bare_quart --port N`` (from the repository root).
Hypercorn's default config (no access log) except the bind address, served
in-process by ``hypercorn.asyncio.serve`` on asyncio, as ``motiad run`` serves.

Routes: the quickstart's ``POST /messages``; ``GET /ping`` and ``GET /ping-py``
(``bench/projects/ping``); ``POST /orders`` and ``GET /runs/<run>``
(``bench/projects/chain``: the whole chain inline, its state in a dict).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, request

app = Quart("bare_quart")

_runs: dict[str, dict[str, float]] = {}
"""Run id → order id → when its chain ended (epoch ms): the chain's state group."""
_orders: dict[str, dict[str, Any]] = {}
_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


@app.post("/messages")
async def send_message() -> dict[str, Any]:
    """What SendMessage does, minus the pipe: read the body, build and encode the event."""
    body = await request.get_json()
    # The event motiad would commit; here it is encoded and dropped.
    json.dumps({"topic": "message.sent", "data": {"text": body["text"]}})
    return {"ok": True}


@app.get("/ping")
async def ping() -> dict[str, Any]:
    """``GET /ping`` (PingTs)."""
    return {"pong": True}


@app.get("/ping-py")
async def ping_py() -> dict[str, Any]:
    """``GET /ping-py`` (PingPy)."""
    return {"pong": True}


@app.post("/orders")
async def create_order() -> dict[str, Any]:
    """The chain inline: CreateOrder's event, ProcessOrder's pricing and state write
    and its event, FinishOrder's state write and notification, each event JSON-encoded
    as a broker would store it."""
    body = await request.get_json()
    created = {"id": body["id"], "run": body["run"], "items": body["items"]}
    created["notify"] = body.get("notify")
    json.dumps({"topic": "order.created", "data": created})
    total = sum(item["qty"] * item["price"] for item in created["items"])
    order = {"id": created["id"], "total": round(total, 2), "items": len(created["items"])}
    _orders[created["id"]] = json.loads(json.dumps(order))
    processed = {"id": created["id"], "run": created["run"], "notify": created["notify"]}
    json.dumps({"topic": "order.processed", "data": processed})
    done_at = time.time() * 1000
    _runs.setdefault(created["run"], {})[created["id"]] = done_at
    if created["notify"]:
        message = json.dumps({"id": created["id"], "doneAt": done_at}).encode()
        _udp.sendto(message, ("127.0.0.1", int(created["notify"])))
    return {"id": created["id"]}


@app.get("/runs/<run>")
async def get_run(run: str) -> dict[str, Any]:
    """GetRun: how many orders of ``run`` finished, the first and last finish times,
    and with ``?ids=1`` their ids."""
    done = _runs.get(run, {})
    summary: dict[str, Any] = {
        "count": len(done),
        "first": min(done.values(), default=None),
        "last": max(done.values(), default=None),
    }
    if request.args.get("ids"):
        summary["ids"] = list(done)
    return summary


@app.get("/health")
async def health() -> dict[str, Any]:
    """Readiness probe for the bench driver."""
    return {"ok": True}


def main() -> None:
    """Serve until SIGINT/SIGTERM (hypercorn installs the handlers)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
