"""The floor of durable events through SQLite in Python: the same tables, pragmas and
batching as motiad's store, no HTTP, no children, no event loop.

Events are committed in batches of ``--batch`` (one request's emits: one
transaction for the events and their deliveries, as motiad's group commit does at
best), and consumed as motiad acks them: read the due deliveries, then delete each
delivery and its event, up to 512 per transaction (motiad's ``BATCH_MAX``).

Run: ``python -m bench.micro.sqlite_floor --events 20000 --batch 100 --probes 200``;
prints JSON: events/s end to end, and the p50/p99 of committing one event and
reading it back (the storage part of emit → handler start).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE events (
    id TEXT PRIMARY KEY, topic TEXT NOT NULL, data BLOB NOT NULL, trace_id TEXT NOT NULL,
    message_group_id TEXT, created_at REAL NOT NULL, routed INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL REFERENCES events(id),
    step TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1, due_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', last_error BLOB, updated_at REAL NOT NULL
);
CREATE INDEX deliveries_by_status ON deliveries(status, step);
CREATE INDEX deliveries_by_event ON deliveries(event_id);
"""
"""motiad's ``events`` and ``deliveries`` tables (src/motiad/storage/sqlite/schema.py)."""

ACK_BATCH = 512
"""motiad's BATCH_MAX: writes per transaction at most."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _new_id() -> str:
    return f"{random.getrandbits(128):032x}"


def _publish(conn: sqlite3.Connection, count: int, trace_id: str) -> None:
    now = time.time()
    events = [
        (_new_id(), "burst.noop", json.dumps({"i": index}).encode(), trace_id, None, now)
        for index in range(count)
    ]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO events (id, topic, data, trace_id, message_group_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        events,
    )
    conn.executemany(
        "INSERT INTO deliveries (event_id, step, due_at, updated_at) VALUES (?, ?, ?, ?)",
        [(event[0], "NoopSubscriber", now, now) for event in events],
    )
    conn.execute("COMMIT")


def _take(conn: sqlite3.Connection) -> list[tuple[int, str, bytes]]:
    rows = conn.execute(
        "SELECT d.id, e.id, e.data FROM deliveries d JOIN events e ON e.id = d.event_id"
        " WHERE d.status = 'pending' AND d.step = ? ORDER BY d.id LIMIT ?",
        ("NoopSubscriber", ACK_BATCH),
    ).fetchall()
    for row in rows:
        json.loads(row[2])  # the handler's input, decoded as a child would
    return rows


def _ack(conn: sqlite3.Connection, rows: list[tuple[int, str, bytes]]) -> None:
    conn.execute("BEGIN")
    for delivery_id, event_id, _ in rows:
        conn.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))
        conn.execute(
            "DELETE FROM events WHERE id = ?1 AND NOT EXISTS"
            " (SELECT 1 FROM deliveries WHERE event_id = ?1)",
            (event_id,),
        )
    conn.execute("COMMIT")


def measure(folder: Path, events: int, batch: int, probes: int) -> dict[str, float]:
    """Events/s through publish → take → ack, and one event's commit-and-read latency."""
    conn = _connect(folder / "floor.db")
    conn.executescript(SCHEMA)
    trace_id = _new_id()
    cpu = time.process_time()
    started = time.perf_counter()
    published = 0
    while published < events:
        _publish(conn, min(batch, events - published), trace_id)
        published += batch
        rows = _take(conn)
        if rows:
            _ack(conn, rows)
    while rows := _take(conn):
        _ack(conn, rows)
    elapsed = time.perf_counter() - started
    cpu_used = time.process_time() - cpu

    latencies: list[float] = []
    for _ in range(probes):
        before = time.perf_counter()
        _publish(conn, 1, trace_id)
        rows = _take(conn)
        latencies.append(1000 * (time.perf_counter() - before))
        _ack(conn, rows)
    conn.close()
    latencies.sort()
    return {
        "events": events,
        "rate": events / elapsed,
        "cpu_us_per_event": 1e6 * cpu_used / events,
        "probe_p50_ms": latencies[len(latencies) // 2],
        "probe_p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "probe_mean_ms": statistics.fmean(latencies),
    }


def main() -> None:
    """Parse the arguments, measure in a temporary folder, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--dir", help="where the database goes (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="motiad-bench-sqlite-", dir=args.dir) as folder:
        figures = measure(Path(folder), args.events, args.batch, args.probes)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
