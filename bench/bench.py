"""The benchmark driver: install what the systems need (``bench/.cache/``), then in
rounds run each scenario against each of its systems in turn, then the once-per-run
scenarios (kill -9, ageing), stop every server, and report each system against its
baseline from the same run.

Usage: ``bench/run [--quick] [--rounds N] [--scenario NAME] [--profile] [--rev REV]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from .http_load import (
    run_ageing,
    run_chain_latency,
    run_chain_load,
    run_startup,
    run_wrk_scenario,
)
from .install import MOTIA_VERSION, ensure_motia, ensure_tsx
from .micro.cores import run_cores
from .micro.drive import run_cpu_pool, run_events, run_fanout, run_invoke, run_kill
from .micro.redis_events import run_events_redis
from .profile import ensure_py_spy
from .report import Row, machine, print_report, to_json, to_markdown
from .scenarios import SCENARIOS, Kind, Scenario, check
from .servers import Plan, Run
from .systems import Motiad, snapshot, systems
from .wrk import ensure_wrk

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"

Runner = Callable[[Run, Scenario, int], list[Row]]

RUNNERS: dict[Kind, Runner] = {
    "wrk": run_wrk_scenario,
    "startup": run_startup,
    "chain-latency": run_chain_latency,
    "chain-load": run_chain_load,
    "ageing": run_ageing,
    "invoke": run_invoke,
    "events": run_events,
    "events-redis": run_events_redis,
    "kill": run_kill,
    "fanout": run_fanout,
    "cpu-pool": run_cpu_pool,
    "cores": run_cores,
}

FULL = Plan(
    quick=False,
    warmup_s=3,
    measure_s=10,
    rounds=3,
    profile=False,
    ageing_windows=6,
    invoke_count=20_000,
    events_total=20_000,
    probes=200,
    chain_budget_s=10,
    chain_max=300,
    kill_after_s=3,
    quiet_s=10,
    stream_changes=5_000,
    drain_s=60,
)
QUICK = Plan(
    quick=True,
    warmup_s=2,
    measure_s=5,
    rounds=1,
    profile=False,
    ageing_windows=2,
    invoke_count=5_000,
    events_total=10_000,
    probes=50,
    chain_budget_s=5,
    chain_max=100,
    kill_after_s=2,
    quiet_s=0,
    stream_changes=1_000,
    drain_s=20,
)
"""``--quick`` (< 5 min): one round of 5 s windows, shorter ageing (2 x 5 s), fewer
round trips, events and probes, shorter waits for a quiet machine and for drains."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round of 5 s (default: 3 rounds of 10 s)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of the repeated scenarios")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[scenario.name for scenario in SCENARIOS],
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--system",
        action="append",
        help="run only these systems (repeatable; micro-benchmarks keep their baselines)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the servers (and micro-benchmark processes) with py-spy (costs ~10%%)",
    )
    parser.add_argument(
        "--rev",
        help="run motiad as committed at this git revision (e.g. HEAD), not the working tree",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list scenarios and systems; exit")
    return parser.parse_args(argv)


def _setup(run: Run, chosen: list[Scenario]) -> dict[str, str]:
    """Install what the chosen scenarios' systems need; a system whose install fails
    is marked unavailable (with the reason) and the others go on."""
    names = {name for scenario in chosen for name in scenario.systems}
    versions: dict[str, str] = {}
    motiad = run.registry["motiad"]
    wanted = any(name.startswith("motiad") for name in names) or any(
        scenario.kind in ("events-redis", "cores") for scenario in chosen
    )
    if wanted and isinstance(motiad, Motiad) and motiad.node_modules is not None:
        try:
            ensure_tsx(CACHE)
        except RuntimeError as exc:
            for name, system in run.registry.items():
                if name.startswith("motiad"):
                    system.unavailable = f"tsx: {exc}"
    if "motia-0.17" in names:
        try:
            ensure_motia(CACHE)
            versions["motia"] = MOTIA_VERSION
        except RuntimeError as exc:
            run.registry["motia-0.17"].unavailable = str(exc)
    for name, system in run.registry.items():
        if system.unavailable and name in names:
            run.failures.append(f"{name} cannot run here: {system.unavailable}")
    return versions


def summarise(rows: list[Row]) -> list[Row]:
    """Per scenario and system (in the order first measured), the round with the
    median figure (its latencies, CPU and notes go with it), carrying every round's."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.system), []).append(row)
    summary: list[Row] = []
    for runs in groups.values():
        ranked = sorted(runs, key=lambda row: row.value)
        middle = ranked[(len(ranked) - 1) // 2]  # the lower median: a real round
        middle.rounds_values = [row.value for row in runs]
        summary.append(middle)
    scenarios = list(dict.fromkeys(row.scenario for row in rows))
    return sorted(summary, key=lambda row: scenarios.index(row.scenario))


def _timed(run: Run, scenario: Scenario, round_no: int) -> list[Row]:
    """Run one scenario's runner; say how long it took (the budget of --quick is 5 min)."""
    started = time.monotonic()
    rows = RUNNERS[scenario.kind](run, scenario, round_no)
    run.console.print(
        f"[dim]{scenario.name} round {round_no}: {time.monotonic() - started:.0f} s[/]"
    )
    return rows


MICRO: tuple[Kind, ...] = ("invoke", "events", "events-redis", "kill", "cpu-pool", "cores")
"""Scenarios whose systems only make sense together (``--system`` keeps them all)."""


def _restrict(scenario: Scenario, only: list[str] | None) -> Scenario:
    """Keep only the chosen systems of an HTTP scenario (micro ones keep all: a system
    without its baseline says nothing)."""
    if not only or scenario.kind in MICRO:
        return scenario
    kept = tuple(name for name in scenario.systems if name in only)
    return Scenario(
        scenario.name,
        scenario.kind,
        scenario.description,
        kept,
        scenario.project,
        scenario.request,
        scenario.targets,
        scenario.repeat,
        scenario.language,
    )


def main(argv: list[str] | None = None) -> None:
    """``bench/run``."""
    args = _parse_args(argv)
    # Piped output (a log, CI) is 80 columns by default: too narrow for the table.
    console = Console(width=None if sys.stdout.isatty() else 160)
    source = snapshot(args.rev, CACHE) if args.rev else None
    registry = systems(CACHE, source)
    if args.list:
        for scenario in SCENARIOS:
            console.print(
                f"{scenario.name} [{scenario.kind}] on {', '.join(scenario.systems)}: "
                f"{scenario.description}"
            )
        for system in registry.values():
            console.print(f"{system.name}: {system.description}")
        return
    chosen = [
        _restrict(scenario, args.system)
        for scenario in SCENARIOS
        if not args.scenario or scenario.name in args.scenario
    ]
    base = QUICK if args.quick else FULL
    plan = dataclasses.replace(base, rounds=args.rounds or base.rounds, profile=args.profile)
    started = time.monotonic()
    wrk = ensure_wrk()
    if plan.profile:
        ensure_py_spy()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = RESULTS / stamp
    out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["bench/run", *(sys.argv[1:] if argv is None else argv)])
    run = Run(plan, out, registry, wrk, console, source)
    rounds: list[Row] = []
    with run.cleanup:
        versions = _setup(run, chosen)
        info = machine(args.rev, versions)
        try:
            for round_no in range(1, plan.rounds + 1):
                for scenario in chosen:
                    if scenario.repeat:
                        rounds += _timed(run, scenario, round_no)
            for scenario in chosen:
                if not scenario.repeat:
                    rounds += _timed(run, scenario, 1)
        finally:
            run.stop_all()
    rows = summarise(rounds)
    verdicts = check(chosen, rounds)
    print_report(console, rows, rounds, verdicts, run.failures, run.notes)
    settings = dataclasses.asdict(plan) | {"elapsed_s": round(time.monotonic() - started)}
    failures = run.failures
    to_json(
        RESULTS / f"{stamp}.json",
        command,
        settings,
        info,
        rows,
        rounds,
        verdicts,
        failures,
        run.notes,
    )
    to_markdown(RESULTS / f"{stamp}.md", command, info, rows, rounds, verdicts, failures, run.notes)
    console.print(
        f"\nresults: bench/results/{stamp}.json, .md; logs and raw output: bench/results/{stamp}/"
        f" ({settings['elapsed_s']} s)"
    )
    missed = [item for item in verdicts if item.measured and not item.ok]
    if args.check:
        met = sum(item.ok for item in verdicts)
        console.print(
            f"targets: {met} met, {len(missed)} missed, {len(verdicts) - met - len(missed)} "
            "not measured in this run"
        )
    if failures or (args.check and missed):
        sys.exit(1)


if __name__ == "__main__":
    main()
