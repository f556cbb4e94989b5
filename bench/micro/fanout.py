"""The fan-out benchmark's clients, in a process of their own: N WebSocket
clients join one stream group (Motia's client protocol), then one ``POST /feed
{count, group}`` starts the server's set loop; every client reads every change.

Prints one JSON line: changes/s (count / (last receipt at the slowest client -
the first set's clock)), p50/p99 of set → receive over every (client, change),
clients cut off, changes never received, and this process's CPU.

The client is hand-rolled (a handshake and a frame reader, a few lines each) so
that reading 100 x count frames costs the measuring process little: server
frames are unmasked and, here, never fragmented.

Run: ``python -m bench.micro.fanout --base-url http://127.0.0.1:PORT --clients 100
--count 2000``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse
from typing import Any

import msgspec

DEADLINE_S = 120.0
"""Longest a measurement may take, whatever happens: far above a healthy run."""
OP_TEXT, OP_CLOSE, OP_PING = 0x1, 0x8, 0x9


class _Item(msgspec.Struct):
    n: int
    t: float


class _Event(msgspec.Struct):
    type: str
    data: _Item | list[Any] | None = None


class _Message(msgspec.Struct):
    event: _Event


_decode = msgspec.json.Decoder(_Message).decode


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455: clients mask)."""
    mask = os.urandom(4)
    length = len(payload)
    head = bytes([0x80 | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + length.to_bytes(8, "big")
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + masked


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


class Client:
    """One subscriber: its receive latencies and whether it saw the last change."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count
        self.latencies: list[float] = []
        self.last_at = 0.0
        self.cut_off = False
        self.done = False

    async def run(
        self, host: str, port: int, group: str, all_synced: asyncio.Event, tally: list[int]
    ) -> None:
        """Join ``group``, count the sync in ``tally`` (``[synced, clients]``), then
        read changes until the last one (or a close)."""
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"handshake refused: {head[:200]!r}")
        join = {"streamName": "feed", "groupId": group, "subscriptionId": f"c{self.index}"}
        writer.write(_frame(OP_TEXT, json.dumps({"type": "join", "data": join}).encode()))
        await _read_frame(reader)  # the sync
        tally[0] += 1
        if tally[0] == tally[1]:
            all_synced.set()
        try:
            while not self.done:
                opcode, payload = await _read_frame(reader)
                now = time.time() * 1000
                if opcode == OP_CLOSE:
                    self.cut_off = True
                    return
                if opcode == OP_PING:
                    writer.write(_frame(0xA, payload))
                    continue
                item = _decode(payload).event.data
                if not isinstance(item, _Item):
                    continue
                self.latencies.append(now - item.t)
                self.last_at = now
                if item.n == self.count - 1:
                    self.done = True
        except asyncio.IncompleteReadError:
            self.cut_off = True
        finally:
            writer.close()


def _post(base_url: str, path: str, body: dict[str, Any]) -> Any:
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=DEADLINE_S)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status} {data[:300]!r}")
        return json.loads(data)
    finally:
        conn.close()


async def measure(base_url: str, clients: int, count: int) -> dict[str, Any]:
    """Connect, wait for every sync, start the set loop, wait for every change."""
    parts = urllib.parse.urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    group = f"bench-{os.getpid()}-{time.time_ns()}"
    all_synced = asyncio.Event()
    tally = [0, clients]
    subscribers = [Client(i, count) for i in range(clients)]
    cpu_before = time.process_time()
    tasks = [asyncio.create_task(c.run(host, port, group, all_synced, tally)) for c in subscribers]
    async with asyncio.timeout(DEADLINE_S):
        await all_synced.wait()
        started = time.time() * 1000
        answer = await asyncio.to_thread(_post, base_url, "/feed", {"count": count, "group": group})
        await asyncio.gather(*tasks)
    latencies = sorted(x for c in subscribers for x in c.latencies)
    finished = [c for c in subscribers if c.done]
    last = max((c.last_at for c in finished), default=time.time() * 1000)
    received = len(latencies)
    return {
        "clients": clients,
        "count": count,
        "rate": count / ((last - started) / 1000) if finished else 0.0,
        "p50_ms": latencies[len(latencies) // 2] if latencies else 0.0,
        "p99_ms": latencies[min(received - 1, int(received * 0.99))] if latencies else 0.0,
        "received": received,
        "missing": clients * count - received,
        "cut_off": sum(1 for c in subscribers if c.cut_off),
        "set_loop_ms": answer.get("ms", 0.0),
        "client_cpu_s": time.process_time() - cpu_before,
    }


def main() -> None:
    """Parse the options, measure, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.base_url, args.clients, args.count))
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
