"""How far one project goes past one core on one machine (scenario ``cores``).

``GET /ping`` (the ping project's TypeScript step) under ``wrk -t2 -c32`` against
one port, served by one and then two ``motiad run`` instances on one redis-server,
every instance listening on that port with ``[http] reuse_port = true``: the kernel
spreads the connections, no load balancer in front. The figure is req/s; the CPU
of every instance's process tree is read around the measured window, so the cost
per request of each part (brokers, children, Redis) gives the model for more cores
in docs/SCALING.md.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from .. import procs
from ..http_load import wrk_row
from ..report import Row
from ..scenarios import Scenario
from ..servers import Run, Server, launch, settle
from ..systems import Motiad
from ..wrk import lua_script, run_wrk
from .redis_events import MotiadOnRedis, redis_server

REUSE_PORT = "\n[http]\nreuse_port = true\n"


def run_cores(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """A row per system ``redis-xN``: N instances sharing one port and one Redis."""
    assert scenario.project is not None
    assert scenario.request is not None
    rows: list[Row] = []
    script = lua_script(scenario.request, run.out / f"{scenario.name}.lua")
    base = run.registry["motiad"]
    assert isinstance(base, Motiad)
    for name in scenario.systems:
        count = int(name.removeprefix("redis-x"))
        label = f"{scenario.name}-{name}-{round_no}"
        run.console.print(f"round {round_no}: {scenario.name} on {name}")
        with ExitStack() as stack:
            try:
                url, redis_pid = redis_server(run.workdir(f"{label}-redis"), stack)
                system = MotiadOnRedis(base, url)
                cwd = system.prepare(run.workdir(label), scenario.project)
                with (cwd / "motiad.toml").open("a", encoding="utf-8") as settings:
                    settings.write(REUSE_PORT)
                port = procs.free_port()
                servers: list[Server] = []
                for index in range(count):
                    server = launch(
                        system, scenario.project, cwd, run.out, f"{label}-{index}", port=port
                    )
                    stack.callback(procs.stop, server.proc, system.stop_grace_s)
                    servers.append(server)
                rows.append(_measure(run, scenario, (round_no, name), servers, redis_pid, script))
            except (RuntimeError, OSError, ValueError) as exc:
                run.failures.append(f"{scenario.name} on {name}: {exc}")
    return rows


def _measure(
    run: Run,
    scenario: Scenario,
    round_and_system: tuple[int, str],
    servers: list[Server],
    redis_pid: int,
    script: Path,
) -> Row:
    round_no, name = round_and_system
    assert scenario.request is not None
    url = servers[0].base_url + scenario.request.path
    run_wrk(run.wrk, url, script, run.plan.warmup_s)
    for server in servers:
        settle(server, run.plan.drain_s)
    run.quiet()
    pids = [server.proc.pid for server in servers] + [redis_pid]
    trees_before = [procs.tree_cpu(pid) for pid in pids]
    machine_before = procs.machine_cpu_s()
    result = run_wrk(run.wrk, url, script, run.plan.measure_s)
    machine_used = procs.machine_cpu_s() - machine_before
    *trees, redis = [
        procs.tree_cpu_s(before, procs.tree_cpu(pid))
        for before, pid in zip(trees_before, pids, strict=True)
    ]
    seconds = run.plan.measure_s

    def per_request(cpu_s: float) -> float:
        return 1000 * cpu_s / max(1, result.requests)

    cpu_pct = {f"instance {n + 1}": round(100 * used / seconds, 1) for n, used in enumerate(trees)}
    cpu_pct["redis-server"] = round(100 * redis / seconds, 1)
    others = machine_used - sum(trees) - redis  # wrk, and anything else on the machine
    cpu_pct["wrk, others"] = round(100 * max(0.0, others) / seconds, 1)
    row = wrk_row(scenario, servers[0], round_no, result)
    row.system = name
    row.notes = [
        f"{len(servers)} instance{'s' * (len(servers) > 1)} on one port (SO_REUSEPORT) "
        f"and one redis-server; CPU ms per request: instances {per_request(sum(trees)):.3f},"
        f" redis-server {per_request(redis):.3f}, whole machine {per_request(machine_used):.3f}"
    ]
    row.cpu_pct = cpu_pct
    row.cpu_ms_per_op = per_request(sum(trees)) if result.requests else None
    return row
