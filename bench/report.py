"""What a run measured, as one table on the terminal (rich) and as JSON and
Markdown under ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .profile import ThreadProfile
from .scenarios import Target
from .systems import ROOT
from .wrk import WrkResult

BUSY_NOTE_PCT = 15.0
"""Above this share of a core used by others just before a run, the report says so:
on a small machine that is enough to move the figures by several percent."""


@dataclass(frozen=True, slots=True)
class Background:
    """motiad's background work during a measured run: every accepted POST committed
    events before it was answered; their deliveries run after."""

    accepted: int
    """2xx answers wrk counted."""
    deliveries: int
    """Deliveries created during the run (one per subscriber per event)."""
    pending_at_end: dict[str, int]
    """Deliveries not yet done when wrk stopped, by step."""
    drained_in_s: float | None
    """Seconds after wrk stopped until none was pending (``None``: not within the deadline)."""
    pending_after: int
    """Still pending when we stopped waiting."""
    dead: int
    """Deliveries moved to the dead-letter queue during the run."""


@dataclass(slots=True)
class Row:
    """One scenario against one system."""

    scenario: str
    system: str
    round: int
    wrk: WrkResult
    cpu_pct: dict[str, float]
    """Percent of one core used during the measured run: ``main`` (the server process),
    its children by kind, and ``wrk``."""
    busy_before: float
    """Percent of a core the machine used in the second before the run, the server idle:
    others' work (tests, builds) skews the figures."""
    background: Background | None = None
    profile: list[ThreadProfile] = field(default_factory=list)
    profile_file: str | None = None
    rounds_rps: list[float] = field(default_factory=list)
    """Requests/s of every round, when this row stands for several (the median one)."""

    def rps_text(self) -> str:
        """``1,113`` or, over rounds, ``1,113 (1,016-1,409)``."""
        text = f"{self.wrk.rps:,.0f}"
        if len(self.rounds_rps) > 1:
            text += f" ({min(self.rounds_rps):,.0f}-{max(self.rounds_rps):,.0f})"
        return text


@dataclass(frozen=True, slots=True)
class Verdict:
    """A target checked against one run: the median over rounds of the ratios of
    each round (system and baseline run back to back, so a round's pair saw the
    same neighbours on the machine)."""

    scenario: str
    target: Target
    rps_ratio: float
    p50_ratio: float
    rps_ratios: tuple[float, ...] = ()
    """Each round's ratio."""
    p50_ratios: tuple[float, ...] = ()

    @property
    def rps_ok(self) -> bool:
        """Requests/s at least the target share of the baseline's."""
        return self.rps_ratio >= self.target.min_rps_ratio

    @property
    def p50_ok(self) -> bool:
        """Median latency at most the target multiple of the baseline's."""
        return self.p50_ratio <= self.target.max_p50_ratio


def verdict(scenario: str, target: Target, rounds: list[Row]) -> Verdict | None:
    """Ratios of ``target.system`` to ``target.baseline``, per round and their median
    (``None``: no round has both)."""
    pairs: dict[int, dict[str, WrkResult]] = {}
    for row in rounds:
        if row.scenario == scenario:
            pairs.setdefault(row.round, {})[row.system] = row.wrk
    rps: list[float] = []
    p50: list[float] = []
    for found in pairs.values():
        system, baseline = found.get(target.system), found.get(target.baseline)
        if system is None or baseline is None or not baseline.rps or not baseline.p50_ms:
            continue
        rps.append(system.rps / baseline.rps)
        p50.append(system.p50_ms / baseline.p50_ms)
    if not rps:
        return None
    return Verdict(
        scenario,
        target,
        statistics.median(rps),
        statistics.median(p50),
        tuple(round(ratio, 2) for ratio in rps),
        tuple(round(ratio, 2) for ratio in p50),
    )


def _each(ratios: tuple[float, ...], suffix: str = "") -> str:
    """`` (rounds: 0.33, 0.36, 0.29)`` when there were several."""
    if len(ratios) < 2:
        return ""
    return " (rounds: " + ", ".join(f"{ratio:.2f}{suffix}" for ratio in ratios) + ")"


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    except OSError:
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def machine(rev: str | None) -> dict[str, Any]:
    """The machine and the code measured (``rev``: motiad from that commit)."""
    model = "?"
    with Path("/proc/cpuinfo").open() as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "src", "sdk-node", "sdk-python"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _run(["node", "--version"]),
        "wrk": _run(["wrk", "--version"]).split(" [")[0],
        "git": (
            f"{rev} = " + _run(["git", "rev-parse", "--short", rev])
            if rev
            else _run(["git", "rev-parse", "--short", "HEAD"]) + (" + uncommitted" if dirty else "")
        ),
        "load_at_start": round(os.getloadavg()[0], 2),
    }


def _cpu(row: Row) -> str:
    return ", ".join(f"{name} {pct:.0f}%" for name, pct in row.cpu_pct.items())


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_report(
    console: Console,
    rows: list[Row],
    rounds: list[Row],
    verdicts: list[Verdict],
    failures: list[str],
) -> None:
    """The table, the targets, the background work, the profiles and what failed."""
    table = Table(
        title="wrk -t2 -c32 --latency; the median round by req/s (range over rounds)",
        title_justify="left",
    )
    for column in ("scenario", "system", "req/s", "p50 ms", "p99 ms", "non-2xx", "errors"):
        table.add_column(column, justify="right" if " " in column or "/" in column else "left")
    table.add_column("CPU (% of a core)")
    for row in rows:
        table.add_row(
            row.scenario,
            row.system,
            row.rps_text(),
            f"{row.wrk.p50_ms:.2f}",
            f"{row.wrk.p99_ms:.2f}",
            str(row.wrk.non_2xx),
            str(row.wrk.errors),
            _cpu(row),
        )
    console.print(table)
    for item in verdicts:
        target = item.target
        console.print(
            f"{item.scenario}: {target.system}/{target.baseline} "
            f"req/s {item.rps_ratio:.2f}{_each(item.rps_ratios)} "
            f"(target ≥ {target.min_rps_ratio:.2f}) "
            f"[{'green' if item.rps_ok else 'red'}]{_mark(item.rps_ok)}[/]   "
            f"p50 {item.p50_ratio:.2f}x{_each(item.p50_ratios, 'x')} "
            f"(target ≤ {target.max_p50_ratio:.1f}x) "
            f"[{'green' if item.p50_ok else 'red'}]{_mark(item.p50_ok)}[/]"
        )
    for row in rows:
        if row.background is not None:
            console.print(f"{row.scenario} on {row.system}: {_background(row.background)}")
    for row in rounds:
        others = row.cpu_pct.get("others", 0.0)
        if max(row.busy_before, others) > BUSY_NOTE_PCT:
            console.print(
                f"[yellow]note: round {row.round} of {row.scenario} on {row.system}: other work "
                f"used {row.busy_before:.0f}% of a core just before and {others:.0f}% during "
                "the run[/]"
            )
    for row in rows:
        for thread in row.profile[:2]:
            console.print(
                f"\nprofile of {row.system} ({row.scenario}), thread {thread.name}: "
                f"busy {thread.busy_pct:.0f}% of {thread.samples} samples; "
                f"raw stacks in {row.profile_file}"
            )
            packages = ", ".join(f"{name} {pct:.1f}%" for name, pct in thread.top_packages(10))
            console.print(f"  by package (self): {packages}")
            for name, pct in thread.top_self(12):
                console.print(f"  self {pct:5.1f}%  {name}")
            for name, pct in thread.top_inclusive(15):
                console.print(f"  incl {pct:5.1f}%  {name}")
    for failure in failures:
        console.print(f"[bold red]failed: {failure}[/]")


def _background(work: Background) -> str:
    drained = (
        f"drained {work.drained_in_s:.1f} s after the load stopped"
        if work.drained_in_s is not None
        else f"{work.pending_after} still pending when we stopped waiting"
    )
    pending = ", ".join(f"{step} {n}" for step, n in sorted(work.pending_at_end.items())) or "0"
    return (
        f"{work.accepted} POSTs accepted, {work.deliveries} event deliveries created "
        f"({work.deliveries / max(1, work.accepted):.2f} per POST); pending when wrk stopped: "
        f"{pending}; {drained}; dead-lettered: {work.dead}"
    )


def to_json(
    path: Path,
    command: str,
    settings: dict[str, Any],
    info: dict[str, Any],
    rows: list[Row],
    rounds: list[Row],
    verdicts: list[Verdict],
    failures: list[str],
) -> None:
    """Everything measured, machine-readable: the summary rows (median rounds) and
    every round."""
    payload = {
        "command": command,
        "settings": settings,
        "machine": info,
        "rows": [
            {
                "scenario": row.scenario,
                "system": row.system,
                "rps": row.wrk.rps,
                "p50_ms": row.wrk.p50_ms,
                "p75_ms": row.wrk.p75_ms,
                "p90_ms": row.wrk.p90_ms,
                "p99_ms": row.wrk.p99_ms,
                "requests": row.wrk.requests,
                "duration_s": row.wrk.duration_s,
                "non_2xx": row.wrk.non_2xx,
                "socket_errors": row.wrk.socket_errors,
                "cpu_pct": row.cpu_pct,
                "busy_before_pct": row.busy_before,
                "background": asdict(row.background) if row.background else None,
                "profile": [
                    {
                        "thread": thread.name,
                        "samples": thread.samples,
                        "busy_pct": round(thread.busy_pct, 1),
                        "packages": thread.top_packages(25),
                        "self": thread.top_self(25),
                        "inclusive": thread.top_inclusive(25),
                    }
                    for thread in row.profile
                ],
                "profile_file": row.profile_file,
                "round": row.round,
                "rounds_rps": row.rounds_rps,
            }
            for row in rows
        ],
        "rounds": [
            {
                "scenario": row.scenario,
                "system": row.system,
                "round": row.round,
                "rps": row.wrk.rps,
                "p50_ms": row.wrk.p50_ms,
                "p99_ms": row.wrk.p99_ms,
                "non_2xx": row.wrk.non_2xx,
                "errors": row.wrk.errors,
                "cpu_pct": row.cpu_pct,
                "busy_before_pct": row.busy_before,
            }
            for row in rounds
        ],
        "targets": [
            {
                "scenario": item.scenario,
                **asdict(item.target),
                "rps_ratio": round(item.rps_ratio, 3),
                "p50_ratio": round(item.p50_ratio, 3),
                "rps_ratio_per_round": list(item.rps_ratios),
                "p50_ratio_per_round": list(item.p50_ratios),
                "rps": _mark(item.rps_ok),
                "p50": _mark(item.p50_ok),
            }
            for item in verdicts
        ],
        "failures": failures,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def to_markdown(
    path: Path,
    command: str,
    info: dict[str, Any],
    rows: list[Row],
    rounds: list[Row],
    verdicts: list[Verdict],
    failures: list[str],
) -> None:
    """The same, for people: paste it into an issue or the README."""
    lines = [
        f"`{command}`",
        "",
        "machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        "| scenario | system | req/s | p50 ms | p99 ms | non-2xx | errors | CPU (% of a core) |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    lines += [
        f"| {row.scenario} | {row.system} | {row.rps_text()} | {row.wrk.p50_ms:.2f} "
        f"| {row.wrk.p99_ms:.2f} | {row.wrk.non_2xx} | {row.wrk.errors} | {_cpu(row)} |"
        for row in rows
    ]
    lines.append("")
    for item in verdicts:
        target = item.target
        lines.append(
            f"- {item.scenario}: {target.system}/{target.baseline} req/s "
            f"**{item.rps_ratio:.2f}**{_each(item.rps_ratios)} "
            f"(target ≥ {target.min_rps_ratio:.2f}) {_mark(item.rps_ok)}; "
            f"p50 **{item.p50_ratio:.2f}x**{_each(item.p50_ratios, 'x')} "
            f"(target ≤ {target.max_p50_ratio:.1f}x) {_mark(item.p50_ok)}"
        )
    for row in rows:
        if row.background is not None:
            lines.append(f"- {row.scenario} on {row.system}: {_background(row.background)}")
    lines += [f"- **failed**: {failure.splitlines()[0]}" for failure in failures]
    if len(rounds) > len(rows):
        lines += [
            "",
            "every round (others: CPU used by other work on the machine during the run):",
            "",
            "| round | scenario | system | req/s | p50 ms | p99 ms | others % of a core |",
            "|--:|---|---|--:|--:|--:|--:|",
        ]
        lines += [
            f"| {row.round} | {row.scenario} | {row.system} | {row.wrk.rps:,.0f} "
            f"| {row.wrk.p50_ms:.2f} | {row.wrk.p99_ms:.2f} | {row.cpu_pct.get('others', 0):.0f} |"
            for row in rounds
        ]
    for row in rows:
        for thread in row.profile[:2]:
            lines += [
                "",
                f"profile of {row.system} ({row.scenario}), thread {thread.name}: busy "
                f"{thread.busy_pct:.0f}% of {thread.samples} samples",
                "",
                "by package (self): "
                + ", ".join(f"{name} {pct:.1f}%" for name, pct in thread.top_packages(10)),
                "",
                "| self % | function | | incl % | function |",
                "|--:|---|---|--:|---|",
            ]
            selfs, incls = thread.top_self(15), thread.top_inclusive(15)
            for index in range(max(len(selfs), len(incls))):
                left = selfs[index] if index < len(selfs) else (None, None)
                right = incls[index] if index < len(incls) else (None, None)
                lines.append(
                    f"| {left[1] if left[0] else ''} | {left[0] or ''} | "
                    f"| {right[1] if right[0] else ''} | {right[0] or ''} |"
                )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
