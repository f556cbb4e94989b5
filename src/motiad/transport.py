"""Newline-delimited framing over byte streams: a bounded line reader and a
single-writer line sender. No JSON here; see :mod:`motiad.protocol`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

READ_CHUNK = 65536
"""Bytes read from a pipe at once: also what a child's pipe transport asks the
kernel for (see :func:`_read_in_chunks`)."""

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
    _read_in_chunks(stream)
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


def _read_in_chunks(stream: ByteReceiveStream) -> None:
    """Make the asyncio pipe transport under ``stream`` (a child's stdout or
    stderr as anyio opens it on asyncio) read :data:`READ_CHUNK` bytes at a time.

    Hot path: asyncio asks for 256 KiB per read, past glibc's mmap threshold,
    so every read of a line of a few hundred bytes mapped a fresh buffer,
    shrank it and unmapped it: three system calls and new pages per read on top
    of the read itself. Any other stream is left as it is."""
    reader = getattr(stream, "_stream", None)
    transport = getattr(reader, "_transport", None)
    if getattr(transport, "max_size", 0) > READ_CHUNK:
        transport.max_size = READ_CHUNK  # type: ignore[union-attr]


class LineSender:
    """Writes whole lines to one stream; safe to share between tasks."""

    def __init__(self, stream: ByteSendStream) -> None:
        self._stream = stream
        self._lock = anyio.Lock()

    has_room = False
    """A send may always wait for the stream (no queue of its own)."""

    def send_nowait(self, line: bytes) -> None:
        """Never possible: see :attr:`has_room`."""
        raise anyio.WouldBlock

    async def send(self, line: bytes) -> None:
        """Write ``line`` (which ends in a newline) as one unit."""
        async with self._lock:
            await self._stream.send(line)

    async def aclose(self) -> None:
        """Close the stream: the reader on the other side sees end of file."""
        async with self._lock:
            await self._stream.aclose()


def _asyncio_writer(stream: ByteSendStream) -> asyncio.StreamWriter | None:
    """The asyncio ``StreamWriter`` under ``stream``, when it is a child's stdin as
    anyio opens it on asyncio (its ``StreamWriterWrapper`` keeps it as ``_stream``);
    ``None`` for any other stream."""
    inner = getattr(stream, "_stream", None)
    return inner if isinstance(inner, asyncio.StreamWriter) else None


class BatchingLineSender:
    """Whole lines to one stream from many tasks: the lines queued during one
    turn of the event loop leave in one write (on a child's pipe, two: see
    below). Under load the broker
    sends many small lines to a child (invocations, replies); one system call
    and one wake-up of the child for all of them costs both processes less
    than one each.

    Hot path: on a child's pipe (an asyncio ``StreamWriter`` under anyio's
    wrapper) lines go straight to the asyncio transport: the first line of a
    turn at once, the ones queued after it in the same turn together from a
    ``call_soon`` callback at its end; no writer task to wake and no anyio
    checkpoints per write. :meth:`run` then only waits for the transport to
    drain when the child is not reading. On any other stream :meth:`run` is
    the one writer task.

    :meth:`send` returns once the line is queued; a full queue (past
    ``high_water`` bytes, counting what the transport holds: the child stopped
    reading) makes senders wait, so a caller's own deadline still bounds it.
    Failures of the stream end :meth:`run` and make every later :meth:`send`
    raise ``anyio.BrokenResourceError``.
    """

    def __init__(self, stream: ByteSendStream, *, high_water: int = 1 << 20) -> None:
        self._stream = stream
        self._direct = _asyncio_writer(stream)
        self._high_water = high_water
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._flush_scheduled = False
        self._wake = anyio.Event()
        self._room = anyio.Event()
        self._room.set()
        self._broken: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        """Asked once (Python 3.11's ``get_running_loop`` makes a system call)."""

    @property
    def has_room(self) -> bool:
        """Whether :meth:`send` returns at once (queued, or raising for a closed pipe)."""
        if self._broken is not None:
            return True
        held = self._queued_bytes
        if self._direct is not None:
            held += self._direct.transport.get_write_buffer_size()
        return held < self._high_water

    async def send(self, line: bytes) -> None:
        """Queue ``line`` (which ends in a newline) for the writer."""
        while not self.has_room:
            if self._room.is_set():
                self._room = anyio.Event()
            self._wake.set()  # direct mode: run() waits for the transport to drain
            await self._room.wait()
        self.send_nowait(line)

    def send_nowait(self, line: bytes) -> None:
        """:meth:`send` for a caller that checked :attr:`has_room` (past the high
        water mark it still queues: the mark is a bound on waiting senders)."""
        if self._broken is not None:
            raise anyio.BrokenResourceError(f"the pipe is closed: {self._broken!r}")
        self._queued.append(line)
        self._queued_bytes += len(line)
        if self._direct is None:
            self._wake.set()
        elif not self._flush_scheduled:
            # The first line of a turn goes out at once (no added latency); the
            # ones queued after it in the same turn leave together at its end.
            self._flush_scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._end_turn)
            self._flush()

    def _end_turn(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        """Direct mode: write what is queued, in one write."""
        writer = self._direct
        if writer is None or not self._queued or self._broken is not None:
            return
        data = b"".join(self._queued)
        self._queued.clear()
        self._queued_bytes = 0
        if writer.is_closing():  # asyncio would drop the bytes with a warning
            self._fail(anyio.BrokenResourceError("the child closed its stdin"))
            return
        try:
            writer.write(data)
        except (RuntimeError, OSError) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self._broken = self._broken or exc
        self._room.set()
        self._wake.set()

    async def run(self) -> None:
        """The one writer (direct mode: the waiter for a full pipe). Returns
        when the stream fails or is closed."""
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                if self._direct is not None:
                    if self._broken is not None:
                        return
                    await self._direct.drain()  # until the child has read enough
                    self._room.set()
                    continue
                while self._queued:
                    data = b"".join(self._queued)
                    self._queued.clear()
                    self._queued_bytes = 0
                    self._room.set()
                    await self._stream.send(data)
                if self._broken is not None:
                    return  # closed by aclose()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self._fail(exc)

    async def aclose(self) -> None:
        """Close the stream: the reader on the other side sees end of file."""
        self._flush()
        self._fail(anyio.ClosedResourceError())
        await self._stream.aclose()
