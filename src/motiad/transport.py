"""Newline-delimited framing over byte streams: a bounded line reader and a
single-writer line sender. No JSON here; see :mod:`motiad.protocol`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

READ_CHUNK = 65536


class LineTooLong:
    """Stands in for a line that exceeded the limit; its bytes were discarded."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __repr__(self) -> str:
        return f"LineTooLong({self.size})"


async def read_lines(
    stream: ByteReceiveStream, max_bytes: int
) -> AsyncIterator[bytes | LineTooLong]:
    """Yield each line of ``stream`` without its newline.

    A line longer than ``max_bytes`` is never buffered whole: it is discarded
    as it arrives and reported as one :class:`LineTooLong`, and reading goes
    on at the next line (SPEC ``framing.max-line``). A last line without a
    newline is yielded at end of stream.
    """
    buffer = bytearray()
    discarding = 0  # bytes dropped so far of an over-long line, 0 when not discarding
    async for chunk in stream:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                rest = len(chunk) - start
                if discarding:
                    discarding += rest
                elif len(buffer) + rest > max_bytes:
                    discarding = len(buffer) + rest
                    buffer.clear()
                else:
                    buffer += chunk[start:]
                break
            size = end - start
            if discarding:
                yield LineTooLong(discarding + size)
                discarding = 0
            elif len(buffer) + size > max_bytes:
                yield LineTooLong(len(buffer) + size)
                buffer.clear()
            elif buffer:
                buffer += chunk[start:end]
                yield bytes(buffer)
                buffer.clear()
            else:
                yield chunk[start:end]
            start = end + 1
    if discarding:
        yield LineTooLong(discarding)
    elif buffer:
        yield bytes(buffer)


class LineSender:
    """Writes whole lines to one stream; safe to share between tasks."""

    def __init__(self, stream: ByteSendStream) -> None:
        self._stream = stream
        self._lock = anyio.Lock()

    async def send(self, line: bytes) -> None:
        """Write ``line`` (which ends in a newline) as one unit."""
        async with self._lock:
            await self._stream.send(line)

    async def aclose(self) -> None:
        """Close the stream: the reader on the other side sees end of file."""
        async with self._lock:
            await self._stream.aclose()
