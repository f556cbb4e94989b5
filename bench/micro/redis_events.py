"""Durable events/s with Redis storage and one, two and three ``motiad run``
instances sharing it, next to one instance on SQLite (scenario ``events-redis``).

Every instance runs the ``events`` project on one redis-server (Debian's, append-only
file on with ``appendfsync everysec``, what the README recommends); POST /burst goes
round-robin to the instances, 4 requests in flight in all, as ``events-durable``
does against one. Figure: events/s from the first POST until Redis holds no pending
delivery. All instances and the Redis server share the machine's two cores.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from .. import procs
from ..install import ensure_redis_server
from ..report import Row
from ..scenarios import Scenario
from ..servers import Run, Server, launch
from ..systems import Backlog, Motiad
from .drive import EVENTS_IN_FLIGHT, EVENTS_PER_REQUEST, _connection, _durable, _fresh_motiad, _post

PREFIX = "motiad:"
"""motiad's key prefix (``motiad.storage.redis.connection.PREFIX``)."""
DRAIN_DEADLINE_S = 120.0


class MotiadOnRedis(Motiad):
    """``motiad run --storage redis://…`` on a copy of a project."""

    def __init__(self, base: Motiad, url: str) -> None:
        super().__init__(base.node_modules, base.source)
        self.name = "motiad-redis"
        self.url = url

    def command(self, cwd: Path, port: int) -> list[str]:
        """motiad's command with ``--storage URL``."""
        return [*super().command(cwd, port), "--storage", self.url]

    def backlog(self, cwd: Path) -> Backlog | None:
        """Deliveries created (the id counter) and pending (due, leased, FIFO heads)."""
        return redis_backlog(self.url)


def redis_backlog(url: str) -> Backlog:
    """What motiad's Redis keys say is queued."""
    client = redis.Redis.from_url(url)
    try:
        created = int(client.get(PREFIX + "seq") or 0)
        pending: dict[str, int] = {}
        for kind in ("due", "lease", "groups"):
            for key in client.scan_iter(match=f"{PREFIX}{kind}:*"):
                step = key.decode().split(":", 2)[2]
                pending[step] = pending.get(step, 0) + int(client.zcard(key))
        dead = int(client.zcard(PREFIX + "dead"))
    finally:
        client.close()
    return Backlog(created, pending, dead)


def redis_server(folder: Path, stack: ExitStack) -> tuple[str, int]:
    """A redis-server of its own in ``folder`` (stopped by ``stack``): its URL and pid."""
    port = procs.free_port()
    argv = [ensure_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir"]
    argv += [str(folder), "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    proc = procs.start(argv, folder, folder / "redis.log", None)
    stack.callback(procs.stop, proc, 5.0)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:  # a benchmark may poll: the server has no other way to say it is up
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.02)
    client.close()
    return url, proc.pid


def run_events_redis(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Rows ``events-redis`` for one SQLite instance and 1, 2, 3 Redis instances."""
    rows: list[Row] = []
    total = run.plan.events_total
    with ExitStack() as stack:
        for name in scenario.systems:
            run.console.print(f"round {round_no}: {scenario.name} on {name}")
            label = f"{scenario.name}-{name}-{round_no}"
            try:
                if name == "sqlite":
                    server = _fresh_motiad(run, scenario, label)
                    try:
                        row = _durable(run, server, scenario, round_no, label, total)
                    finally:
                        procs.stop(server.proc, server.system.stop_grace_s)
                    row.system = name
                    rows.append(row)
                    continue
                count = int(name.removeprefix("redis-x"))
                url, _ = redis_server(run.workdir(f"{label}-redis"), stack)
                rows.append(_durable_on_redis(run, scenario, round_no, label, url, count, total))
            except (RuntimeError, OSError, subprocess.TimeoutExpired, redis.RedisError) as exc:
                run.failures.append(f"{scenario.name} on {name}: {exc}")
    return rows


def _durable_on_redis(
    run: Run, scenario: Scenario, round_no: int, label: str, url: str, count: int, total: int
) -> Row:
    assert scenario.project is not None
    base = run.registry["motiad"]
    assert isinstance(base, Motiad)
    system = MotiadOnRedis(base, url)
    cwd = system.prepare(run.workdir(label), scenario.project)
    servers: list[Server] = []
    try:
        for index in range(count):  # one project folder: several instances are the point
            servers.append(launch(system, scenario.project, cwd, run.out, f"{label}-{index}"))
        requests = max(1, total // EVENTS_PER_REQUEST)
        total = requests * EVENTS_PER_REQUEST
        errors: list[str] = []
        local = threading.local()

        def burst(number: int) -> None:
            url = servers[number % count].base_url
            conns: dict[str, http.client.HTTPConnection] = local.__dict__.setdefault("conns", {})
            for attempt in (1, 2):
                conn = conns.get(url) or conns.setdefault(url, _connection(url))
                try:
                    status, _ = _post(conn, "/burst", {"n": EVENTS_PER_REQUEST})
                    break
                except (OSError, http.client.HTTPException):
                    # a kept-alive connection the server closed meanwhile: a new one
                    conns.pop(url).close()
                    if attempt == 2:
                        raise
            if status != 200:
                errors.append(f"POST /burst answered {status}")

        run.quiet()
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(EVENTS_IN_FLIGHT) as pool:
            list(pool.map(burst, range(requests)))
        emitted = time.monotonic()
        pending = -1
        while time.monotonic() - emitted < DRAIN_DEADLINE_S:
            backlog = redis_backlog(url)
            pending = backlog.waiting + max(0, total - backlog.created)
            if pending == 0:
                break
            time.sleep(0.01)
        finished = time.monotonic()
        if errors:
            raise RuntimeError(errors[0])
    finally:
        for server in servers:
            procs.stop(server.proc, server.system.stop_grace_s)
    return Row(
        scenario.name,
        f"redis-x{count}",
        round_no,
        total / (finished - started),
        "events/s",
        errors={"pending": max(0, pending)},
        notes=[
            f"{count} instance{'s' * (count > 1)} on one redis-server; {total:,} events "
            f"({requests} POSTs of {EVENTS_PER_REQUEST}, round-robin); all committed after "
            f"{emitted - started:.2f} s ({total / (emitted - started):,.0f} events/s), "
            f"delivered {finished - emitted:.2f} s later"
        ],
    )
