"""The reference row: quart on hypercorn, one worker, doing the JSON work of each
bench project's routes (``work.py``) with the standard library's ``json``, as
Quart does by default, without steps, pipes or storage. Quart's request pipeline
sits on top of what ``raw_asgi`` (the floor) does.

Run: ``python -m bench.peers.bare_quart --port N`` (from the repository root).
Hypercorn's default config (no access log) except the bind address, served
in-process by ``hypercorn.asyncio.serve`` on asyncio, as ``motiad run`` serves.

Routes: the quickstart's ``POST /messages``; ``GET /ping`` and ``GET /ping-py``
(``bench/projects/ping``); ``POST /orders`` and ``GET /runs/<run>``
(``bench/projects/chain``: the whole chain inline, its state in a dict).
"""

from __future__ import annotations

import json
from typing import Any

from quart import Quart, request

from .asgi import serve_main
from .work import Work

app = Quart("bare_quart")
_work = Work(json.dumps, json.loads)


@app.post("/messages")
async def send_message() -> dict[str, Any]:
    """SendMessage's work (``Work.send_message``)."""
    return _work.send_message(await request.get_json())


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
    """The whole chain inline (``Work.create_order``)."""
    return _work.create_order(await request.get_json())


@app.get("/runs/<run>")
async def get_run(run: str) -> dict[str, Any]:
    """GetRun (``Work.run_summary``)."""
    return _work.run_summary(run, bool(request.args.get("ids")))


@app.get("/health")
async def health() -> dict[str, Any]:
    """Readiness probe for the bench driver."""
    return {"ok": True}


def main() -> None:
    """Serve until SIGINT/SIGTERM (hypercorn installs the handlers)."""
    serve_main(app, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
