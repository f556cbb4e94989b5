"""The floor: quart on hypercorn, one worker, doing the JSON work of the quickstart's
``POST /messages`` without steps, pipes or storage.

Run: ``python -m bench.peers.bare_quart --port N`` (from the repository root).
Hypercorn's default config (no access log) except the bind address, served
in-process by ``hypercorn.asyncio.serve`` on asyncio, as ``motiad run`` serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, request

app = Quart("bare_quart")


@app.post("/messages")
async def send_message() -> dict[str, Any]:
    """What SendMessage does, minus the pipe: read the body, build and encode the event."""
    body = await request.get_json()
    # The event motiad would commit; here it is encoded and dropped.
    json.dumps({"topic": "message.sent", "data": {"text": body["text"]}})
    return {"ok": True}


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
