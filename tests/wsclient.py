"""A small WebSocket client for tests, on wsproto (hypercorn's own WebSocket
library) over an anyio socket: join streams, read what the broker pushes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import Extension


class ServerClosed(Exception):
    """The server closed the WebSocket; ``code`` says why."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"the server closed the connection (code {code})")
        self.code = code


class HandshakeRefused(Exception):
    """The server answered the handshake with an HTTP ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


class WsClient:
    """One connection. :meth:`receive` returns the next text message, decoded."""

    def __init__(self, stream: anyio.abc.SocketStream, connection: WSConnection) -> None:
        self._stream = stream
        self._ws = connection
        self._pending: list[Event] = []
        self._text = ""
        self.accepted: AcceptConnection | None = None

    async def _events(self) -> Event:
        while not self._pending:
            try:
                data = await self._stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                raise ServerClosed(None) from None
            self._ws.receive_data(data)
            self._pending.extend(self._ws.events())
        return self._pending.pop(0)

    async def _handshake(
        self,
        host: str,
        target: str,
        subprotocols: list[str],
        headers: list[tuple[str, str]],
        extensions: list[Extension],
    ) -> None:
        request = Request(
            host=host,
            target=target,
            subprotocols=subprotocols,
            extensions=extensions,
            extra_headers=[(k.encode(), v.encode()) for k, v in headers],
        )
        await self._stream.send(self._ws.send(request))
        event = await self._events()
        if isinstance(event, RejectConnection):
            raise HandshakeRefused(event.status_code)
        if not isinstance(event, AcceptConnection):
            raise AssertionError(f"handshake refused: {event!r}")
        self.accepted = event

    async def send_json(self, value: Any) -> None:
        """Send ``value`` as one text message."""
        await self._stream.send(self._ws.send(Message(data=json.dumps(value))))

    async def receive(self) -> Any:
        """The next text message, JSON-decoded; raises :class:`ServerClosed`. A
        cancelled call loses nothing: the part of a message read so far is kept."""
        while True:
            event = await self._events()
            if isinstance(event, TextMessage):
                self._text += event.data
                if event.message_finished:
                    text, self._text = self._text, ""
                    return json.loads(text)
            elif isinstance(event, CloseConnection):
                raise ServerClosed(event.code)
            elif isinstance(event, Ping):
                await self._stream.send(self._ws.send(event.response()))

    async def join(self, stream: str, group: str, id: str | None = None, sub: str = "s") -> Any:
        """Join a group (or one item) and return the ``sync`` the server answers with."""
        data = {"streamName": stream, "groupId": group, "subscriptionId": sub}
        if id is not None:
            data["id"] = id
        await self.send_json({"type": "join", "data": data})
        return await self.receive()


@asynccontextmanager
async def connect(
    url: str,
    subprotocols: list[str] | None = None,
    *,
    headers: dict[str, str] | None = None,
    host: str | None = None,
    extensions: list[Extension] | None = None,
) -> AsyncIterator[WsClient]:
    """Open ``ws://host:port/path?query`` (sending ``headers``, ``host`` as the
    Host header if given, offering ``extensions``); closed on exit. Raises
    :class:`HandshakeRefused`."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    stream = await anyio.connect_tcp(parts.hostname, parts.port)
    client = WsClient(stream, WSConnection(ConnectionType.CLIENT))
    try:
        with anyio.fail_after(10):
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            await client._handshake(
                host or f"{parts.hostname}:{parts.port}",
                target,
                subprotocols or [],
                list((headers or {}).items()),
                extensions or [],
            )
        yield client
    finally:
        await stream.aclose()
