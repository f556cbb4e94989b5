"""The HTTP floor: a bare ASGI app on hypercorn, one worker, default config, with
msgspec doing the JSON work of each bench project's route (``work.py``), as
motiad's broker does: no framework, no steps, no pipes, no storage. It does not
import motiad.

Run: ``python -m bench.peers.raw_asgi --port N`` (from the repository root).

Routes: the quickstart's ``POST /messages``; ``GET /ping`` and ``GET /ping-py``
(``bench/projects/ping``); ``POST /orders`` and ``GET /runs/<run>``
(``bench/projects/chain``: the whole chain inline, its state in a dict);
``GET /health``.
"""

from __future__ import annotations

import msgspec

from .asgi import Receive, Scope, Send, lifespan, read_body, respond, serve_main
from .work import Work

_encode = msgspec.json.Encoder().encode
_work = Work(_encode, msgspec.json.decode)
_NOT_FOUND = _encode({"error": "not found"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Route by method and path; every answer is JSON."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    method, path = scope["method"], scope["path"]
    if method == "GET" and path in ("/ping", "/ping-py"):
        # Encoded per request, as a step's answer would be.
        await respond(send, 200, _encode({"pong": True}))
    elif method == "POST" and path == "/messages":
        body = msgspec.json.decode(await read_body(receive))
        await respond(send, 200, _encode(_work.send_message(body)))
    elif method == "POST" and path == "/orders":
        body = msgspec.json.decode(await read_body(receive))
        await respond(send, 200, _encode(_work.create_order(body)))
    elif method == "GET" and path.startswith("/runs/"):
        ids = b"ids=" in scope["query_string"]
        await respond(send, 200, _encode(_work.run_summary(path[len("/runs/") :], ids)))
    elif path == "/health":
        await respond(send, 200, b'{"ok":true}')
    else:
        await respond(send, 404, _NOT_FOUND)


def main() -> None:
    """Serve until SIGINT/SIGTERM (hypercorn installs the handlers)."""
    serve_main(app, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
