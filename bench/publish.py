"""The figures the READMEs quote, generated from a committed result file.

``bench/run`` writes its results to ``bench/results/`` (git-ignored: scratch). A run
the READMEs quote is *published*: its JSON and Markdown are copied, with a label
saying what kind of run it was, into ``bench/results/published/`` (committed), and
the READMEs' generated blocks and the chart are rendered from the newest published
file. ``tests/test_bench_readme.py`` fails when a block or the chart differs from
what this module renders, so a figure in a README is always one a file proves.

Usage::

    python -m bench.publish bench/results/STAMP.json --label "full, quiet machine"
    python -m bench.publish          # re-render from the newest published file

The blocks: in ``bench/README.md`` the targets (from ``scenarios.py``) and the
figures (label, command, machine, chart, table, every target checked against the
file's rounds); in ``README.md`` the chart and a few headline ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .chart import throughput_svg
from .report import Row, markdown_table, row_from_json
from .scenarios import SCENARIOS, check

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PUBLISHED = HERE / "results" / "published"
CHART = PUBLISHED / "throughput.svg"
BENCH_README = HERE / "README.md"
ROOT_README = ROOT / "README.md"


@dataclass(frozen=True, slots=True)
class Published:
    """A published run: its result file's figures and the label it was published with."""

    path: Path
    label: str
    command: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    rows: list[Row]
    rounds: list[Row]
    failures: list[str]
    notes: list[str]

    @property
    def when(self) -> str:
        """When the run started, from its file name (``20261207-191500``)."""
        return datetime.strptime(self.path.stem, "%Y%m%d-%H%M%S").strftime("%Y-%m-%d %H:%M")

    def row(self, scenario: str, system: str) -> Row | None:
        """The summary row of ``system`` in ``scenario``, if the run has it."""
        for row in self.rows:
            if row.scenario == scenario and row.system == system:
                return row
        return None


def latest() -> Path:
    """The newest published result file."""
    files = sorted(PUBLISHED.glob("*.json"))
    if not files:
        raise RuntimeError(f"no published result in {PUBLISHED}")
    return files[-1]


def load(path: Path) -> Published:
    """Read a result file ``bench/run`` wrote (published ones carry a ``label``)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return Published(
        path=path,
        label=data.get("label", "unpublished"),
        command=data["command"],
        machine=data["machine"],
        settings=data["settings"],
        rows=[row_from_json(row) for row in data["rows"]],
        rounds=[row_from_json(row) for row in data["rounds"]],
        failures=data["failures"],
        notes=data["notes"],
    )


def render_targets() -> str:
    """Every target of ``scenarios.py`` as a Markdown table."""
    lines = ["| rows | target | issue |", "|---|---|---|"]
    for scenario in SCENARIOS:
        for name, target in scenario.targets:
            lines.append(f"| {name} | {target.describe()} | {target.issue} |")
    return "\n".join(lines)


def _relative(path: Path, start: Path) -> str:
    return path.relative_to(start).as_posix()


def render_figures(run: Published) -> str:
    """The figures block of ``bench/README.md``."""
    machine = ", ".join(
        str(value) if str(value).startswith(key) else f"{key} {value}"
        for key, value in run.machine.items()
        if key != "load_at_start"
    )
    settings = run.settings
    verdicts = check(SCENARIOS, run.rounds)
    met = sum(item.ok for item in verdicts)
    missed = sum(item.measured and not item.ok for item in verdicts)
    lines = [
        f"**{run.when} UTC, {run.label}.** Command: `{run.command}` "
        f"({settings['rounds']} round(s) of {settings['measure_s']:g} s windows, "
        f"{settings['elapsed_s']} s in all; load average {run.machine['load_at_start']} "
        f"at the start). Machine: {machine}. Result file: "
        f"[`{_relative(run.path, HERE)}`]({_relative(run.path, HERE)}) "
        f"(and its `.md`).",
        "",
        f"![Throughput of every system, log scale]({_relative(CHART, HERE)})",
        "",
        *markdown_table(run.rows),
        "",
        f"Targets (`scenarios.py`) against this file's rounds: {met} met, {missed} missed, "
        f"{len(verdicts) - met - missed} not measured by this run.",
        "",
        *[f"- {item.text()}" for item in verdicts],
    ]
    if run.failures or run.notes:
        lines.append("")
        lines += [f"- note: {note}" for note in run.notes]
        lines += [f"- **failed**: {failure.splitlines()[0]}" for failure in run.failures]
    return "\n".join(lines)


HEADLINES = (
    ("ping-ts", "`GET /ping` (TypeScript step)"),
    ("ping-py", "`GET /ping-py` (Python step)"),
    ("post-messages", "the quickstart's `POST /messages`"),
    ("chain-32", "the order chain (TS → Python → TS), 32 in flight"),
)
"""The scenarios the top README quotes, with how it names them."""


def _ratio(run: Published, scenario: str, baseline: str) -> str | None:
    mine, base = run.row(scenario, "motiad"), run.row(scenario, baseline)
    if mine is None or base is None or not base.value:
        return None
    ratio = mine.value / base.value
    return f"{ratio:,.0f}x {baseline}" if ratio >= 10 else f"{ratio:.2f}x {baseline}"


def render_headline(run: Published) -> str:
    """The chart and headline ratios for the top README."""
    lines = [
        f"![motiad against the floors and Motia 0.17, per second on a log scale]"
        f"({_relative(CHART, ROOT)})",
        "",
        f"From the published run of {run.when} UTC ({run.label}; "
        f"[`{_relative(run.path, ROOT)}`]({_relative(run.path, ROOT)})), motiad's "
        "median round against the raw ASGI floor (hypercorn and msgspec, no framework) "
        "and Motia 0.17 on the same step files:",
        "",
    ]
    for scenario, label in HEADLINES:
        mine = run.row(scenario, "motiad")
        if mine is None:
            continue
        ratios = [r for base in ("raw-asgi", "motia-0.17") if (r := _ratio(run, scenario, base))]
        lines.append(f"- {label}: {mine.value_text().split(' (')[0]}, " + ", ".join(ratios))
    return "\n".join(lines)


def rendered(run: Published) -> dict[Path, dict[str, str]]:
    """Every generated block, by file and name."""
    return {
        BENCH_README: {"targets": render_targets(), "figures": render_figures(run)},
        ROOT_README: {"headline": render_headline(run)},
    }


def chart(run: Published) -> str:
    """The SVG of ``run``'s throughput rows."""
    return throughput_svg(run.rows, f"bench/run, {run.when} UTC", run.label)


def _markers(name: str) -> tuple[str, str]:
    return (
        f"<!-- generated by python -m bench.publish: {name} -->",
        f"<!-- end of generated {name} -->",
    )


def block(text: str, name: str) -> str:
    """The generated block ``name`` in a README's ``text``."""
    begin, end = _markers(name)
    if begin not in text or end not in text:
        raise RuntimeError(f"no generated block {name!r} ({begin} … {end})")
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with the generated block ``name`` replaced by ``content``."""
    begin, end = _markers(name)
    before = text.split(begin, 1)[0] if begin in text else None
    if before is None or end not in text:
        raise RuntimeError(f"no generated block {name!r} ({begin} … {end})")
    after = text.split(end, 1)[1]
    return f"{before}{begin}\n{content}\n{end}{after}"


def write(run: Published) -> None:
    """Rewrite the READMEs' generated blocks and the chart from ``run``."""
    for path, blocks in rendered(run).items():
        text = path.read_text(encoding="utf-8")
        for name, content in blocks.items():
            text = replace_block(text, name, content)
        path.write_text(text, encoding="utf-8")
    CHART.write_text(chart(run), encoding="utf-8")


def publish(result: Path, label: str) -> Path:
    """Copy a result file (and its ``.md``) into ``published/`` with ``label``."""
    PUBLISHED.mkdir(parents=True, exist_ok=True)
    data = json.loads(result.read_text(encoding="utf-8"))
    target = PUBLISHED / result.name
    target.write_text(json.dumps({"label": label, **data}, indent=2) + "\n", encoding="utf-8")
    markdown = result.with_suffix(".md")
    if markdown.exists():
        shutil.copyfile(markdown, target.with_suffix(".md"))
    return target


def main() -> None:
    """Publish a result file (optional), then render the READMEs and the chart."""
    parser = argparse.ArgumentParser(prog="python -m bench.publish", description=__doc__)
    parser.add_argument("result", nargs="?", type=Path, help="a bench/results/STAMP.json")
    parser.add_argument("--label", help="what kind of run: 'full, quiet machine', …")
    args = parser.parse_args()
    if args.result is not None:
        if not args.label:
            parser.error("--label is required with a result file")
        publish(args.result, args.label)
    write(load(latest()))


if __name__ == "__main__":
    main()
