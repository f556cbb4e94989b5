"""The tables of the SQLite file, and the migrations that made them: an ordered
list of steps, the file's ``PRAGMA user_version`` saying how many it has had.

A step, once released, never changes: a new shape is a new step at the end.
The first six steps are the shapes motiad gave its files before it kept a
version, so an unversioned file may already have any of them: each of those
runs safely over whatever an earlier motiad made (``IF NOT EXISTS``; a column
added only where it is missing; the spans table rebuilt whatever its shape).
Steps added later run on versioned files only, and need no such care.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from ...errors import StorageError

Step = Callable[[sqlite3.Connection], None]


def _run(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        conn.execute(statement)


def _queue_and_state(conn: sqlite3.Connection) -> None:
    """The walking skeleton: events, their deliveries, state."""
    _run(
        conn,
        (
            """CREATE TABLE IF NOT EXISTS events (
                id TEXT PRIMARY KEY,
                topic TEXT NOT NULL,
                data BLOB NOT NULL,
                trace_id TEXT NOT NULL,
                message_group_id TEXT,
                created_at REAL NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id TEXT NOT NULL REFERENCES events(id),
                step TEXT NOT NULL,
                attempt INTEGER NOT NULL DEFAULT 1,
                due_at REAL NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                last_error BLOB,
                updated_at REAL NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS deliveries_by_status ON deliveries(status, step)",
            """CREATE TABLE IF NOT EXISTS state (
                group_id TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (group_id, key)
            ) WITHOUT ROWID""",
        ),
    )


def _events_routed_by_the_broker(conn: sqlite3.Connection) -> None:
    """Events another process enqueued (``routed = 0``) wait for the broker to
    route them; a delivery's last error is an ``ErrorInfo`` in JSON, no longer
    a bare message (the skeleton stored text)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    if "routed" not in columns:  # SQLite has no ADD COLUMN IF NOT EXISTS
        conn.execute("ALTER TABLE events ADD COLUMN routed INTEGER NOT NULL DEFAULT 1")
    conn.execute("CREATE INDEX IF NOT EXISTS events_unrouted ON events(routed) WHERE routed = 0")
    conn.execute(
        "UPDATE deliveries SET last_error = CAST(json_object('type', 'Error', 'message',"
        " last_error) AS BLOB) WHERE typeof(last_error) = 'text'"
    )


def _deliveries_by_event(conn: sqlite3.Connection) -> None:
    """An ack deletes the event once no delivery needs it: found by index."""
    conn.execute("CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries(event_id)")


def _stream_items(conn: sqlite3.Connection) -> None:
    """Stream items by (stream, group, id)."""
    conn.execute(
        """CREATE TABLE IF NOT EXISTS stream_items (
            stream TEXT NOT NULL,
            group_id TEXT NOT NULL,
            id TEXT NOT NULL,
            data BLOB NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (stream, group_id, id)
        ) WITHOUT ROWID"""
    )


def _traces_spans_and_logs(conn: sqlite3.Connection) -> None:
    """The workbench's traces: a summary per trace, its spans, log records."""
    _run(
        conn,
        (
            """CREATE TABLE IF NOT EXISTS traces (
                trace_id TEXT PRIMARY KEY,
                started_at REAL NOT NULL,
                ended_at REAL NOT NULL,
                step TEXT NOT NULL,
                trig TEXT NOT NULL,
                detail TEXT NOT NULL,
                spans INTEGER NOT NULL,
                errors INTEGER NOT NULL
            ) WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS traces_by_start ON traces(started_at)",
            """CREATE TABLE IF NOT EXISTS spans (
                id TEXT PRIMARY KEY,
                trace_id TEXT NOT NULL,
                step TEXT NOT NULL,
                trig TEXT NOT NULL,
                detail TEXT NOT NULL,
                started_at REAL NOT NULL,
                ended_at REAL NOT NULL,
                outcome TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                error BLOB
            ) WITHOUT ROWID""",
            "CREATE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id, started_at)",
            "CREATE INDEX IF NOT EXISTS spans_by_step ON spans(step)",
            """CREATE TABLE IF NOT EXISTS logs (
                id INTEGER PRIMARY KEY,
                time REAL NOT NULL,
                level TEXT NOT NULL,
                message TEXT NOT NULL,
                step TEXT,
                trace_id TEXT,
                invocation_id TEXT,
                fields BLOB
            )""",
            "CREATE INDEX IF NOT EXISTS logs_by_trace ON logs(trace_id) WHERE trace_id IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS logs_by_step ON logs(step)",
        ),
    )


_V5 = "id, trace_id, step, trig, detail, started_at, ended_at, outcome, attempt, error"
"""The columns of a span up to schema version 6 (a released step never changes)."""


def _spans_in_a_rowid_table(conn: sqlite3.Connection) -> None:
    """Spans appended to a rowid table with the id in a unique index, no longer
    a WITHOUT ROWID table keyed by it: a row is narrow in an index, wide in a
    table (inserts cost less than half as much). Rebuilt whatever its shape:
    an unversioned file may have either."""
    _run(
        conn,
        (
            "ALTER TABLE spans RENAME TO spans_before_v6",
            "DROP INDEX IF EXISTS spans_by_trace",
            "DROP INDEX IF EXISTS spans_by_step",
            """CREATE TABLE spans (
                id TEXT NOT NULL UNIQUE,
                trace_id TEXT NOT NULL,
                step TEXT NOT NULL,
                trig TEXT NOT NULL,
                detail TEXT NOT NULL,
                started_at REAL NOT NULL,
                ended_at REAL NOT NULL,
                outcome TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                error BLOB
            )""",
            f"INSERT INTO spans ({_V5}) SELECT {_V5} FROM spans_before_v6",
            "DROP TABLE spans_before_v6",
            "CREATE INDEX spans_by_trace ON spans(trace_id, started_at)",
            "CREATE INDEX spans_by_step ON spans(step)",
        ),
    )


def _spans_know_their_parents(conn: sqlite3.Connection) -> None:
    """A span keeps its parent's W3C span id, the caller's span (api) and the
    events it emitted, so a stored trace is a tree (``records.Span``)."""
    _run(
        conn,
        (
            "ALTER TABLE spans ADD COLUMN parent_id TEXT",
            "ALTER TABLE spans ADD COLUMN caller_id TEXT",
            "ALTER TABLE spans ADD COLUMN emitted BLOB",
        ),
    )


SPAN_COLUMNS = f"{_V5}, parent_id, caller_id, emitted"
"""The columns of a span today, in :class:`~motiad.records.Span`'s order."""


MIGRATIONS: tuple[Step, ...] = (
    _queue_and_state,
    _events_routed_by_the_broker,
    _deliveries_by_event,
    _stream_items,
    _traces_spans_and_logs,
    _spans_in_a_rowid_table,
    _spans_know_their_parents,
)
"""Step ``n`` (from 1) brings a file from ``user_version`` ``n - 1`` to ``n``."""
VERSION = len(MIGRATIONS)
"""The ``user_version`` of a file this motiad made or migrated."""


def version(conn: sqlite3.Connection) -> int:
    """The number of migrations the file has had."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the file up to :data:`VERSION`, one transaction per step (the
    version is part of the file, so a step and its number commit together).
    Another process may migrate the same file at once: each step re-reads the
    version under the write lock and is skipped when that process applied it."""
    found = version(conn)
    if found > VERSION:
        raise StorageError(
            f"the file was written by a newer motiad (schema version {found}; this one"
            f" knows up to {VERSION}): upgrade motiad, or point --storage elsewhere"
        )
    for number, step in enumerate(MIGRATIONS, start=1):
        if number <= found:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version(conn) < number:
                step(conn)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
