"""Newline-delimited framing over byte streams: a bounded line reader and a
single-writer line sender. No JSON here; see :mod:`motiad.protocol`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

READ_CHUNK = 65536

HEAD_BYTES = 256
"""How much of an over-long line is kept, to say what it was (and, for a
response, which request it answered)."""


class LineTooLong:
    """Stands in for a line that exceeded the limit; its bytes were discarded
    except the first :data:`HEAD_BYTES`."""

    __slots__ = ("head", "size")

    def __init__(self, size: int, head: bytes = b"") -> None:
        self.size = size
        self.head = head

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
    head = b""
    async for chunk in stream:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                rest = len(chunk) - start
                if discarding:
                    discarding += rest
                    head += chunk[start : start + max(0, HEAD_BYTES - len(head))]
                elif len(buffer) + rest > max_bytes:
                    discarding = len(buffer) + rest
                    head = bytes(buffer[:HEAD_BYTES]) + chunk[start : start + HEAD_BYTES]
                    buffer.clear()
                else:
                    buffer += chunk[start:]
                break
            size = end - start
            if discarding:
                head += chunk[start : min(end, start + max(0, HEAD_BYTES - len(head)))]
                yield LineTooLong(discarding + size, head[:HEAD_BYTES])
                discarding = 0
            elif len(buffer) + size > max_bytes:
                head = bytes(buffer[:HEAD_BYTES]) + chunk[start : min(end, start + HEAD_BYTES)]
                yield LineTooLong(len(buffer) + size, head[:HEAD_BYTES])
                buffer.clear()
            elif buffer:
                buffer += chunk[start:end]
                yield bytes(buffer)
                buffer.clear()
            else:
                yield chunk[start:end]
            start = end + 1
    if discarding:
        yield LineTooLong(discarding, head[:HEAD_BYTES])
    elif buffer:
        yield bytes(buffer)


class LineSender:
    """Writes whole lines to one stream; safe to share between tasks."""

    def __init__(self, stream: ByteSendStream) -> None:
        self._stream = stream
        self._lock = anyio.Lock()

    has_room = False
    """A send may always wait for the stream (no queue of its own)."""

    async def send(self, line: bytes) -> None:
        """Write ``line`` (which ends in a newline) as one unit."""
        async with self._lock:
            await self._stream.send(line)

    async def aclose(self) -> None:
        """Close the stream: the reader on the other side sees end of file."""
        async with self._lock:
            await self._stream.aclose()


class BatchingLineSender:
    """Whole lines to one stream from many tasks, written by one writer task
    (:meth:`run`): every line queued during one turn of the event loop leaves
    in a single write. Under load the broker sends many small lines to a child
    (invocations, replies); one system call and one wake-up of the child for
    all of them costs both processes less than one each.

    :meth:`send` returns once the line is queued; a full queue (past
    ``high_water`` bytes: the child stopped reading) makes senders wait, so a
    caller's own deadline still bounds it. Failures of the stream end
    :meth:`run` and make every later :meth:`send` raise
    ``anyio.BrokenResourceError``.
    """

    def __init__(self, stream: ByteSendStream, *, high_water: int = 1 << 20) -> None:
        self._stream = stream
        self._high_water = high_water
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._wake = anyio.Event()
        self._room = anyio.Event()
        self._room.set()
        self._broken: BaseException | None = None

    @property
    def has_room(self) -> bool:
        """Whether :meth:`send` returns at once (queued, or raising for a closed pipe)."""
        return self._broken is not None or self._queued_bytes < self._high_water

    async def send(self, line: bytes) -> None:
        """Queue ``line`` (which ends in a newline) for the writer."""
        while self._broken is None and self._queued_bytes >= self._high_water:
            if self._room.is_set():
                self._room = anyio.Event()
            await self._room.wait()
        if self._broken is not None:
            raise anyio.BrokenResourceError(f"the pipe is closed: {self._broken!r}")
        self._queued.append(line)
        self._queued_bytes += len(line)
        self._wake.set()

    async def run(self) -> None:
        """The one writer. Returns when the stream fails or is closed."""
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                while self._queued:
                    data = b"".join(self._queued)
                    self._queued.clear()
                    self._queued_bytes = 0
                    self._room.set()
                    await self._stream.send(data)
                if self._broken is not None:
                    return  # closed by aclose()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._broken = exc
            self._room.set()

    async def aclose(self) -> None:
        """Close the stream: the reader on the other side sees end of file."""
        self._broken = self._broken or anyio.ClosedResourceError()
        self._room.set()
        self._wake.set()
        await self._stream.aclose()
