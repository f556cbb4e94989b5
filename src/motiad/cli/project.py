"""The commands that read a project's files: ``steps``, ``languages``,
``flows``, ``types`` and ``install``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import msgspec
from rich.console import Console

from ..app import load_project
from ..builds import BUILD_LOG_PREFIX
from ..config import builtin_languages
from ..console import (
    LogPrinter,
    flow_trees,
    languages_table,
    make_console,
    plural,
    steps_table,
    streams_line,
)
from ..errors import MotiadError
from ..flows import build_graph
from ..listings import flow_steps, step_json, step_row
from ..loader import LoadReport
from ..pyenv import install as install_requirements
from ..tracing import LogBus, LogRecord
from ..typegen import write_types
from .options import project_settings, run_async, takes_project


def _show_problems_and_builds(logs: LogBus, console: Console) -> None:
    """For the one-shot commands: warnings, errors and a registry build's output
    (its first-run cost stays visible) go to ``console``; the rest is not shown."""
    printer = LogPrinter(console)

    def sink(record: LogRecord) -> None:
        if record.level in ("warn", "error") or (record.step or "").startswith(BUILD_LOG_PREFIX):
            printer(record)

    logs.subscribe(sink)


@click.command()
@takes_project()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def steps(project_dir: Path, as_json: bool) -> None:
    """List the steps of PROJECT_DIR with their configs."""
    report = _load_report(project_dir)
    if as_json:
        payload = {
            "steps": [step_json(step) for step in report.steps],
            "streams": [
                {"name": d.name, "file": d.file, "schema": d.raw_schema} for d in report.streams
            ],
            "errors": [str(error) for error in report.errors],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        console = make_console()
        console.print(steps_table([step_row(step) for step in report.steps]))
        if report.streams:
            console.print(streams_line([(d.name, d.file) for d in report.streams]))
        _print_errors(report)
    if report.errors:
        sys.exit(1)


@click.command()
@takes_project()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def languages(project_dir: Path, as_json: bool) -> None:
    """List the runner registry of PROJECT_DIR: built-in and declared languages."""
    settings = project_settings(project_dir)
    builtin = builtin_languages()
    rows = []
    for name, entry in settings.languages.items():
        origin = (
            "motiad.toml"
            if name not in builtin
            else "built-in"
            if entry == builtin[name]
            else "built-in, changed in motiad.toml"
        )
        rows.append({"name": name, "origin": origin, **msgspec.to_builtins(entry)})
    if as_json:
        click.echo(json.dumps({"languages": rows}, indent=2))
        return
    make_console().print(languages_table(rows))


def _load_report(project_dir: Path) -> LoadReport:
    """Load the project's steps (each child started just long enough to answer
    ``initialize``); warnings and errors go to stderr."""
    settings = project_settings(project_dir)
    logs = LogBus()
    _show_problems_and_builds(logs, make_console(sys.stderr))
    return run_async(load_project, project_dir.resolve(), settings, logs)


def _print_errors(report: LoadReport) -> None:
    errors = make_console(sys.stderr)
    for error in report.errors:
        errors.print(f"error: {error}", style="bold red")


@click.command()
@takes_project()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of trees.")
def flows(project_dir: Path, as_json: bool) -> None:
    """Draw the flows of PROJECT_DIR: steps, the topics they emit, who subscribes."""
    report = _load_report(project_dir)
    graph = build_graph(flow_steps(report.steps))
    if as_json:
        payload = {**graph, "errors": [str(error) for error in report.errors]}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        console = make_console()
        for tree in flow_trees(graph):
            console.print(tree)
        for warning in graph["warnings"]:
            make_console(sys.stderr).print(f"warning: {warning}", style="yellow")
        _print_errors(report)
    if report.errors:
        sys.exit(1)


@click.command()
@takes_project()
def types(project_dir: Path) -> None:
    """Write PROJECT_DIR/types.d.ts: a typed Handlers map for TypeScript steps."""
    report = _load_report(project_dir)
    streams = [(d.name, d.raw_schema) for d in report.streams]
    path = write_types(project_dir.resolve(), flow_steps(report.steps), streams)
    click.echo(f"wrote {path} for {plural(len(report.steps), 'step')}")
    _print_errors(report)
    if report.errors:
        sys.exit(1)


@click.command()
@takes_project()
def install(project_dir: Path) -> None:
    """Create PROJECT_DIR/.venv and install PROJECT_DIR/requirements.txt into it."""
    settings = project_settings(project_dir)
    if settings.python:
        click.echo(f"note: `python = {settings.python}` is set, so steps run on that instead")
    try:
        install_requirements(project_dir.resolve(), click.echo)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None
