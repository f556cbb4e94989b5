"""The bounded line reader: whole lines, any chunking, over-long lines dropped."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from motiad.transport import HEAD_BYTES, BatchingLineSender, LineTooLong, read_lines

pytestmark = pytest.mark.anyio


async def collect(chunks: list[bytes], max_bytes: int) -> list[bytes | int]:
    send, receive = anyio.create_memory_object_stream[bytes](len(chunks) + 1)
    async with send:
        for chunk in chunks:
            await send.send(chunk)
    out: list[bytes | int] = []
    async with receive:
        # a memory stream of bytes quacks like a ByteReceiveStream
        async for line in read_lines(receive, max_bytes):  # type: ignore[arg-type]
            out.append(line.size if isinstance(line, LineTooLong) else line)
    return out


async def test_lines_split_across_chunks_are_joined() -> None:
    assert await collect([b'{"a"', b":1}\n{", b'"b":2}\n'], 100) == [b'{"a":1}', b'{"b":2}']


async def test_an_over_long_line_is_reported_and_reading_goes_on() -> None:
    lines = await collect([b"x" * 30, b"y" * 30 + b"\nok\n"], 50)
    assert lines == [60, b"ok"]


async def test_a_last_line_without_newline_is_kept() -> None:
    assert await collect([b"a\nb"], 10) == [b"a", b"b"]


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=8), st.data())
def test_any_chunking_gives_the_same_lines(lines: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    result = anyio.run(collect, [c for c in chunks if c], 30)
    assert result == [line if len(line) <= 30 else len(line) for line in lines]


@given(st.binary(min_size=31, max_size=400).map(lambda b: b.replace(b"\n", b"")), st.data())
def test_an_over_long_line_keeps_its_head_whatever_the_chunking(
    line: bytes, data: st.DataObject
) -> None:
    """SPEC `framing.max-line`: discarded but for its start (to say which request it
    answered), and the next line is read whole."""
    stream = line + b"\nnext\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]

    async def run() -> list[bytes | LineTooLong]:
        send, receive = anyio.create_memory_object_stream[bytes](len(chunks) + 1)
        async with send:
            for chunk in chunks:
                if chunk:
                    await send.send(chunk)
        async with receive:
            return [item async for item in read_lines(receive, 30)]  # type: ignore[arg-type]

    if len(line) <= 30:
        return
    too_long, following = anyio.run(run)
    assert isinstance(too_long, LineTooLong)
    assert too_long.size == len(line)
    assert too_long.head == line[:HEAD_BYTES]
    assert following == b"next"


async def test_lines_queued_in_one_turn_leave_in_one_write() -> None:
    # a memory stream records each write as one item: what a pipe cannot show
    send, receive = anyio.create_memory_object_stream[bytes](100)
    sender = BatchingLineSender(send)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(sender.run)
        for n in range(5):
            await sender.send(b"%d\n" % n)
        with anyio.fail_after(5):
            assert await receive.receive() == b"0\n1\n2\n3\n4\n"
        await sender.send(b"later\n")
        with anyio.fail_after(5):
            assert await receive.receive() == b"later\n"
        await sender.aclose()
        with pytest.raises(anyio.BrokenResourceError):
            await sender.send(b"after close\n")
    receive.close()
