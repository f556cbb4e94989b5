"""A streamed HTTP request body (SPEC ``http.body-stream``): what the HTTP edge
gives the broker so that a handler can read the body chunk by chunk with
``http.read`` (Motia 1.x's ``request.requestBody.stream``) instead of getting
it whole in its input.

The broker pulls: each ``http.read`` takes the next chunk from the connection
only when the child asks for it, so a slow reader leaves the rest of the body
in the server's small buffers and the client's socket (backpressure), never
in the broker's memory. :class:`BodyStreamStats` counts what the streams hold
at once, for the metrics page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

READ_CHUNK_BYTES = 256 * 1024
"""Largest chunk one ``http.read`` answers with (base64: a third more on the
line, far below the line limit); a larger piece from the server is handed out
in parts."""


class BodyCut(Exception):
    """The body ended before its end: the client went away, or it outgrew the limit."""


class BodyStreamStats:
    """What the request body streams of one broker hold at once: the bytes
    read from connections and not yet answered to a child."""

    __slots__ = ("buffered", "max_buffered", "streamed")

    def __init__(self) -> None:
        self.buffered = 0
        """Bytes held now, across every stream."""
        self.max_buffered = 0
        """The most :attr:`buffered` has been since the broker started."""
        self.streamed = 0
        """Bytes handed to children so far."""

    def hold(self, size: int) -> None:
        """``size`` more bytes are held."""
        self.buffered += size
        self.max_buffered = max(self.max_buffered, self.buffered)

    def release(self, size: int, *, handed: bool) -> None:
        """``size`` bytes are no longer held (``handed``: a child got them)."""
        self.buffered -= size
        if handed:
            self.streamed += size


class RequestBodyStream:
    """One request's body, read from ``receive`` (an ASGI receive callable)
    one ``http.read`` at a time; at most one piece of the body is held."""

    def __init__(
        self,
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        limit: int,
        stats: BodyStreamStats,
    ) -> None:
        self._receive = receive
        self._limit = limit
        self._stats = stats
        self._held = b""
        self._size = 0
        self._ended = False
        self._cut: str | None = None
        self._lock = asyncio.Lock()  # reads are answered in order, one at a time

    async def read(self) -> tuple[bytes, bool]:
        """The next chunk and whether the body has ended (``b""``, ``True`` at
        and after the end). Raises :class:`BodyCut` when it was cut short."""
        async with self._lock:
            if self._cut is not None:
                raise BodyCut(self._cut)
            while not self._held and not self._ended:
                await self._fill()
            chunk = self._held[:READ_CHUNK_BYTES]
            self._held = self._held[len(chunk) :]
            self._stats.release(len(chunk), handed=True)
            return chunk, self._ended and not self._held

    async def _fill(self) -> None:
        message = await self._receive()
        if message.get("type") == "http.disconnect":
            self._fail(f"the client closed the connection after {self._size} bytes of the body")
        piece = message.get("body", b"")
        self._size += len(piece)
        if self._size > self._limit:
            self._fail(f"the request body exceeds {self._limit} bytes")
        self._held = piece
        self._stats.hold(len(piece))
        self._ended = not message.get("more_body", False)

    def _fail(self, why: str) -> None:
        self._cut = why
        raise BodyCut(why)

    def close(self) -> None:
        """The invocation is over: what is still held is dropped."""
        self._stats.release(len(self._held), handed=False)
        self._held = b""
        if not self._ended and self._cut is None:
            self._cut = "the invocation has finished"
