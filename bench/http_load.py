"""Runners of the HTTP scenarios: wrk on one request, a fresh server's startup and
idle memory, the order chain one at a time and under wrk, and ageing.

Each runner takes the run, the scenario and the round, measures every system of the
scenario in turn (so a neighbour's load hits all alike) and returns its rows.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import procs
from .report import Background, Row
from .scenarios import Scenario
from .servers import Profiler, Run, Server, launch, sampled, settle
from .wrk import ORDER_ITEMS, WrkResult, lua_script, orders_script, run_wrk

STALL_S = 15.0
"""A chain whose count of finished orders has not moved for this long is done: the
orders still missing are lost."""

IDLE_SETTLE_S = 3.0
"""After startup, how long a server idles before its memory is read."""

FOLLOW_TIMEOUT_S = 10.0
"""A poll of ``GET /runs/RUN`` that takes longer counts as no news."""

CHAIN_TIMEOUT_S = 30.0
"""Longest wait for one order to reach the end of the chain in chain-1."""


def wrk_row(scenario: Scenario, server: Server, round_no: int, result: WrkResult) -> Row:
    """The row of one wrk measurement of ``server``."""
    return Row(
        scenario.name,
        server.system.name,
        round_no,
        result.rps,
        "req/s",
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors={"non-2xx": result.non_2xx, "socket": result.errors},
        wrk=result,
    )


def _drain(server: Server, deadline_s: float) -> tuple[float | None, int]:
    """Poll the system's backlog until nothing is pending; (seconds, still pending)."""
    started = time.monotonic()
    while True:
        backlog = server.system.backlog(server.cwd)
        waiting = backlog.waiting if backlog else 0
        if waiting == 0:
            return time.monotonic() - started, 0
        if time.monotonic() - started > deadline_s:
            return None, waiting
        time.sleep(0.1)


def run_wrk_scenario(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """wrk ``-t2 -c32`` on one request: warm-up in round 1, let background work settle,
    the measured run with CPU readings, background accounting, optionally a profile."""
    assert scenario.request is not None
    assert scenario.project is not None
    rows: list[Row] = []
    for name in scenario.systems:
        with run.using(name, scenario.project) as server:
            if server is None:
                continue
            run.console.print(f"round {round_no}: {scenario.name} on {name}")
            label = f"{scenario.name}-{name}-{round_no}"
            script = lua_script(scenario.request, run.out / f"{scenario.name}.lua")
            url = server.base_url + scenario.request.path
            try:
                if round_no == 1 and not server.system.fresh:
                    run_wrk(run.wrk, url, script, run.plan.warmup_s)
                _drain(server, run.plan.drain_s)
                settle(server, run.plan.drain_s)
                before = server.system.backlog(server.cwd)
                with sampled(run, server.proc.pid) as sample:
                    profiler = Profiler(run, server.proc.pid, label, run.plan.measure_s)
                    result = run_wrk(run.wrk, url, script, run.plan.measure_s)
            except (RuntimeError, ValueError) as exc:
                run.failures.append(f"{scenario.name} on {name}: {exc}")
                continue
            (run.out / f"{label}.wrk.txt").write_text(result.raw, encoding="utf-8")
            row = wrk_row(scenario, server, round_no, result)
            row.cpu_pct, row.busy_before = sample.cpu_pct, sample.busy_before
            row.cpu_ms_per_op = (
                1000 * sample.tree_cpu_s / result.requests if result.requests else None
            )
            at_end = server.system.backlog(server.cwd)
            if before is not None and at_end is not None and at_end.created > before.created:
                drained_in, still = _drain(server, run.plan.drain_s)
                final = server.system.backlog(server.cwd) or at_end
                row.background = Background(
                    accepted=result.ok,
                    deliveries=at_end.created - before.created,
                    pending_at_end=at_end.pending,
                    drained_in_s=drained_in,
                    pending_after=still,
                    dead=final.dead - before.dead,
                )
            profiler.finish(row, run)
            rows.append(row)
    return rows


def run_startup(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """A fresh server per system: seconds from spawn to the first 200 of the project's
    ready path (``GET /ping``), then, after idling, the RSS of its process tree."""
    assert scenario.project is not None
    rows: list[Row] = []
    for name in scenario.systems:
        system = run.registry[name]
        if system.unavailable:
            continue
        run.console.print(f"round {round_no}: {scenario.name} of {name}")
        run.quiet()
        try:
            cwd = system.prepare(run.workdir(f"startup-{name}"), scenario.project)
            server = launch(
                system,
                scenario.project,
                cwd,
                run.out,
                f"{scenario.name}-{name}-{round_no}",
                interval_s=0.02,
            )
        except RuntimeError as exc:
            run.failures.append(f"{scenario.name} of {name}: {exc}")
            continue
        try:
            # Every step answers once (Python too) before the memory is read.
            _get(server.base_url, "/ping-py")
            time.sleep(IDLE_SETTLE_S)
            rss, count = procs.tree_rss_bytes(server.proc.pid)
        finally:
            code = procs.stop(server.proc, system.stop_grace_s)
        rows.append(Row(scenario.name, name, round_no, server.ready_s, "s", higher_is_better=False))
        rows.append(
            Row(
                "idle-memory" if scenario.name == "startup" else f"{scenario.name}-memory",
                name,
                round_no,
                rss / 2**20,
                "MB",
                higher_is_better=False,
                notes=[f"{count} process{'' if count == 1 else 'es'}"],
                extra={"processes": count},
            )
        )
        if code != 0:
            run.failures.append(f"{scenario.name} of {name}: stopped with exit code {code}")
    return rows


def _connection(base_url: str, timeout: float = 30.0) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def _get(base_url: str, path: str, timeout: float = 30.0) -> tuple[int, Any]:
    """One GET; (status, decoded JSON body or None)."""
    conn = _connection(base_url, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body) if body else None
    except ValueError:
        return response.status, None


def order_body(order_id: str, run_id: str, notify: int | None = None) -> str:
    """The JSON of one benchmark order (what wrk's Lua script sends, too)."""
    notify_json = "null" if notify is None else str(notify)
    return f'{{"id":"{order_id}","run":"{run_id}","items":{ORDER_ITEMS},"notify":{notify_json}}}'


def run_chain_latency(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Orders one at a time: POST, then wait for the last step's UDP datagram; the
    latency is from just before the POST to its arrival (one clock: ours)."""
    assert scenario.project is not None
    rows: list[Row] = []
    for name in scenario.systems:
        with run.using(name, scenario.project) as server:
            if server is None:
                continue
            run.console.print(f"round {round_no}: {scenario.name} on {name}")
            settle(server, run.plan.drain_s)
            try:
                with sampled(run, server.proc.pid) as sample:
                    latencies, posts, errors = _one_at_a_time(run, server)
            except OSError as exc:
                run.failures.append(f"{scenario.name} on {name}: {exc}")
                continue
            if not latencies:
                run.failures.append(f"{scenario.name} on {name}: no order reached the end")
                continue
            latencies.sort()
            posts.sort()
            rows.append(
                Row(
                    scenario.name,
                    name,
                    round_no,
                    len(latencies) / sample.seconds,
                    "orders/s",
                    p50_ms=_quantile(latencies, 0.5),
                    p99_ms=_quantile(latencies, 0.99),
                    errors={"timeouts": errors},
                    cpu_ms_per_op=1000 * sample.tree_cpu_s / len(latencies),
                    cpu_pct=sample.cpu_pct,
                    busy_before=sample.busy_before,
                    notes=[
                        f"{len(latencies)} orders; POST answered in p50 {_quantile(posts, 0.5):.2f}"
                        f" ms, p99 {_quantile(posts, 0.99):.2f} ms"
                    ],
                )
            )
    return rows


def _quantile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _one_at_a_time(run: Run, server: Server) -> tuple[list[float], list[float], int]:
    """(end-to-end ms, POST ms, orders that never arrived) for up to ``chain_max``
    orders within ``chain_budget_s``."""
    latencies: list[float] = []
    posts: list[float] = []
    lost = 0
    run_id = uuid.uuid4().hex[:12]
    headers = {"content-type": "application/json"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        conn = _connection(server.base_url)
        deadline = time.monotonic() + run.plan.chain_budget_s
        try:
            for index in range(run.plan.chain_max):
                if time.monotonic() > deadline:
                    break
                order_id = f"{run_id}-{index}"
                body = order_body(order_id, run_id, port)
                started = time.perf_counter()
                conn.request("POST", "/orders", body, headers)
                response = conn.getresponse()
                response.read()
                answered = time.perf_counter()
                if response.status != 200:
                    lost += 1
                    continue
                if _await_datagram(udp, order_id, CHAIN_TIMEOUT_S):
                    latencies.append(1000 * (time.perf_counter() - started))
                    posts.append(1000 * (answered - started))
                else:
                    lost += 1
        finally:
            conn.close()
    return latencies, posts, lost


def _await_datagram(udp: socket.socket, order_id: str, timeout_s: float) -> bool:
    """Wait for the datagram of ``order_id`` (older, late ones are skipped)."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        udp.settimeout(left)
        try:
            data = udp.recv(65536)
        except TimeoutError:
            return False
        try:
            if json.loads(data).get("id") == order_id:
                return True
        except ValueError:
            continue
    return False


@dataclass(frozen=True, slots=True)
class ChainOutcome:
    """What became of the orders of one load."""

    accepted: int
    finished: int
    lost: int
    """Accepted, never finished, and the chain had stopped moving (or drained)."""
    unfinished: int
    """Accepted and still moving when we stopped waiting."""
    extra: int
    """Finished without wrk counting an answer (in flight when wrk stopped)."""
    first_ms: float | None
    last_ms: float | None
    waited_s: float


def _accepted_ids(folder: Path) -> set[str]:
    ids: set[str] = set()
    for path in folder.glob("ids-*.txt"):
        ids.update(line for line in path.read_text().splitlines() if line)
    return ids


def _follow_chain(
    server: Server, run_id: str, accepted: set[str], deadline_s: float
) -> ChainOutcome:
    """Poll ``GET /runs/RUN`` (gently: Motia starts a process per GET) until every
    accepted order finished, motiad's backlog is empty, or the count stalls."""
    started = time.monotonic()
    last_count, last_change = -1, started
    done_ids: set[str] = set()
    summary: Any = {}
    moving = True
    while True:
        asked = time.monotonic()
        try:
            _, summary = _get(server.base_url, f"/runs/{run_id}", FOLLOW_TIMEOUT_S)
        except TimeoutError:  # Motia: the GET waits behind the backlog's processes
            summary = {"count": last_count}
        took = time.monotonic() - asked
        count = int(summary["count"])
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        backlog = server.system.backlog(server.cwd)
        drained = backlog is not None and backlog.waiting == 0
        if count >= len(accepted) or drained:
            full = _ids(server, run_id)
            if full is not None:
                done_ids, summary = set(full["ids"]), full
                if accepted <= done_ids or drained:
                    break
        if time.monotonic() - last_change > STALL_S:
            moving = False
            break
        if time.monotonic() - started > deadline_s:
            break
        time.sleep(max(0.25, 3 * took))
    if not done_ids:
        full = _ids(server, run_id)
        if full is not None:
            done_ids, summary = set(full["ids"]), full
    missing = len(accepted - done_ids)
    complete = accepted <= done_ids or not moving or drained
    return ChainOutcome(
        accepted=len(accepted),
        finished=len(done_ids),
        lost=missing if complete else 0,
        unfinished=0 if complete else missing,
        extra=len(done_ids - accepted),
        first_ms=summary.get("first"),
        last_ms=summary.get("last"),
        waited_s=time.monotonic() - started,
    )


def _ids(server: Server, run_id: str) -> Any:
    """``GET /runs/RUN?ids=1`` (``None`` when it does not answer in time)."""
    try:
        return _get(server.base_url, f"/runs/{run_id}?ids=1", FOLLOW_TIMEOUT_S)[1]
    except TimeoutError:
        return None


def run_chain_load(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """wrk ``-t2 -c32`` of POST /orders with unique ids for the measured time, then
    follow the chain until every accepted order finished: orders/s from the first
    POST to the last order's end, lost orders, CPU per finished order."""
    assert scenario.project is not None
    rows: list[Row] = []
    for name in scenario.systems:
        with run.using(name, scenario.project) as server:
            if server is None:
                continue
            run.console.print(f"round {round_no}: {scenario.name} on {name}")
            label = f"{scenario.name}-{name}-{round_no}"
            try:
                if round_no == 1 and not server.system.fresh:
                    warm = run.out / f"{label}-warmup"
                    warm.mkdir()
                    script = orders_script(run.out / f"{label}-warmup.lua", f"w{round_no}", warm)
                    run_wrk(run.wrk, server.base_url + "/orders", script, run.plan.warmup_s)
                _drain(server, run.plan.drain_s)
                settle(server, run.plan.drain_s)
                run_id = f"r{uuid.uuid4().hex[:10]}"
                ids = run.out / f"{label}-ids"
                ids.mkdir()
                script = orders_script(run.out / f"{label}.lua", run_id, ids)
                with sampled(run, server.proc.pid) as sample:
                    profiler = Profiler(run, server.proc.pid, label, run.plan.measure_s)
                    started_ms = time.time() * 1000
                    result = run_wrk(
                        run.wrk, server.base_url + "/orders", script, run.plan.measure_s
                    )
                    outcome = _follow_chain(server, run_id, _accepted_ids(ids), run.plan.drain_s)
            except (RuntimeError, ValueError, OSError, KeyError) as exc:
                run.failures.append(f"{scenario.name} on {name}: {exc}")
                continue
            (run.out / f"{label}.wrk.txt").write_text(result.raw, encoding="utf-8")
            span_s = ((outcome.last_ms or started_ms) - started_ms) / 1000
            tail = (
                f"the last {span_s - run.plan.measure_s:.1f} s after the load"
                if outcome.finished
                else "none finished"
            )
            row = Row(
                scenario.name,
                name,
                round_no,
                outcome.finished / span_s if span_s > 0 else 0.0,
                "orders/s",
                p50_ms=result.p50_ms,
                p99_ms=result.p99_ms,
                errors={
                    "lost": outcome.lost,
                    "unfinished": outcome.unfinished,
                    "non-2xx": result.non_2xx,
                    "socket": result.errors,
                },
                cpu_ms_per_op=(
                    1000 * sample.tree_cpu_s / outcome.finished if outcome.finished else None
                ),
                cpu_pct=sample.cpu_pct,
                busy_before=sample.busy_before,
                notes=[
                    f"{outcome.accepted:,} POSTs accepted ({result.rps:,.0f} req/s, p50/p99 are "
                    f"theirs), {outcome.finished:,} finished (+{outcome.extra} answered after "
                    f"wrk stopped), {tail}"
                ],
                wrk=result,
            )
            profiler.finish(row, run)
            rows.append(row)
    return rows


def run_ageing(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Back-to-back wrk windows; the figure is the last window's req/s over the first's."""
    assert scenario.request is not None
    assert scenario.project is not None
    rows: list[Row] = []
    windows = run.plan.ageing_windows
    for name in scenario.systems:
        with run.using(name, scenario.project) as server:
            if server is None:
                continue
            run.console.print(
                f"{scenario.name} on {name}: {windows} x {run.plan.measure_s:g} s back to back"
            )
            _drain(server, run.plan.drain_s)
            settle(server, run.plan.drain_s)
            results: list[WrkResult] = []
            url = server.base_url + scenario.request.path
            try:
                with sampled(run, server.proc.pid) as sample:
                    for window in range(windows):
                        label = f"{scenario.name}-{name}-{window + 1}"
                        if scenario.request.path == "/orders":
                            ids = run.out / f"{label}-ids"
                            ids.mkdir()
                            script = orders_script(run.out / f"{label}.lua", f"a{window}", ids)
                        else:
                            script = lua_script(scenario.request, run.out / f"{label}.lua")
                        results.append(run_wrk(run.wrk, url, script, run.plan.measure_s))
            except (RuntimeError, ValueError) as exc:
                run.failures.append(f"{scenario.name} on {name}: {exc}")
                continue
            drained_in, still = _drain(server, run.plan.drain_s)
            first, last = results[0], results[-1]
            requests = sum(result.requests for result in results)
            row = Row(
                scenario.name,
                name,
                round_no,
                last.rps / first.rps if first.rps else 0.0,
                "x",
                p50_ms=last.p50_ms,
                p99_ms=last.p99_ms,
                errors={
                    "non-2xx": sum(result.non_2xx for result in results),
                    "socket": sum(result.errors for result in results),
                },
                cpu_ms_per_op=1000 * sample.tree_cpu_s / requests if requests else None,
                cpu_pct=sample.cpu_pct,
                busy_before=sample.busy_before,
                notes=[
                    "req/s per window: " + ", ".join(f"{result.rps:,.0f}" for result in results),
                    f"p50 first {first.p50_ms:.2f} ms, last {last.p50_ms:.2f} ms (p50/p99: last)",
                ],
            )
            if still:
                row.notes.append(f"{still} deliveries still pending {run.plan.drain_s:g} s after")
            elif drained_in is not None and server.system.backlog(server.cwd) is not None:
                row.notes.append(f"backlog drained {drained_in:.1f} s after the load")
            rows.append(row)
    return rows
