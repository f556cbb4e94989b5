"""The JSON work of each bench route, done inline by the floors (``raw_asgi``,
``bare_quart``) so that every floor does the same work and only the HTTP layer and
the JSON codec differ: build and encode the events a step would emit, price an
order, keep it and its finish time in dicts, send the chain's UDP notification.

Each floor passes its own codec: ``raw_asgi`` msgspec (as motiad's broker),
``bare_quart`` the standard library's ``json`` (as Quart's default provider).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

Encode = Callable[[Any], bytes | str]
Decode = Callable[[bytes | str], Any]


class Work:
    """The routes' work with one codec; its state stands for the projects' state groups."""

    def __init__(self, encode: Encode, decode: Decode) -> None:
        self.encode = encode
        self.decode = decode
        self.runs: dict[str, dict[str, float]] = {}
        """Run id → order id → when its chain ended (epoch ms): the chain's state group."""
        self.orders: dict[str, Any] = {}
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """What SendMessage does, minus the pipe: build and encode the event
        motiad would commit (here it is dropped)."""
        self.encode({"topic": "message.sent", "data": {"text": body["text"]}})
        return {"ok": True}

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chain inline: CreateOrder's event, ProcessOrder's pricing, state write
        and event, FinishOrder's state write and notification, each event encoded as
        a broker would store it."""
        created = {"id": body["id"], "run": body["run"], "items": body["items"]}
        created["notify"] = body.get("notify")
        self.encode({"topic": "order.created", "data": created})
        total = sum(item["qty"] * item["price"] for item in created["items"])
        order = {"id": created["id"], "total": round(total, 2), "items": len(created["items"])}
        self.orders[created["id"]] = self.decode(self.encode(order))
        processed = {"id": created["id"], "run": created["run"], "notify": created["notify"]}
        self.encode({"topic": "order.processed", "data": processed})
        done_at = time.time() * 1000
        self.runs.setdefault(created["run"], {})[created["id"]] = done_at
        if created["notify"]:
            message = self.encode({"id": created["id"], "doneAt": done_at})
            data = message.encode() if isinstance(message, str) else message
            self._udp.sendto(data, ("127.0.0.1", int(created["notify"])))
        return {"id": created["id"]}

    def run_summary(self, run: str, ids: bool) -> dict[str, Any]:
        """GetRun: how many orders of ``run`` finished, the first and last finish
        times, and with ``ids`` their ids."""
        done = self.runs.get(run, {})
        summary: dict[str, Any] = {
            "count": len(done),
            "first": min(done.values(), default=None),
            "last": max(done.values(), default=None),
        }
        if ids:
            summary["ids"] = list(done)
        return summary
