"""The driver's side of the micro-benchmarks: run ``invoke`` and ``sqlite_floor`` in
their own processes, and drive a real ``motiad run`` of ``bench/projects/events`` for
durable events/s, emit → handler-start latency and the kill -9 counts.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from .. import procs
from ..profile import analyse, ensure_py_spy
from ..report import Row
from ..scenarios import Scenario
from ..servers import Profiler, Run, Server, launch, sampled
from ..systems import motiad_env

MICRO_TIMEOUT_S = 300.0
"""Longest a micro-benchmark process may run: 20,000 round trips take seconds."""

EVENTS_PER_REQUEST = 100
EVENTS_IN_FLIGHT = 4
"""POST /burst: 100 emits per request (awaited together), 4 requests at a time."""

KILL_CLIENTS = 8
RECOVERY_DEADLINE_S = 60.0
"""After the restart, how long the redelivered backlog may take to drain."""


def _micro(run: Run, module: str, args: list[str], label: str) -> tuple[dict[str, Any], str | None]:
    """Run ``python -m bench.micro.MODULE ARGS`` (under py-spy with ``--profile``); its
    JSON, and the profile's path relative to the results folder (or ``None``)."""
    argv = [sys.executable, "-m", f"bench.micro.{module}", *args]
    profile: Path | None = None
    if run.plan.profile:
        profile = run.out / f"{label}.pyspy.txt"
        argv = [
            str(ensure_py_spy()),
            "record",
            "--rate",
            "200",
            "--format",
            "raw",
            "--idle",
            "--nonblocking",
            "--threads",
            "--subprocesses",
            "--output",
            str(profile),
            "--",
            *argv,
        ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        timeout=MICRO_TIMEOUT_S,
        env=motiad_env(run.motiad_source),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    # Under py-spy its own messages follow ours on stdout: ours is the JSON line.
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} printed no JSON: {done.stdout.strip()[-500:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures, str(profile.relative_to(run.out.parent.parent)) if profile else None


def run_invoke(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """``invoke.py`` with ``via=echo`` then ``via=broker``: rows ``invoke-LANG`` (sequential
    round trips) and ``invoke-LANG-64`` (pipelined)."""
    language = scenario.language or "python"
    rows: list[Row] = []
    for name in scenario.systems:
        via = "echo" if name == "pipe-echo" else "broker"
        run.console.print(f"round {round_no}: {scenario.name} via {name}")
        run.quiet()
        label = f"{scenario.name}-{name}-{round_no}"
        args = ["--language", language, "--via", via, "--count", str(run.plan.invoke_count)]
        try:
            figures, profile = _micro(run, "invoke", args, label)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            run.failures.append(f"{scenario.name} via {name}: {exc}")
            continue
        seq_cpu = figures["sequential_cpu_us"]
        pipe_cpu = figures["pipelined_cpu_us"]
        sequential = Row(
            scenario.name,
            name,
            round_no,
            figures["sequential_rate"],
            "inv/s",
            p50_ms=figures["p50_us"] / 1000,
            p99_ms=figures["p99_us"] / 1000,
            cpu_ms_per_op=(seq_cpu["parent"] + seq_cpu["child"]) / 1000,
            notes=[
                f"{figures['count']:,} sequential round trips; CPU µs each: parent "
                f"{seq_cpu['parent']:.0f}, child {seq_cpu['child']:.0f}"
            ],
            extra=figures,
        )
        pipelined = Row(
            f"{scenario.name}-{figures['inflight']}",
            name,
            round_no,
            figures["pipelined_rate"],
            "inv/s",
            cpu_ms_per_op=(pipe_cpu["parent"] + pipe_cpu["child"]) / 1000,
            notes=[
                f"{figures['pipelined_count']:,} invocations, {figures['inflight']} in flight "
                f"over one child; CPU µs each: parent {pipe_cpu['parent']:.0f}, child "
                f"{pipe_cpu['child']:.0f}"
            ],
        )
        if profile:
            sequential.profile = analyse(run.out.parent.parent / profile)
            sequential.profile_file = profile
        rows += [sequential, pipelined]
    return rows


def _connection(base_url: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else None


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, Any]:
    conn.request("GET", path)
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else None


def _fresh_motiad(run: Run, scenario: Scenario, label: str, name: str = "motiad") -> Server:
    """``motiad run`` (or the variant ``name``) on a fresh copy of the scenario's project."""
    assert scenario.project is not None
    system = run.registry[name]
    cwd = system.prepare(run.workdir(label), scenario.project)
    return launch(system, scenario.project, cwd, run.out, label)


def run_events(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Rows ``events-durable`` and ``emit-latency`` for the SQLite floor (a process of
    its own) and for motiad (a fresh server on the events project)."""
    rows: list[Row] = []
    total, probes = run.plan.events_total, run.plan.probes
    for name in scenario.systems:
        run.console.print(f"round {round_no}: {scenario.name} on {name}")
        run.quiet()
        label = f"{scenario.name}-{name}-{round_no}"
        try:
            if name == "sqlite-floor":
                rows += _floor_rows(run, scenario, round_no, label)
            else:
                rows += _motiad_events(run, scenario, round_no, label, total, probes, name)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
            run.failures.append(f"{scenario.name} on {name}: {exc}")
    return rows


def _floor_rows(run: Run, scenario: Scenario, round_no: int, label: str) -> list[Row]:
    args = [
        "--events",
        str(run.plan.events_total),
        "--batch",
        str(EVENTS_PER_REQUEST),
        "--probes",
        str(run.plan.probes),
    ]
    figures, _ = _micro(run, "sqlite_floor", args, label)
    return [
        Row(
            scenario.name,
            "sqlite-floor",
            round_no,
            figures["rate"],
            "events/s",
            cpu_ms_per_op=figures["cpu_us_per_event"] / 1000,
            notes=[
                f"{figures['events']:,} events: {EVENTS_PER_REQUEST} per transaction, "
                "acked 512 per transaction, one process"
            ],
            extra=figures,
        ),
        Row(
            "emit-latency",
            "sqlite-floor",
            round_no,
            figures["probe_p50_ms"],
            "ms",
            higher_is_better=False,
            p50_ms=figures["probe_p50_ms"],
            p99_ms=figures["probe_p99_ms"],
            notes=["commit one event and read it back"],
        ),
    ]


def _motiad_events(
    run: Run,
    scenario: Scenario,
    round_no: int,
    label: str,
    total: int,
    probes: int,
    name: str = "motiad",
) -> list[Row]:
    server = _fresh_motiad(run, scenario, label, name)
    try:
        latency, emits = _emit_latency(server, probes)
        durable = _durable(run, server, scenario, round_no, label, total, name)
    finally:
        code = procs.stop(server.proc, server.system.stop_grace_s)
    if code != 0:
        run.failures.append(f"{scenario.name}: motiad stopped with exit code {code}")
    latencies = sorted(latency)
    emits.sort()
    return [
        durable,
        Row(
            "emit-latency",
            name,
            round_no,
            latencies[len(latencies) // 2],
            "ms",
            higher_is_better=False,
            p50_ms=latencies[len(latencies) // 2],
            p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            notes=[
                f"{len(latencies)} single events at idle: the TS step's clock before emit to "
                "the Python handler's first line (both wall clocks); the emit call itself "
                f"(commit included) took p50 {emits[len(emits) // 2]:.2f} ms"
            ],
        ),
    ]


def _emit_latency(server: Server, probes: int) -> tuple[list[float], list[float]]:
    """POST /probe one at a time: (the subscriber's start minus the emit's time, the
    emit call's own round trip, commit included), in ms."""
    conn = _connection(server.base_url)
    samples: list[float] = []
    emits: list[float] = []
    try:
        for _ in range(probes):
            probe_id = uuid.uuid4().hex
            status, answer = _post(conn, "/probe", {"id": probe_id})
            if status != 200:
                raise RuntimeError(f"POST /probe answered {status}")
            emits.append(answer["committedAt"] - answer["emitAt"])
            # Poll after the delivery most likely ran: polls while it runs would
            # compete with it on the same event loop.
            time.sleep(0.02)
            deadline = time.monotonic() + 10
            while True:
                _, found = _get(conn, f"/probe/{probe_id}")
                if found and found.get("found"):
                    samples.append(found["startAt"] - found["emitAt"])
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"probe {probe_id} never reached its subscriber")
                time.sleep(0.01)
    finally:
        conn.close()
    return samples, emits


def _durable(
    run: Run,
    server: Server,
    scenario: Scenario,
    round_no: int,
    label: str,
    total: int,
    name: str = "motiad",
) -> Row:
    """``total`` events emitted by POST /burst (4 in flight); events/s from the first
    POST until the database has no pending delivery."""
    requests = max(1, total // EVENTS_PER_REQUEST)
    total = requests * EVENTS_PER_REQUEST
    db = server.cwd / ".motiad" / "motiad.db"
    before = server.system.backlog(server.cwd)
    created_before = before.created if before else 0
    emitted_at: list[float] = []
    errors: list[str] = []
    local = threading.local()

    def burst(_: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = _connection(server.base_url)
        status, _body = _post(local.conn, "/burst", {"n": EVENTS_PER_REQUEST})
        if status != 200:
            errors.append(f"POST /burst answered {status}")
        emitted_at.append(time.monotonic())

    with sampled(run, server.proc.pid) as sample:
        profiler = Profiler(run, server.proc.pid, label, 600)
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(EVENTS_IN_FLIGHT) as pool:
            list(pool.map(burst, range(requests)))
        emitted = time.monotonic()
        pending = -1
        deadline = emitted + 120
        while time.monotonic() < deadline:
            backlog = server.system.backlog(server.cwd)
            if backlog is not None:
                pending = backlog.waiting + max(0, total - (backlog.created - created_before))
                if pending == 0:
                    break
            time.sleep(0.01)
        finished = time.monotonic()
    if errors:
        raise RuntimeError(errors[0])
    row = Row(
        scenario.name,
        name,
        round_no,
        total / (finished - started),
        "events/s",
        errors={"pending": max(0, pending)},
        cpu_ms_per_op=1000 * sample.tree_cpu_s / total,
        cpu_pct=sample.cpu_pct,
        busy_before=sample.busy_before,
        notes=[
            f"{total:,} events ({requests} POSTs of {EVENTS_PER_REQUEST}); all committed after "
            f"{emitted - started:.2f} s ({total / (emitted - started):,.0f} events/s), "
            f"delivered {finished - emitted:.2f} s later; {db.stat().st_size / 2**20:.1f} MB db"
        ],
    )
    profiler.finish(row, run, early=True)
    return row


FANOUT_CLIENTS = 100


def run_fanout(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Row ``stream-fanout`` per system: a fresh server, ``fanout.py`` (its own process)
    with 100 clients and one set loop; the server tree's CPU per change."""
    rows: list[Row] = []
    count = run.plan.stream_changes
    for name in scenario.systems:
        run.console.print(f"round {round_no}: {scenario.name} on {name}")
        run.quiet()
        label = f"{scenario.name}-{name}-{round_no}"
        assert scenario.project is not None
        system = run.registry[name]
        try:
            cwd = system.prepare(run.workdir(label), scenario.project)
            server = launch(system, scenario.project, cwd, run.out, label)
        except (RuntimeError, OSError) as exc:
            run.failures.append(f"{scenario.name} on {name}: {exc}")
            continue
        try:
            before = procs.tree_cpu(server.proc.pid)
            args = ["--base-url", server.base_url, "--clients", str(FANOUT_CLIENTS)]
            figures, _ = _micro(run, "fanout", [*args, "--count", str(count)], label)
            server_cpu_s = procs.tree_cpu_s(before, procs.tree_cpu(server.proc.pid))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            run.failures.append(f"{scenario.name} on {name}: {exc}")
            continue
        finally:
            procs.stop(server.proc, server.system.stop_grace_s)
        rows.append(
            Row(
                scenario.name,
                name,
                round_no,
                figures["rate"],
                "changes/s",
                p50_ms=figures["p50_ms"],
                p99_ms=figures["p99_ms"],
                errors={"cut off": figures["cut_off"], "missing": figures["missing"]},
                cpu_ms_per_op=server_cpu_s * 1000 / count,
                notes=[
                    f"{count:,} changes x {figures['clients']} clients; the set loop took "
                    f"{figures['set_loop_ms']:.0f} ms; CPU s: server tree {server_cpu_s:.2f},"
                    f" clients {figures['client_cpu_s']:.2f}"
                ],
                extra=figures,
            )
        )
    return rows


def run_kill(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Load POST /record from 8 clients, ``kill -9`` the broker, restart it on the same
    folder, wait for the backlog to drain, and count what the subscriber saw."""
    label = f"{scenario.name}-{round_no}"
    run.console.print(f"{scenario.name}: load, kill -9 after {run.plan.kill_after_s:g} s, restart")
    run.quiet()
    try:
        server = _fresh_motiad(run, scenario, label)
    except RuntimeError as exc:
        run.failures.append(f"{scenario.name}: {exc}")
        return []
    accepted: set[str] = set()
    lock = threading.Lock()
    killed = threading.Event()

    def client(index: int) -> None:
        conn = _connection(server.base_url)
        number = 0
        try:
            while not killed.is_set():
                number += 1
                record_id = f"c{index}-{number}"
                try:
                    status, _ = _post(conn, "/record", {"id": record_id})
                except (OSError, http.client.HTTPException):
                    return  # the broker is gone
                if status == 200:
                    with lock:
                        accepted.add(record_id)
        finally:
            conn.close()

    children = [proc.pid for proc in procs.tree_cpu(server.proc.pid) if proc.pid != server.proc.pid]
    threads = [threading.Thread(target=client, args=(index,)) for index in range(KILL_CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(run.plan.kill_after_s)
    os.kill(server.proc.pid, signal.SIGKILL)
    killed.set()
    server.proc.wait()
    for thread in threads:
        thread.join(timeout=35)
    orphans = _wait_gone(children, 10.0)
    restarted_at = time.monotonic()
    try:
        again = launch(server.system, "events", server.cwd, run.out, f"{label}-restart")
    except RuntimeError as exc:
        run.failures.append(f"{scenario.name}: restart failed: {exc}")
        return []
    try:
        drained = False
        while time.monotonic() - restarted_at < RECOVERY_DEADLINE_S:
            backlog = again.system.backlog(again.cwd)
            if backlog is not None and backlog.waiting == 0:
                drained = True
                break
            time.sleep(0.05)
        recovered_s = time.monotonic() - restarted_at
    finally:
        code = procs.stop(again.proc, again.system.stop_grace_s)
    if code != 0:
        run.failures.append(f"{scenario.name}: restarted motiad stopped with exit code {code}")
    lines = (server.cwd / "handled.log").read_text().splitlines()
    handled = [line.split()[0] for line in lines if line]
    unique = set(handled)
    lost = accepted - unique
    notes = [
        f"{len(accepted):,} accepted before the kill, {len(unique):,} handled "
        f"({len(unique - accepted)} of them answered to nobody: in flight at the kill), "
        f"{len(handled) - len(unique)} handled twice or more; backlog "
        + (f"drained {recovered_s:.1f} s after the restart" if drained else "NOT drained")
    ]
    if orphans:
        notes.append(f"{orphans} children outlived the broker by 10 s and were killed")
    return [
        Row(
            scenario.name,
            "motiad",
            round_no,
            float(len(accepted)),
            "accepted",
            errors={"lost": len(lost), "duplicates": len(handled) - len(unique)},
            notes=notes,
            extra={"lost_ids": sorted(lost)[:20]},
        )
    ]


CPU_EVENTS = 8
CPU_DEADLINE_S = 120.0
"""8 events of ~0.4 s on one core take ~3 s: a generous bound on a busy machine."""


def run_cpu_pool(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Seconds from POST /burn (8 CPU-bound events at once) until every event is
    handled, on a fresh server per pool size (``workers-N``: ``[languages.python]
    workers = N``)."""
    assert scenario.project is not None
    rows: list[Row] = []
    system = run.registry["motiad"]
    for name in scenario.systems:
        workers = int(name.rsplit("-", 1)[1])
        label = f"{scenario.name}-{name}-{round_no}"
        run.console.print(f"round {round_no}: {scenario.name} with {workers} worker(s)")
        run.quiet()
        cwd = system.prepare(run.workdir(label), scenario.project)
        (cwd / "motiad.toml").write_text(f"[languages.python]\nworkers = {workers}\n")
        try:
            server = launch(system, scenario.project, cwd, run.out, label)
        except RuntimeError as exc:
            run.failures.append(f"{scenario.name} with {name}: {exc}")
            continue
        burned = cwd / "burned.log"
        try:
            conn = _connection(server.base_url)
            started = time.monotonic()
            status, _ = _post(conn, "/burn", {"count": CPU_EVENTS})
            conn.close()
            lines: list[str] = []
            while time.monotonic() - started < CPU_DEADLINE_S:
                lines = burned.read_text().splitlines() if burned.exists() else []
                if len(lines) >= CPU_EVENTS:
                    break
                time.sleep(0.02)
            elapsed = time.monotonic() - started
        finally:
            procs.stop(server.proc, system.stop_grace_s)
        if status != 202 or len(lines) < CPU_EVENTS:
            run.failures.append(
                f"{scenario.name} with {name}: POST /burn answered {status},"
                f" {len(lines)} of {CPU_EVENTS} events handled"
            )
            continue
        pids = {line.split()[1] for line in lines}
        rows.append(
            Row(
                scenario.name,
                name,
                round_no,
                elapsed,
                "s",
                higher_is_better=False,
                notes=[f"{CPU_EVENTS} events handled by {len(pids)} child(ren)"],
            )
        )
    return rows


def _wait_gone(pids: list[int], deadline_s: float) -> int:
    """Wait for the broker's children to exit on their own (stdin EOF); SIGKILL (by
    pid: they are ours) those still there after ``deadline_s``. Returns how many."""
    deadline = time.monotonic() + deadline_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(alive)


def _zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rindex(")") + 2] == "Z"
