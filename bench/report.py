"""What a run measured, as one table on the terminal (rich) and as JSON and
Markdown under ``bench/results/``.

Every scenario, wrk-driven or not, gives :class:`Row`s: one figure with its unit
(requests/s, invocations/s, seconds, MB…), optional p50/p99, named error counts,
CPU per operation and notes. Targets compare a row's figure with a baseline's in
the same round, or with a fixed bound.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from .profile import ThreadProfile
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
    """One scenario against one system in one round."""

    scenario: str
    system: str
    round: int
    value: float
    """The scenario's figure, in :attr:`unit`."""
    unit: str
    """``req/s``, ``inv/s``, ``events/s``, ``orders/s``, ``s``, ``MB``, ``x``, ``ms``…"""
    higher_is_better: bool = True
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    """Named counts that should be 0 (``non-2xx``, ``socket``, ``lost``…), or that
    describe what happened (``duplicates``)."""
    cpu_ms_per_op: float | None = None
    """CPU milliseconds the system's process tree used per operation."""
    cpu_pct: dict[str, float] = field(default_factory=dict)
    """Percent of one core by kind of process during the run: ``main`` (the server),
    its children by kind, ``wrk``, ``others`` (the rest of the machine)."""
    busy_before: float = 0.0
    """Percent of a core the machine used in the second before the run."""
    notes: list[str] = field(default_factory=list)
    wrk: WrkResult | None = None
    background: Background | None = None
    profile: list[ThreadProfile] = field(default_factory=list)
    profile_file: str | None = None
    rounds_values: list[float] = field(default_factory=list)
    """The figure of every round, when this row stands for several (the median one)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Raw figures for the JSON (a micro-benchmark's whole output)."""

    def value_text(self) -> str:
        """``1,113 req/s`` or, over rounds, ``1,113 req/s (1,016-1,409)``."""
        text = _fmt(self.value, self.unit)
        if len(self.rounds_values) > 1:
            low, high = min(self.rounds_values), max(self.rounds_values)
            text += f" ({_number(low, self.unit)}-{_number(high, self.unit)})"
        return text

    def errors_text(self) -> str:
        """``0`` when every count is 0, else ``lost 3, duplicates 2``."""
        shown = {name: count for name, count in self.errors.items() if count}
        return ", ".join(f"{name} {count:,}" for name, count in shown.items()) or "0"


def _number(value: float, unit: str) -> str:
    if unit in ("s", "ms", "x"):
        return f"{value:.2f}"
    if unit == "MB":
        return f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _fmt(value: float, unit: str) -> str:
    return f"{_number(value, unit)}{'x' if unit == 'x' else ' ' + unit}"


Metric = Literal["value", "p50", "p99"] | str


@dataclass(frozen=True, slots=True)
class Target:
    """A bound on ``system``'s ``metric`` in a scenario's rows: ``value`` (the row's
    figure), ``p50``, ``p99`` (ms), an error count by name (``lost``) or a count the
    row keeps in ``extra`` (``processes``). With a ``baseline`` the bound is on the
    ratio to the baseline's same metric in the same round (in the rows of
    ``baseline_rows`` when given: another scenario measured in that round)."""

    system: str
    metric: Metric
    bound: Literal["min", "max"]
    threshold: float
    baseline: str | None = None
    issue: str = ""
    """The issue(s) that set it (the README's targets table cites them)."""
    unit: str = ""
    """The unit of ``value`` (``s``, ``MB``, ``req/s``…), for the description."""
    baseline_rows: str | None = None
    """The scenario whose rows hold the baseline (``None``: the target's own)."""

    def describe(self) -> str:
        """``motiad/raw-asgi req/s ≥ 0.85x``, ``motiad p50 ≤ 2 ms``, ``motiad lost ≤ 0``."""
        sign = "≥" if self.bound == "min" else "≤"
        if self.baseline:
            what = (self.unit or "figure") if self.metric == "value" else self.metric
            base = f"{self.baseline} {self.baseline_rows}" if self.baseline_rows else self.baseline
            return f"{self.system}/{base} {what} {sign} {self.threshold:.3g}x"
        if self.metric == "value":
            unit = "" if self.unit in ("", "x") else f" {self.unit}"
            suffix = "x" if self.unit == "x" else ""
            return f"{self.system} {sign} {self.threshold:,g}{suffix}{unit}"
        suffix = " ms" if self.metric in ("p50", "p99") else ""
        return f"{self.system} {self.metric} {sign} {self.threshold:,g}{suffix}"


def metric_of(row: Row, metric: Metric) -> float | None:
    """A row's ``value``, ``p50``/``p99`` (ms) or named error count."""
    if metric == "value":
        return row.value
    if metric == "p50":
        return row.p50_ms
    if metric == "p99":
        return row.p99_ms
    if metric in row.errors:
        return float(row.errors[metric])
    found = row.extra.get(metric)
    return float(found) if isinstance(found, int | float) else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A target checked against one run: the median over rounds of each round's
    figure (or ratio: system and baseline ran back to back, so a round's pair saw
    the same neighbours on the machine). No figure: the run did not measure it."""

    scenario: str
    target: Target
    figure: float | None
    per_round: tuple[float, ...]
    unit: str

    @property
    def measured(self) -> bool:
        """The run has the rows this target needs."""
        return self.figure is not None

    @property
    def ok(self) -> bool:
        """Measured and within the bound."""
        if self.figure is None:
            return False
        if self.target.bound == "min":
            return self.figure >= self.target.threshold
        return self.figure <= self.target.threshold

    @property
    def mark(self) -> str:
        """``PASS``, ``MISS`` or ``not measured``."""
        return _mark(self.ok) if self.measured else "not measured"

    def text(self) -> str:
        """One line: the target, the figure (rounds), PASS/MISS/not measured."""
        target = self.target
        head = f"{self.scenario}: {target.describe()}"
        if self.figure is None:
            return f"{head}: {self.mark}"
        if target.baseline:
            figure = f"{self.figure:.2f}x"
            each = ", ".join(f"{ratio:.2f}x" for ratio in self.per_round)
        else:
            unit = "ms" if target.metric in ("p50", "p99") else self.unit
            figure = (
                _fmt(self.figure, unit)
                if target.metric in ("value", "p50", "p99")
                else f"{self.figure:g}"
            )
            each = ", ".join(_number(value, unit) for value in self.per_round)
        rounds = f" (rounds: {each})" if len(self.per_round) > 1 else ""
        return f"{head}: {figure}{rounds} {self.mark}"


def verdict(scenario: str, target: Target, rounds: list[Row]) -> Verdict:
    """``target`` over the rounds of ``scenario`` (no figure: no round has them)."""
    by_round: dict[int, dict[str, Row]] = {}
    base_by_round: dict[int, dict[str, Row]] = {}
    for row in rounds:
        if row.scenario == scenario:
            by_round.setdefault(row.round, {})[row.system] = row
        if row.scenario == (target.baseline_rows or scenario):
            base_by_round.setdefault(row.round, {})[row.system] = row
    figures: list[float] = []
    unit = ""
    for round_no, found in by_round.items():
        own = found.get(target.system)
        if own is None:
            continue
        mine = metric_of(own, target.metric)
        if mine is None:
            continue
        unit = own.unit
        if target.baseline is None:
            figures.append(mine)
            continue
        base_row = base_by_round.get(round_no, {}).get(target.baseline)
        base = metric_of(base_row, target.metric) if base_row else None
        if base:
            figures.append(mine / base)
    figure = statistics.median(figures) if figures else None
    return Verdict(scenario, target, figure, tuple(figures), unit)


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    except OSError:
        return "?"
    out = (done.stdout or done.stderr).strip()
    return out.splitlines()[0] if out else "?"


def machine(rev: str | None, versions: dict[str, str]) -> dict[str, Any]:
    """The machine and the code measured (``rev``: motiad from that commit); ``versions``
    of peers found by the setup (Motia)."""
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
        **versions,
        "git": (
            f"{rev} = " + _run(["git", "rev-parse", "--short", rev])
            if rev
            else _run(["git", "rev-parse", "--short", "HEAD"]) + (" + uncommitted" if dirty else "")
        ),
        "load_at_start": round(os.getloadavg()[0], 2),
    }


def _cpu(row: Row) -> str:
    return ", ".join(f"{name} {pct:.0f}%" for name, pct in row.cpu_pct.items())


def _notes(row: Row) -> str:
    parts = list(row.notes)
    if row.cpu_pct:
        parts.append("CPU % of a core: " + _cpu(row))
    return "; ".join(parts)


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


COLUMNS = ("scenario", "system", "result", "p50 ms", "p99 ms", "errors", "CPU ms/op", "notes")


def _cells(row: Row) -> list[str]:
    return [
        row.scenario,
        row.system,
        row.value_text(),
        "" if row.p50_ms is None else f"{row.p50_ms:.2f}",
        "" if row.p99_ms is None else f"{row.p99_ms:.2f}",
        row.errors_text(),
        "" if row.cpu_ms_per_op is None else f"{row.cpu_ms_per_op:.3g}",
        _notes(row),
    ]


def print_report(
    console: Console,
    rows: list[Row],
    rounds: list[Row],
    verdicts: list[Verdict],
    failures: list[str],
    notes: list[str],
) -> None:
    """The table, the targets, the background work, the profiles and what failed."""
    table = Table(
        title="each scenario against its baseline in the same run; the median round "
        "(range over rounds)",
        title_justify="left",
    )
    for column in COLUMNS:
        numeric = column in ("result", "p50 ms", "p99 ms", "CPU ms/op")
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*_cells(row))
    console.print(table)
    for item in verdicts:
        colour = "green" if item.ok else "red" if item.measured else "yellow"
        line = item.text()
        console.print(line.removesuffix(item.mark) + f"[{colour}]{item.mark}[/]")
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
    for note in notes:
        console.print(f"[yellow]note: {note}[/]")
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


def _row_json(row: Row) -> dict[str, Any]:
    return {
        "scenario": row.scenario,
        "system": row.system,
        "round": row.round,
        "value": row.value,
        "unit": row.unit,
        "higher_is_better": row.higher_is_better,
        "p50_ms": row.p50_ms,
        "p99_ms": row.p99_ms,
        "errors": row.errors,
        "cpu_ms_per_op": row.cpu_ms_per_op,
        "cpu_pct": row.cpu_pct,
        "busy_before_pct": row.busy_before,
        "notes": row.notes,
        "wrk": (
            {
                "rps": row.wrk.rps,
                "requests": row.wrk.requests,
                "duration_s": row.wrk.duration_s,
                "p50_ms": row.wrk.p50_ms,
                "p75_ms": row.wrk.p75_ms,
                "p90_ms": row.wrk.p90_ms,
                "p99_ms": row.wrk.p99_ms,
                "non_2xx": row.wrk.non_2xx,
                "socket_errors": row.wrk.socket_errors,
            }
            if row.wrk
            else None
        ),
        "background": asdict(row.background) if row.background else None,
        "extra": row.extra,
    }


def row_from_json(data: dict[str, Any]) -> Row:
    """A row as :func:`to_json` wrote it (figures, errors, CPU and notes; the raw wrk
    report, background accounting and profiles stay in the file)."""
    return Row(
        scenario=data["scenario"],
        system=data["system"],
        round=data["round"],
        value=data["value"],
        unit=data["unit"],
        higher_is_better=data.get("higher_is_better", data["unit"] not in ("s", "MB", "ms")),
        p50_ms=data["p50_ms"],
        p99_ms=data["p99_ms"],
        errors=data["errors"],
        cpu_ms_per_op=data["cpu_ms_per_op"],
        cpu_pct=data["cpu_pct"],
        busy_before=data.get("busy_before_pct", 0.0),
        notes=data["notes"],
        rounds_values=data.get("rounds_values", []),
        extra=data.get("extra", {}),
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
    notes: list[str],
) -> None:
    """Everything measured, machine-readable: the summary rows (median rounds) with
    their profiles, and every round."""
    payload = {
        "command": command,
        "settings": settings,
        "machine": info,
        "rows": [
            {
                **_row_json(row),
                "rounds_values": row.rounds_values,
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
            }
            for row in rows
        ],
        "rounds": [_row_json(row) for row in rounds],
        "targets": [
            {
                "scenario": item.scenario,
                **asdict(item.target),
                "figure": None if item.figure is None else round(item.figure, 4),
                "per_round": [round(value, 4) for value in item.per_round],
                "verdict": item.mark,
            }
            for item in verdicts
        ],
        "failures": failures,
        "notes": notes,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _md(cell: str) -> str:
    return cell.replace("|", "\\|")


def markdown_table(rows: list[Row]) -> list[str]:
    """The table as Markdown lines (also what the README keeps)."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|---|---|--:|--:|--:|---|--:|---|",
    ]
    lines += ["| " + " | ".join(_md(cell) for cell in _cells(row)) + " |" for row in rows]
    return lines


def to_markdown(
    path: Path,
    command: str,
    info: dict[str, Any],
    rows: list[Row],
    rounds: list[Row],
    verdicts: list[Verdict],
    failures: list[str],
    notes: list[str],
) -> None:
    """The same, for people: paste it into an issue or the README."""
    lines = [
        f"`{command}`",
        "",
        "machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        *markdown_table(rows),
        "",
    ]
    lines += [f"- {item.text()}" for item in verdicts]
    for row in rows:
        if row.background is not None:
            lines.append(f"- {row.scenario} on {row.system}: {_background(row.background)}")
    lines += [f"- note: {note}" for note in notes]
    lines += [f"- **failed**: {failure.splitlines()[0]}" for failure in failures]
    if len(rounds) > len(rows):
        lines += [
            "",
            "every round (others: CPU used by other work on the machine during the run):",
            "",
            "| round | scenario | system | result | p50 ms | p99 ms | others % of a core |",
            "|--:|---|---|--:|--:|--:|--:|",
        ]
        lines += [
            f"| {row.round} | {row.scenario} | {row.system} | {_fmt(row.value, row.unit)} "
            f"| {'' if row.p50_ms is None else f'{row.p50_ms:.2f}'} "
            f"| {'' if row.p99_ms is None else f'{row.p99_ms:.2f}'} "
            f"| {row.cpu_pct.get('others', 0):.0f} |"
            for row in rounds
        ]
    for row in rows:
        for thread in row.profile[:2]:
            lines += [
                "",
                f"profile of {row.system} ({row.scenario}), thread {thread.name}: busy "
                f"{thread.busy_pct:.0f}% of {thread.samples} samples ({row.profile_file})",
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
