"""A request body read as a stream (SPEC ``http.body-stream``, issue 24).

Motia 1.x hands an HTTP handler ``request.requestBody`` (iii's ChannelReader)
and its docs read it with ``for await (const chunk of
request.requestBody.stream)`` in TypeScript and ``async for chunk in
request.request_body.stream`` in Python (MotiaDev/motia at 9fd26441:
frameworks/motia/docs/content/docs/api-reference.mdx, "Handler Input" and the
SSE example; playground/steps/api-steps/sse.step.ts). The iii engine streams
every non-JSON body into that channel, 64 items deep (engine/src/modules/
rest_api/views.rs, ``create_channel(64, None)``), and parses JSON ones into
``body``. motiad parses every body as Motia 0.17 does, so streaming is asked
for per trigger (``streamBody``): such a handler gets ``body`` null and pulls
the bytes as it reads them, and a client that goes away fails its stream.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from motiad.request_stream import READ_CHUNK_BYTES, BodyCut, BodyStreamStats, RequestBodyStream

from .harness import FIXTURES, SDK_NODE_MODULES, motiad, run_cli

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
PIECE = 64 * 1024


def project(root: Path) -> Path:
    shutil.copytree(FIXTURES / "body_stream", root)
    (root / "node_modules").symlink_to(SDK_NODE_MODULES)
    return root


async def chunked_upload(
    url: str, path: str, size: int, *, complete: bool = True
) -> tuple[int, dict[str, Any] | None]:
    """POST ``size`` bytes with ``Transfer-Encoding: chunked`` over a raw
    socket, 64 KiB a chunk; without ``complete`` the connection is closed
    after them, mid-body. Returns the status and JSON body (``0, None`` when
    the body was cut)."""
    host, port = url.removeprefix("http://").split(":")
    async with await anyio.connect_tcp(host, int(port)) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        await sock.send(head.encode())
        piece = b"x" * PIECE
        sent = 0
        while sent < size:
            part = piece[: min(PIECE, size - sent)]
            await sock.send(b"%x\r\n%s\r\n" % (len(part), part))
            sent += len(part)
        if not complete:
            return 0, None
        await sock.send(b"0\r\n\r\n")
        answer = b""
        with anyio.fail_after(60):
            while not _complete(answer):
                answer += await sock.receive()
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_bytes.lower():
        body = _dechunk(body)
    return status, msgspec.json.decode(body)


async def announce(url: str, path: str, length: int) -> int:
    """The status of a POST that announces ``length`` bytes and sends none."""
    host, port = url.removeprefix("http://").split(":")
    async with await anyio.connect_tcp(host, int(port)) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n\r\n"
        await sock.send(head.encode())
        answer = b""
        with anyio.fail_after(30):
            while not _complete(answer):
                answer += await sock.receive()
    return int(answer.split(b" ", 2)[1])


def _complete(answer: bytes) -> bool:
    """A whole response (by its Content-Length, or its last chunk): the server
    may keep the connection open while the client's body is unread."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    if length is not None:
        return len(body) >= int(length.group(1))
    return body.endswith(b"0\r\n\r\n")


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


async def metric(http: httpx.AsyncClient, name: str) -> float:
    page = (await http.get("/__motiad/metrics")).text
    found = re.search(rf"^{name} (\S+)$", page, re.MULTILINE)
    assert found is not None, page
    return float(found.group(1))


@pytest.mark.parametrize("route", ["/upload", "/py/upload"])
async def test_a_1x_handler_reads_a_large_chunked_body_as_a_stream(
    tmp_path: Path, route: str
) -> None:
    size = 6 * MB + 123
    async with (
        motiad("run", str(project(tmp_path / "p")), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=60) as http,
    ):
        status, body = await chunked_upload(broker.url, route, size)
        assert status == 200, body
        assert body is not None
        assert body["bytes"] == size
        assert body["body"] is None  # streamed: not read whole into `body`
        assert body["chunks"] > 1
        assert await metric(http, "motiad_http_body_stream_bytes_total") == size
        assert await metric(http, "motiad_http_body_stream_buffered_bytes") == 0


async def test_a_slow_reader_holds_the_broker_to_a_chunk_at_a_time(tmp_path: Path) -> None:
    """Backpressure: the broker takes a piece of the body from the connection
    only when the handler asks for one, so however slowly it reads, the broker
    holds one piece (hypercorn's own queue, 10 messages of at most 64 KiB,
    holds the rest of what the socket has given), never the body."""
    size = 8 * MB
    async with (
        motiad("run", str(project(tmp_path / "p")), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=60) as http,
    ):
        status, body = await chunked_upload(broker.url, "/upload?delayMs=5", size)
        assert status == 200, body
        assert body is not None
        assert body["bytes"] == size
        held = await metric(http, "motiad_http_body_stream_buffered_bytes_max")
        assert 0 < held <= 256 * 1024, held


@pytest.mark.parametrize("route", ["/upload", "/py/upload"])
async def test_a_client_gone_mid_body_fails_the_handlers_stream(tmp_path: Path, route: str) -> None:
    async with (
        motiad("run", str(project(tmp_path / "p")), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=60) as http,
    ):
        await chunked_upload(broker.url, f"{route}?id=cut", 2 * MB, complete=False)
        with anyio.fail_after(30):
            while True:
                answer = await http.get("/__motiad/api/state/uploads")
                items = {i["key"]: i["value"] for i in answer.json()["items"]}
                if "cut" in items:
                    break
                await anyio.sleep(0.05)
        assert items["cut"]["name"] == "BodyStreamError"
        assert "closed the connection" in items["cut"]["error"]
        assert items["cut"]["bytes"] <= 2 * MB
        assert await metric(http, "motiad_http_body_stream_buffered_bytes") == 0


async def test_a_handler_without_stream_body_gets_the_whole_parsed_body(tmp_path: Path) -> None:
    async with (
        motiad("run", str(project(tmp_path / "p")), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=60) as http,
    ):
        answer = await http.post("/whole", json={"n": 1})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"bytes": len(b'{"n":1}'), "body": {"n": 1}}


async def test_a_streamed_body_over_the_limit_is_refused_by_its_length_or_cut(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "p")
    (root / "motiad.toml").write_text("max_body_bytes = 1048576\n")
    async with (
        motiad("run", str(root), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=60) as http,
    ):
        # refused on its Content-Length, before a byte of the body is read
        # (sent without its body: a server that answers early closes the connection)
        assert await announce(broker.url, "/upload", MB + 1) == 413
        status, body = await chunked_upload(broker.url, "/upload?id=big", MB + PIECE)
        assert status == 500, body
        state = (await http.get("/__motiad/api/state/uploads")).json()["items"]
        (big,) = [i["value"] for i in state if i["key"] == "big"]
        assert big["error"] == "the request body exceeds 1048576 bytes"


async def test_a_step_that_streams_its_body_and_has_a_body_schema_is_refused(
    tmp_path: Path,
) -> None:
    """A streamed body cannot be checked against bodySchema: the broker says so
    at start, naming the file and the field, rather than skip the check."""
    root = tmp_path / "p"
    steps = root / "steps"
    steps.mkdir(parents=True)
    (steps / "both_step.py").write_text(
        'config = {"name": "Both", "type": "api", "path": "/both", "method": "POST",\n'
        '          "streamBody": True, "bodySchema": {"type": "object"}}\n\n\n'
        "async def handler(req, context):\n"
        '    return {"status": 200}\n'
    )
    checked = run_cli("steps", str(root))
    assert checked.returncode != 0
    assert "steps/both_step.py" in checked.stdout + checked.stderr
    assert "config.streamBody" in checked.stdout + checked.stderr


# --- the broker's side, alone ------------------------------------------------------


def receiving(*messages: dict[str, Any]) -> Any:
    """An ASGI receive that gives ``messages`` in turn, counting the calls."""
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        receive.calls += 1  # type: ignore[attr-defined]
        return queue.pop(0)

    receive.calls = 0  # type: ignore[attr-defined]
    return receive


async def test_the_body_is_taken_from_the_connection_only_when_a_read_asks() -> None:
    stats = BodyStreamStats()
    big = b"y" * (READ_CHUNK_BYTES + 10)
    receive = receiving(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": big, "more_body": False},
    )
    body = RequestBodyStream(receive, 10 * MB, stats)
    assert receive.calls == 0
    assert await body.read() == (b"ab", False)
    assert (receive.calls, stats.buffered) == (1, 0)
    assert await body.read() == (big[:READ_CHUNK_BYTES], False)  # a piece too big is split
    assert (receive.calls, stats.buffered, stats.max_buffered) == (2, 10, len(big))
    assert await body.read() == (b"y" * 10, True)
    assert await body.read() == (b"", True)
    assert (receive.calls, stats.buffered, stats.streamed) == (2, 0, len(big) + 2)


async def test_a_disconnect_or_the_limit_cuts_the_body_for_every_later_read() -> None:
    stats = BodyStreamStats()
    gone = RequestBodyStream(
        receiving(
            {"type": "http.request", "body": b"abc", "more_body": True}, {"type": "http.disconnect"}
        ),
        10 * MB,
        stats,
    )
    assert await gone.read() == (b"abc", False)
    for _ in range(2):
        with pytest.raises(BodyCut, match="closed the connection after 3 bytes"):
            await gone.read()
    over = RequestBodyStream(
        receiving({"type": "http.request", "body": b"x" * 11, "more_body": True}), 10, stats
    )
    with pytest.raises(BodyCut, match="exceeds 10 bytes"):
        await over.read()
    held = RequestBodyStream(
        receiving({"type": "http.request", "body": b"z" * (READ_CHUNK_BYTES + 1)}), 10 * MB, stats
    )
    await held.read()
    assert stats.buffered == 1
    held.close()  # the invocation ended with a piece unread: it is dropped
    assert stats.buffered == 0


async def test_http_read_for_a_step_without_stream_body_is_refused(tmp_path: Path) -> None:
    """SPEC `http.body-stream`: -32602 at `$.params.invocationId`; the body
    the step got whole is not read twice."""
    async with (
        motiad("run", str(project(tmp_path / "p")), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url, timeout=60) as http,
    ):
        answer = await http.post("/py/no-stream", json={"n": 1})
        assert answer.status_code == 200, answer.text
        refused = answer.json()
        assert refused["code"] == -32602
        assert "has no request body to stream" in refused["message"]
        assert refused["data"] == {"path": "$.params.invocationId"}
