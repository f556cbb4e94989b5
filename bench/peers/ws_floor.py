"""The fan-out floor: hypercorn serving a bare ASGI app that speaks the stream
WebSocket protocol (join → sync, then changes) with nothing behind it: ``POST
/feed {count, group}`` encodes and frames each change once and writes the same
frame straight to every joined connection's socket (motiad's own
:mod:`motiad.http.ws_frames`, the cheapest way hypercorn allows; through ASGI,
in order, when a socket falls behind), yielding to the event loop between
changes as an awaited ``set`` would. No child, no storage, no validation.

Run: ``python -m bench.peers.ws_floor --port N`` (from the repository root).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import msgspec

from motiad.http.ws_frames import Outgoing, RawSocket

from .asgi import Receive, Scope, Send, lifespan, read_body, respond, serve_main

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class _Connection:
    def __init__(self, group: str, raw: RawSocket | None) -> None:
        self.group = group
        self.raw = raw
        self.queue: deque[Outgoing] = deque()
        self.sending = False
        self.ready = asyncio.Event()

    def offer(self, message: Outgoing) -> None:
        if not self.queue and not self.sending and self.raw and self.raw.write(message.frame):
            return
        self.queue.append(message)
        self.ready.set()

    async def write(self, send: Send) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.queue:
                self.sending = True
                await send({"type": "websocket.send", "text": self.queue.popleft().text})
                self.sending = False


_connections: set[_Connection] = set()


async def _websocket(receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    join = await receive()
    if join["type"] != "websocket.receive":
        return
    data = _decode(join.get("text") or "")["data"]
    connection = _Connection(data["groupId"], RawSocket.of(send))
    sync = {
        "streamName": data["streamName"],
        "groupId": data["groupId"],
        "timestamp": int(time.time() * 1000),
        "event": {"type": "sync", "data": []},
    }
    await send({"type": "websocket.send", "text": _encode(sync).decode()})
    _connections.add(connection)
    writer = asyncio.create_task(connection.write(send))
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        _connections.discard(connection)
        writer.cancel()


async def _feed(receive: Receive, send: Send) -> None:
    request = _decode(await read_body(receive))
    count, group = request["count"], request["group"]
    started = time.perf_counter()
    for n in range(count):
        item = {"n": n, "t": time.time() * 1000, "id": "item"}
        change = {
            "streamName": "feed",
            "groupId": group,
            "id": "item",
            "timestamp": int(time.time() * 1000),
            "event": {"type": "update", "data": item},
        }
        message = Outgoing(_encode(change))
        for connection in _connections:
            if connection.group == group:
                connection.offer(message)
        await asyncio.sleep(0)
    answer = _encode({"count": count, "ms": (time.perf_counter() - started) * 1000})
    await respond(send, 200, answer)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /health``, ``POST /feed`` and WebSocket joins at any path."""
    if scope["type"] == "websocket":
        await _websocket(receive, send)
    elif scope["type"] == "http" and scope["path"] == "/feed":
        await _feed(receive, send)
    elif scope["type"] == "http":
        await respond(send, 200, b'{"ok":true}')
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    serve_main(app, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    main()
