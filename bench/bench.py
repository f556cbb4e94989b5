"""The benchmark driver: start every system the chosen scenarios name, then in
rounds run each scenario against each of its systems in turn (a warm-up that is
not counted the first time, then the measured wrk run), stop them all, and
report each system against its baseline from the same run.

Usage: ``bench/run [--quick] [--rounds N] [--scenario NAME] [--profile] [--rev REV]``.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console

from . import procs
from .profile import analyse, ensure_py_spy, record
from .report import (
    BUSY_NOTE_PCT,
    Background,
    Row,
    Verdict,
    machine,
    print_report,
    to_json,
    to_markdown,
    verdict,
)
from .scenarios import SCENARIOS, Scenario
from .systems import System, snapshot, systems
from .wrk import ensure_wrk, lua_script, run_wrk

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"

DRAIN_DEADLINE_S = 60.0
"""Longest wait for a system's background work (motiad's event deliveries) to
finish after a wrk run: it bounds a run when the queue falls far behind."""

QUIET_DEADLINE_S = 30.0
"""Longest wait for others' work on the machine to calm down before a measured run;
past it the run goes ahead and the report says how busy the machine was."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each wrk run lasts, how many rounds, and what else a run does."""

    warmup_s: float
    measure_s: float
    rounds: int
    profile: bool


@dataclass(frozen=True, slots=True)
class Server:
    """A started system."""

    system: System
    proc: subprocess.Popen[bytes]
    cwd: Path
    base_url: str
    log: Path


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round of 5 s (default: 3 rounds of 10 s)"
    )
    parser.add_argument("--rounds", type=int, help="rounds per scenario and system")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[scenario.name for scenario in SCENARIOS],
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample each server with py-spy during the measured runs (costs it ~10%%)",
    )
    parser.add_argument(
        "--rev",
        help="run motiad as committed at this git revision (e.g. HEAD), not the working tree",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list scenarios and systems; exit")
    return parser.parse_args(argv)


def _wait_drained(server: Server, deadline_s: float) -> tuple[float | None, int]:
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


def measure(
    scenario: Scenario, server: Server, wrk: str, plan: Plan, out: Path, round_no: int
) -> Row:
    """(Warm up in round 1,) let background work settle, then the measured run with
    CPU readings, background accounting and optionally a profile."""
    system, proc = server.system, server.proc
    label = f"{scenario.name}-{system.name}-{round_no}"
    script = lua_script(scenario.request, out / f"{scenario.name}.lua")
    url = server.base_url + scenario.request.path
    if round_no == 1:
        run_wrk(wrk, url, script, plan.warmup_s)
    _wait_drained(server, DRAIN_DEADLINE_S)

    before = system.backlog(server.cwd)
    busy = procs.wait_quiet(BUSY_NOTE_PCT, QUIET_DEADLINE_S)
    cpu_before = procs.tree_cpu(proc.pid)
    machine_before = procs.machine_cpu_s()
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    profile_out = out / f"{label}.pyspy.txt"
    sampler = (
        record(ensure_py_spy(), proc.pid, plan.measure_s, profile_out) if plan.profile else None
    )
    started = time.monotonic()
    result = run_wrk(wrk, url, script, plan.measure_s)
    elapsed = time.monotonic() - started
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_used = procs.machine_cpu_s() - machine_before
    cpu_after = procs.tree_cpu(proc.pid)
    cpu = procs.cpu_share(cpu_before, cpu_after, proc.pid, elapsed)
    wrk_cpu = wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime
    cpu["wrk"] = round(100 * wrk_cpu / elapsed, 1)
    ours = procs.tree_cpu_s(cpu_before, cpu_after) + wrk_cpu
    # Everything else on the machine during the run (other sessions' tests, the
    # kernel's own work, py-spy when profiling): it competes for the same cores.
    cpu["others"] = round(max(0.0, 100 * (machine_used - ours) / elapsed), 1)
    (out / f"{label}.wrk.txt").write_text(result.raw, encoding="utf-8")

    row = Row(scenario.name, system.name, round_no, result, cpu, busy)
    at_end = system.backlog(server.cwd)
    if before is not None and at_end is not None:
        drained_in, still = _wait_drained(server, DRAIN_DEADLINE_S)
        final = system.backlog(server.cwd) or at_end
        row.background = Background(
            accepted=result.ok,
            deliveries=at_end.created - before.created,
            pending_at_end=at_end.pending,
            drained_in_s=drained_in,
            pending_after=still,
            dead=final.dead - before.dead,
        )
    if sampler is not None:
        _, errors = sampler.communicate(timeout=plan.measure_s + 30)
        if sampler.returncode == 0 and profile_out.exists():
            row.profile = analyse(profile_out)
            row.profile_file = str(profile_out.relative_to(HERE.parent))
        else:
            print(f"bench: py-spy failed on {system.name}: {errors.decode(errors='replace')}")
    return row


def launch(system: System, workdir: Path, out: Path, console: Console) -> Server:
    """Prepare and start ``system``; return once it answers. Raises ``RuntimeError``."""
    cwd = system.prepare(workdir)
    port = procs.free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = out / f"{system.name}.log"
    proc = procs.start(system.command(cwd, port), cwd, log, system.env())
    server = Server(system, proc, cwd, base_url, log)
    try:
        ready_s = procs.wait_ready(proc, base_url + system.ready_path, system.ready_deadline_s, log)
    except BaseException:
        procs.stop(proc, system.stop_grace_s)
        raise
    console.print(f"{system.name}: ready in {ready_s:.1f} s on {base_url}")
    return server


def run_all(
    chosen: list[Scenario],
    registry: dict[str, System],
    wrk: str,
    plan: Plan,
    out: Path,
    console: Console,
    failures: list[str],
) -> list[Row]:
    """Start every system once; in each round, each scenario against each of its
    systems in turn (interleaved, so a neighbour's load on the machine hits all
    alike); stop every process tree. A system that fails to start or dies is
    reported in ``failures`` and the others go on."""
    rows: list[Row] = []
    names = list(dict.fromkeys(name for scenario in chosen for name in scenario.systems))
    servers: dict[str, Server] = {}
    with contextlib.ExitStack() as cleanup:
        try:
            for name in names:
                workdir = cleanup.enter_context(
                    tempfile.TemporaryDirectory(prefix=f"motiad-bench-{name}-")
                )
                try:
                    servers[name] = launch(registry[name], Path(workdir), out, console)
                except RuntimeError as exc:
                    failures.append(f"{name} did not start: {exc}")
            for round_no in range(1, plan.rounds + 1):
                for scenario in chosen:
                    for name in scenario.systems:
                        server = servers.get(name)
                        if server is None or server.proc.poll() is not None:
                            continue
                        console.print(
                            f"round {round_no}/{plan.rounds}: {scenario.name} on {name} "
                            f"({scenario.request.label()})"
                        )
                        try:
                            rows.append(measure(scenario, server, wrk, plan, out, round_no))
                        except (RuntimeError, ValueError) as exc:
                            failures.append(f"{scenario.name} on {name}: {exc}")
        finally:
            for name, server in servers.items():
                code = procs.stop(server.proc, server.system.stop_grace_s)
                if code != 0:  # None: it had to be killed
                    failures.append(f"{name} stopped with exit code {code} (log: {server.log})")
    return rows


def summarise(rows: list[Row], chosen: list[Scenario]) -> list[Row]:
    """Per scenario and system, the round with the median requests/s (its latencies,
    CPU and background figures go with it), carrying every round's requests/s."""
    summary: list[Row] = []
    for scenario in chosen:
        for name in scenario.systems:
            runs = [row for row in rows if row.scenario == scenario.name and row.system == name]
            if runs:
                ranked = sorted(runs, key=lambda row: row.wrk.rps)
                middle = ranked[(len(ranked) - 1) // 2]  # the lower median: a real round
                middle.rounds_rps = [row.wrk.rps for row in runs]
                summary.append(middle)
    return summary


def main(argv: list[str] | None = None) -> None:
    """``bench/run``."""
    args = _parse_args(argv)
    # Piped output (a log, CI) is 80 columns by default: too narrow for the table.
    console = Console(width=None if sys.stdout.isatty() else 140)
    registry = systems(snapshot(args.rev, CACHE) if args.rev else None)
    if args.list:
        for scenario in SCENARIOS:
            console.print(
                f"{scenario.name}: {scenario.request.label()} on "
                f"{', '.join(scenario.systems)} — {scenario.description}"
            )
        for system in registry.values():
            console.print(f"{system.name}: {system.description}")
        return
    chosen = [
        scenario for scenario in SCENARIOS if not args.scenario or scenario.name in args.scenario
    ]
    plan = Plan(
        warmup_s=2 if args.quick else 3,
        measure_s=5 if args.quick else 10,
        rounds=args.rounds or (1 if args.quick else 3),
        profile=args.profile,
    )
    wrk = ensure_wrk()
    if plan.profile:
        ensure_py_spy()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / stamp
    out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["bench/run", *(sys.argv[1:] if argv is None else argv)])
    info = machine(args.rev)

    failures: list[str] = []
    rounds = run_all(chosen, registry, wrk, plan, out, console, failures)
    rows = summarise(rounds, chosen)
    verdicts: list[Verdict] = [
        found
        for scenario in chosen
        for target in scenario.targets
        if (found := verdict(scenario.name, target, rounds)) is not None
    ]
    print_report(console, rows, rounds, verdicts, failures)
    settings = {
        "warmup_s": plan.warmup_s,
        "measure_s": plan.measure_s,
        "rounds": plan.rounds,
        "profile": plan.profile,
    }
    to_json(RESULTS / f"{stamp}.json", command, settings, info, rows, rounds, verdicts, failures)
    to_markdown(RESULTS / f"{stamp}.md", command, info, rows, rounds, verdicts, failures)
    console.print(
        f"\nresults: bench/results/{stamp}.json, .md; logs and raw output: bench/results/{stamp}/"
    )
    if failures or (args.check and not all(item.rps_ok and item.p50_ok for item in verdicts)):
        sys.exit(1)


if __name__ == "__main__":
    main()
