"""The one writer of a SQLite file: writes queued from many tasks, applied in
batches, one transaction per batch (group commit), each caller answered once
its batch committed. Small batches commit on the event loop, the rest in a
worker thread (:data:`INLINE_BATCH_MAX`). Reads use a connection of their own:
in WAL mode they never wait for the writer."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

import anyio

from ...errors import StorageError, StorageUnavailable
from ..base import Health
from .schema import migrate

T = TypeVar("T")
U = TypeVar("U")
Item = TypeVar("Item")

BATCH_MAX = 512
"""Writes applied per transaction at most: large enough to amortise a commit,
small enough that one batch never holds the writer for long."""
INLINE_BATCH_MAX = 4096
"""Batches up to this many statements (:attr:`Write.rows`; a busy second's
acks, publishes and spans) are committed on the event loop itself, in a few
milliseconds at most. In WAL mode with ``synchronous=NORMAL`` a commit is a
write to the page cache, and rows keyed by time-ordered ids (``new_id``) touch
few pages. The worker thread costs more than it saves: every statement there
gives the GIL away and waits to get it back from a busy loop, so the writer,
which every emit waits for, ran at half speed (events-durable: 8,400 events/s
with commits p90 75-95 ms in the thread; 13,800-14,800/s, p90 17-23 ms on the
loop). What may take long stays off the loop: checkpoints (they sync the file;
automatic ones are off on the writer, :data:`CHECKPOINT_AFTER`), larger batches
(a redrive of a big dead-letter queue, a backlog of records after an outage),
and a batch that would wait for another process's lock."""
CHECKPOINT_AFTER = 1000
"""Writes between two checkpoints of the WAL (in the worker thread); SQLite's own
automatic checkpoint runs every 1000 pages."""
HEALED_AFTER_S = 1.0
"""A fault of the storage is over once writes succeed and none failed for this
long: a full disk still takes the writes that fit in free pages, and a line for
every such flap would flood the log."""
BUSY_TIMEOUT_MS = 5000
"""How long a statement waits for another process's lock (``motiad emit``
commits in a few milliseconds; longer means something is wrong)."""


Apply = Callable[[sqlite3.Connection], Any]
"""What a write does inside the writer's transaction; its value goes to ``then``."""


@dataclass(eq=False)
class Write(Generic[T]):
    """One write in the writer's queue, and how its caller learns the outcome."""

    apply: Apply
    then: Callable[[Any], T] | None = None
    """Runs on the event loop once the batch committed, in batch order (stream
    changes are announced in commit order); its value is the write's result."""
    # A bare asyncio.Event (motiad runs on asyncio): one per write is a hot
    # path, and anyio's costs several times as much to make. Several tasks may
    # wait on one write (batched acks).
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: T | None = None
    error: BaseException | None = None
    taken: bool = False
    """Handed to the writer: nothing may be added to it any more."""
    rows: int = 1
    """The statements it runs, as :data:`INLINE_BATCH_MAX` counts them: one write
    may stand for many (a batch of acks, a second's spans and logs)."""
    ready: asyncio.Future[None] | None = None
    """Done (or failed) with ``done``, for callers that may not wait: see
    :meth:`settled`."""

    def settled(self) -> asyncio.Future[None]:
        """A future done once this write is committed (failed if it is not),
        shared by all who ask (the store's ``publish`` and ``ack``)."""
        if self.ready is None:
            self.ready = asyncio.get_running_loop().create_future()
        return self.ready

    def finish(self, path: Path) -> None:
        """Run ``then`` (after a commit), then wake whoever waits."""
        if self.then is not None and self.error is None:
            try:
                self.result = self.then(self.result)
            except Exception as exc:  # a listener's bug: the writer lives on
                self.error = exc
        self.done.set()
        ready = self.ready
        if ready is not None and not ready.done():
            if self.error is None:
                ready.set_result(None)
            else:
                ready.set_exception(failure(path, self.error))


def is_fault(error: BaseException | None) -> bool:
    """True for a failure of the storage itself (a full disk, a read-only
    file, a lock another program holds too long), which clears by itself;
    False for a failure of the write (a constraint, a listener's bug)."""
    return isinstance(error, sqlite3.OperationalError)


def failure(path: Path, error: BaseException) -> StorageError:
    """The :class:`StorageError` a failed write of the file at ``path`` raises:
    :class:`StorageUnavailable` for a fault of the storage (HTTP 503; the
    writer reports the fault once, not once per request)."""
    failed = (
        StorageUnavailable(f"{path}: {error}")
        if is_fault(error)
        else StorageError(f"{path}: {error}")
    )
    failed.__cause__ = error
    return failed


def _rollback(conn: sqlite3.Connection) -> None:
    # a full disk may have rolled the transaction back already, or may fail
    # the rollback itself: either way nothing of it stays
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the file in WAL mode, in autocommit (transactions are explicit)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a killed process (the failure we
    # promise to survive); only a power loss may drop the last transactions.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _data_version(conn: sqlite3.Connection) -> int:
    # the writer's own commits do not change its data_version: only other processes'
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


class Writer:
    """The file's two connections (one writes, one reads) and the queue of writes."""

    def __init__(self, path: Path, *, health: Health | None = None) -> None:
        self.path = path
        self._health = health
        self._faulted = False
        """A fault of the storage was reported, and its end will be."""
        self._fault_at = 0.0
        """When a write last failed for a fault of the storage (monotonic)."""
        self._pending: deque[Write[Any]] = deque()
        self._has_pending = asyncio.Event()
        self.is_open = False
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self.since_checkpoint = 0
        """Writes committed since the last checkpoint of the WAL."""
        self.data_version_at_open = 0
        """:meth:`data_version` when the file was opened."""

    async def open(self) -> None:
        """Create or migrate the file and connect; :class:`StorageError` if it cannot."""
        await anyio.to_thread.run_sync(self.path.parent.mkdir, 0o777, True, True)
        try:
            self._writer = await anyio.to_thread.run_sync(connect, self.path)
            self._writer.execute("PRAGMA wal_autocheckpoint=0")  # done in the thread instead
            migrate(self._writer)
            self._reader = connect(self.path)
            self.data_version_at_open = _data_version(self._writer)
        except (sqlite3.Error, StorageError) as exc:
            self.close()
            raise StorageError(f"cannot open {self.path}: {exc}") from exc
        self.is_open = True

    async def data_version(self) -> int:
        """A number that changes when another process commits to the file
        (read through the queue: the writer connection is the writer's)."""
        return await self.write(_data_version)

    def close(self) -> None:
        """Fail the writes not applied yet and close both connections."""
        self.is_open = False
        while self._pending:
            write = self._pending.popleft()
            write.error = StorageError(f"{self.path}: storage closed before this write")
            write.finish(self.path)
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    def read(self) -> sqlite3.Connection:
        """The connection reads use: on the event loop, a small indexed read
        costs less than a thread hop, and in WAL mode it never waits for the writer."""
        if self._reader is None:
            raise StorageError(f"{self.path}: storage is not open")
        return self._reader

    async def run(self) -> None:
        """Apply the queued writes, batch after batch, until cancelled."""
        while True:
            await self._has_pending.wait()
            self._has_pending.clear()
            while self._pending:
                count = min(BATCH_MAX, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
                rows = 0
                for write in batch:
                    write.taken = True
                    rows += write.rows
                changes = self._total_changes()
                if rows > INLINE_BATCH_MAX or not self.apply_inline(batch):
                    await anyio.to_thread.run_sync(self._apply, batch)
                fault = next((w.error for w in batch if is_fault(w.error)), None)
                if fault is not None:
                    self._fault(fault)
                elif self._total_changes() != changes:
                    self._wrote()
                for write in batch:
                    write.finish(self.path)
                self.since_checkpoint += count
                if self.since_checkpoint >= CHECKPOINT_AFTER:
                    self.since_checkpoint = 0
                    try:
                        await anyio.to_thread.run_sync(self._checkpoint)
                    except sqlite3.Error as exc:  # the WAL keeps it; the next one tries again
                        self._fault(exc)

    def _total_changes(self) -> int:
        return 0 if self._writer is None else self._writer.total_changes

    def _fault(self, error: BaseException) -> None:
        """The storage failed: say so once, until it is over (:meth:`_wrote`)."""
        self._fault_at = time.monotonic()
        if not self._faulted:
            self._faulted = True
            self._report(
                "error",
                f"storage: cannot write {self.path} ({error}); requests that need storage"
                " answer 503 until it can, and it is tried again by itself",
            )

    def _wrote(self) -> None:
        """A batch changed the file: a fault is over once none came for a while."""
        if self._faulted and time.monotonic() - self._fault_at >= HEALED_AFTER_S:
            self._faulted = False
            self._report("info", f"storage: {self.path} can be written again")

    def _report(self, level: Literal["info", "error"], message: str) -> None:
        if self._health is not None:
            self._health(level, message)

    def apply_inline(self, batch: list[Write[Any]]) -> bool:
        """Apply a small batch on the loop (see :data:`INLINE_BATCH_MAX`); False,
        with nothing applied, when it must go to the thread instead: another
        process holds the write lock, or a write failed (the thread's path
        then applies each alone)."""
        conn = self._writer
        assert conn is not None
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            for write in batch:
                write.result = write.apply(conn)
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            for write in batch:
                write.result = None
            return False
        return True

    def _checkpoint(self) -> None:
        assert self._writer is not None
        self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _apply(self, batch: list[Write[Any]]) -> None:
        """Apply a batch in one transaction. Should a write fail, the batch is
        rolled back and each write applied alone, so one bad write never sinks
        its batch-mates (and the common case pays for no savepoints)."""
        conn = self._writer
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write in batch:
                write.result = write.apply(conn)
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            for write in batch:
                write.result = None
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    write.result = write.apply(conn)
                    conn.execute("COMMIT")
                except Exception as exc:
                    _rollback(conn)
                    write.error = exc

    def submit(self, apply: Apply, then: Callable[[Any], Any] | None = None) -> Write[Any]:
        """Queue a write; ``then`` runs on the loop after its commit. Raises
        :class:`StorageError` at once when the store is closed."""
        if not self.is_open:
            raise StorageError(f"{self.path}: storage is closed")
        write: Write[Any] = Write(apply, then)
        self._pending.append(write)
        self._has_pending.set()
        return write

    async def wait(self, write: Write[T]) -> T:
        """The result of ``write`` once its batch is committed."""
        await write.done.wait()
        if write.error is not None:
            raise failure(self.path, write.error)
        return write.result  # type: ignore[return-value]

    @overload
    async def write(self, apply: Callable[[sqlite3.Connection], T]) -> T: ...

    @overload
    async def write(
        self, apply: Callable[[sqlite3.Connection], U], then: Callable[[U], T]
    ) -> T: ...

    async def write(self, apply: Apply, then: Callable[[Any], Any] | None = None) -> Any:
        """Queue a write and wait for its result (``then``'s, when given)."""
        return await self.wait(self.submit(apply, then))


class Joining(Generic[Item]):
    """Writes of one kind made before the writer takes the current one join
    it: one write, one ``executemany`` per table, for all of them (a busy
    flow makes hundreds of publishes, acks or takes a batch)."""

    def __init__(
        self,
        writer: Writer,
        apply: Callable[[list[Item], sqlite3.Connection], Any],
        then: Callable[[list[Item], Any], Any] | None = None,
        *,
        rows: Callable[[Item], int] = lambda _: 1,
    ) -> None:
        self._writer = writer
        self._apply = apply
        self._then = then
        self._rows = rows
        self._write: Write[Any] | None = None
        self._items: list[Item] = []
        """The items of ``_write``, the write not yet taken."""

    def add(self, item: Item) -> Write[Any]:
        """The write ``item`` joins (a new one when the writer took the last);
        ``apply`` and ``then`` get every item that joined it, in order."""
        write = self._write
        if write is None or write.taken:
            items: list[Item] = []
            then = None if self._then is None else partial(self._then, items)
            write = self._write = self._writer.submit(partial(self._apply, items), then)
            write.rows = 0
            self._items = items
        self._items.append(item)
        write.rows += self._rows(item)
        return write
