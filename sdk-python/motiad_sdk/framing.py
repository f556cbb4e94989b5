"""NDJSON framing over the child's stdin/stdout (SPEC §1).

Three pieces: :func:`claim_stdio` takes the protocol channels away from user
code, :class:`LineSplitter` turns bytes into bounded lines without I/O, and
:class:`LineReader` / :class:`LineWriter` are thin asyncio shells around the two
file descriptors.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Callable
from typing import Final

_READ_CHUNK: Final = 256 * 1024
"""Bytes asked for per read: large enough that a multi-megabyte message takes
few wake-ups, small enough not to matter for memory."""


_PIPE_READ_BYTES: Final = 64 * 1024
"""Bytes the pipe transport asks for per read (asyncio's default, 256 KiB, is
past glibc's mmap threshold: every read then maps, shrinks and unmaps a buffer,
three system calls and fresh pages for a line of a few hundred bytes)."""


def claim_stdio() -> tuple[int, int]:
    """Take stdin/stdout for the protocol; return private ``(read_fd, write_fd)``.

    SPEC `framing.stdout-owned`: this runs before any user code is loaded. The
    protocol keeps private duplicates of fds 0 and 1; fd 1 then points at
    stderr (so ``print``, C extensions and subprocesses all land in the step's
    log) and fd 0 at ``/dev/null`` (so user code cannot steal protocol bytes).
    ``os.dup`` makes non-inheritable fds, so subprocesses never see the channel.
    """
    sys.stdout.flush()
    protocol_in = os.dup(0)
    protocol_out = os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
    finally:
        os.close(devnull)
    sys.stdout = sys.stderr
    return protocol_in, protocol_out


class LineTooLong:
    """Marker for a line over the limit; it was discarded (SPEC `framing.max-line`)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size  # bytes seen before giving up, for the error message


class LineSplitter:
    """Splits a byte stream into lines of at most ``max_line_bytes`` (newline excluded).

    An over-long line yields one :class:`LineTooLong` as soon as it crosses the
    limit; its remaining bytes are dropped up to and including the next newline,
    so memory stays bounded by the limit whatever the peer sends.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._pending = bytearray()
        self._discarding = False

    def feed(self, chunk: bytes) -> list[bytes | LineTooLong]:
        """Consume ``chunk``; return the lines (and over-long markers) it completed."""
        out: list[bytes | LineTooLong] = []
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            if self._discarding:
                self._discarding = False  # the over-long line ends here
            else:
                size = len(self._pending) + newline - start
                if size > self.max_line_bytes:
                    out.append(LineTooLong(size))
                elif self._pending:
                    self._pending += chunk[start:newline]
                    out.append(bytes(self._pending))
                else:
                    out.append(chunk[start:newline])
                self._pending.clear()
            start = newline + 1
        if not self._discarding and start < len(chunk):
            self._pending += chunk[start:]
            if len(self._pending) > self.max_line_bytes:
                out.append(LineTooLong(len(self._pending)))
                self._pending.clear()
                self._discarding = True
        return out


def _pollable(fd: int) -> bool:
    """Whether epoll can watch ``fd``: pipes, sockets and terminals can; regular
    files and devices such as ``/dev/null`` cannot (someone replaying a capture
    by hand), and reads and writes on those never block for long anyway."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


class _ReadProtocol(asyncio.Protocol):
    """Hands each chunk of the read pipe to a callback as it arrives."""

    def __init__(self, on_chunk: Callable[[bytes], None], on_end: Callable[[], None]) -> None:
        self._on_chunk = on_chunk
        self._on_end = on_end

    def data_received(self, data: bytes) -> None:
        self._on_chunk(data)

    def eof_received(self) -> bool:
        self._on_end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_end()  # a read error: the broker is gone too


class LineReader:
    """Reads chunks from a file descriptor without blocking the event loop."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._transport: asyncio.ReadTransport | None = None

    async def start(
        self, on_chunk: Callable[[bytes], None], on_end: Callable[[], None]
    ) -> asyncio.Task[None] | None:
        """Call ``on_chunk`` with each chunk read and ``on_end`` at end of file (or
        on a read error). A pipe is watched by the loop and its chunks handed over
        from its data callback: no task to wake per chunk. A file that cannot be
        polled is read by the task returned (``None`` for a pipe)."""
        if not _pollable(self._fd):
            return asyncio.get_running_loop().create_task(
                self._read_file(on_chunk, on_end), name="motiad-sdk reader"
            )
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self._fd, "rb", buffering=0, closefd=False)
        transport, _ = await loop.connect_read_pipe(lambda: _ReadProtocol(on_chunk, on_end), pipe)
        if hasattr(transport, "max_size"):
            transport.max_size = _PIPE_READ_BYTES
        self._transport = transport
        return None

    async def _read_file(
        self, on_chunk: Callable[[bytes], None], on_end: Callable[[], None]
    ) -> None:
        while True:
            await asyncio.sleep(0)  # stay fair to other tasks while reading a file
            try:
                chunk = os.read(self._fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                on_end()
                return
            on_chunk(chunk)

    def close(self) -> None:
        """Stop reading and release the pipe."""
        if self._transport is not None:
            self._transport.close()


class _WriteProtocol(asyncio.Protocol):
    """Flow control for the write pipe: tells :class:`LineWriter` when to wait."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.lost = asyncio.Event()
        self._on_lost = on_lost

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        self.can_write.set()  # wake writers so they see the pipe is gone
        self._on_lost()


class LineWriter:
    """The single writer of protocol lines.

    :meth:`write` hands a whole line to the transport synchronously, so lines
    from concurrent tasks can never interleave; callers that produce a lot may
    ``await`` :meth:`drain` to respect the pipe's backpressure.

    The first line of a turn of the event loop is written at once (no added
    latency); lines written later in the same turn are joined and written
    together when the turn ends, so a burst of answers costs two system calls
    (and two wake-ups of the broker), not one each.
    """

    def __init__(self, fd: int, on_lost: Callable[[], None]) -> None:
        self._fd = fd
        self._on_lost = on_lost  # told once the pipe is gone: nobody reads us any more
        self._transport: asyncio.WriteTransport | None = None
        self._protocol: _WriteProtocol | None = None
        self._closed = False
        self._in_turn = False  # a line went out this turn: later ones wait for its end
        self._queued: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop of the pipe's transport: asked once, as Python 3.11's
        ``get_running_loop`` makes a system call (``getpid``) each time."""

    async def open(self) -> None:
        """Attach the fd to the running loop (a pipe) or fall back to plain writes."""
        if not _pollable(self._fd):
            return
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self._fd, "wb", buffering=0, closefd=False)
        transport, protocol = await loop.connect_write_pipe(
            lambda: _WriteProtocol(self._mark_lost), pipe
        )
        self._transport, self._protocol = transport, protocol
        self._loop = loop

    @property
    def closed(self) -> bool:
        """Whether the pipe is gone; writes are then dropped."""
        if self._closed:
            return True
        return self._transport is not None and self._transport.is_closing()

    def write(self, line: bytes) -> None:
        """Queue one whole encoded line (newline included); dropped once closed."""
        if self.closed:
            return
        if self._transport is not None:
            if self._in_turn:
                self._queued.append(line)
                return
            self._transport.write(line)
            self._in_turn = True
            assert self._loop is not None  # set with the transport
            self._loop.call_soon(self._end_turn)
            return
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            self._mark_lost()

    def _end_turn(self) -> None:
        """Write the lines queued during the turn that just ended, in one write."""
        self._in_turn = False
        if self._queued:
            data = b"".join(self._queued)
            self._queued.clear()
            if self._transport is not None and not self.closed:
                self._transport.write(data)

    async def drain(self) -> None:
        """Wait while the pipe is over its high-water mark."""
        if self._protocol is not None:
            await self._protocol.can_write.wait()

    async def aclose(self, grace_s: float) -> None:
        """Flush what is queued (for at most ``grace_s`` seconds), then close."""
        if self._transport is not None and self._protocol is not None:
            self._end_turn()
            self._transport.close()  # closes once the buffer is written
            lost = asyncio.ensure_future(self._protocol.lost.wait())
            _, pending = await asyncio.wait({lost}, timeout=grace_s)
            if pending:
                lost.cancel()
                self._transport.abort()
        self._closed = True

    def _mark_lost(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_lost()
