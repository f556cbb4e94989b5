"""WebSocket text messages framed once and written straight to the sockets of
hypercorn's connections: the stream socket sends each change to every
subscriber, and hypercorn's way for one message (the ASGI ``send``, wsproto's
framing, the protocol's events, a lock and a drain: ~10 µs of Python) would be
paid once per subscriber. A server's frame is not masked (RFC 6455 §5.1), so
one change's frame is the same bytes for every client: built once, then one
``transport.write`` per client.

Reached only for a connection that hypercorn's asyncio server serves over
HTTP/1.1 (found from the ASGI ``send`` callable, see :meth:`RawSocket.of`);
any other (HTTP/2, another server or version) sends through ASGI as before.
A connection that negotiated permessage-deflate gets these frames
uncompressed, which the extension allows (RFC 7692 §6: only a message with
RSV1 set is compressed; the compression context is the sender's own and these
messages do not touch it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from wsproto.connection import ConnectionState

WRITE_LIMIT = 64 * 1024
"""Bytes waiting in a connection's transport above which messages are queued
instead (and go through hypercorn, which waits for the socket to drain):
asyncio's own high-water mark, so a client that reads keeps the fast way."""


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying ``payload`` (UTF-8)."""
    length = len(payload)
    if length < 126:
        head = bytes((0x81, length))
    elif length < 65536:
        head = b"\x81\x7e" + length.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + length.to_bytes(8, "big")
    return head + payload


class Outgoing:
    """One message, encoded once for any number of connections: its frame for
    :class:`RawSocket`, its text for an ASGI ``websocket.send``, each made when
    first asked for."""

    __slots__ = ("_frame", "_text", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        """The message's JSON (UTF-8)."""
        self._frame: bytes | None = None
        self._text: str | None = None

    @property
    def frame(self) -> bytes:
        """The message as one text frame."""
        if self._frame is None:
            self._frame = text_frame(self.payload)
        return self._frame

    @property
    def text(self) -> str:
        """The message as text (ASGI's ``websocket.send`` takes a str)."""
        if self._text is None:
            self._text = self.payload.decode()
        return self._text


class RawSocket:
    """The transport under one accepted hypercorn WebSocket, written to directly
    while the WebSocket is open and the transport keeps up."""

    __slots__ = ("_stream", "_transport")

    def __init__(self, stream: WSStream, transport: asyncio.WriteTransport) -> None:
        self._stream = stream
        self._transport = transport

    @classmethod
    def of(cls, send: Any) -> RawSocket | None:
        """The raw socket under the ASGI ``send`` of an accepted connection, or
        ``None`` when it is not hypercorn's asyncio HTTP/1.1 WebSocket (the
        ``send`` is ``WSStream.app_send``, whose stream sends through
        ``H11Protocol.stream_send`` to ``TCPServer.protocol_send``)."""
        stream = getattr(send, "__self__", None)
        if not isinstance(stream, WSStream) or stream.state != ASGIWebsocketState.CONNECTED:
            return None
        protocol = getattr(stream.send, "__self__", None)
        if not isinstance(protocol, H11Protocol):
            return None
        server = getattr(protocol.send, "__self__", None)
        if not isinstance(server, TCPServer):
            return None
        return cls(stream, server.writer.transport)

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` now; ``False`` (nothing written) when the WebSocket
        is closing or closed, or the transport is :data:`WRITE_LIMIT` behind:
        the caller sends it through ASGI then, after what it queued before."""
        stream, transport = self._stream, self._transport
        if (
            stream.closed
            or stream.connection.state is not ConnectionState.OPEN
            or transport.is_closing()
            or transport.get_write_buffer_size() > WRITE_LIMIT
        ):
            return False
        transport.write(frame)
        return True
