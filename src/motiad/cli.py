"""The ``motiad`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import click
import msgspec
from rich.console import Console

from . import __version__
from .app import Started, load_project, run_project
from .broker import LoadReport, flow_steps, step_json, step_row
from .builds import BUILD_LOG_PREFIX
from .config import Settings, builtin_languages, load_settings
from .conformance_cli import conformance_command
from .console import LogPrinter, languages_table, make_console, steps_table, streams_line
from .dev import watch
from .errors import MotiadError, first_motiad_error
from .flows import build_graph
from .flowview import flow_trees
from .pyenv import install as install_requirements
from .queue_cli import dlq, emit
from .scaffold import create_project
from .trace_cli import logs, traces
from .tracing import LogBus, LogRecord
from .typegen import write_types

project_argument = click.argument(
    "project_dir",
    required=False,
    default=".",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)


def _settings(project: Path, **overrides: Any) -> Settings:
    try:
        return load_settings(project.resolve(), overrides)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None


def _show_problems_and_builds(logs: LogBus, console: Console) -> None:
    """For the one-shot commands: warnings, errors and a registry build's output
    (its first-run cost stays visible) go to ``console``; the rest is not shown."""
    printer = LogPrinter(console)

    def sink(record: LogRecord) -> None:
        if record.level in ("warn", "error") or (record.step or "").startswith(BUILD_LOG_PREFIX):
            printer(record)

    logs.subscribe(sink)


@click.group()
@click.version_option(__version__, prog_name="motiad")
def main() -> None:
    """motiad: steps in any language on warm processes, wired by durable events."""


def serve_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``run`` and ``dev`` share."""
    for option in reversed(
        [
            project_argument,
            click.option(
                "--port", type=int, default=None, help="Port to listen on (default 3000; 0: any)."
            ),
            click.option("--host", default=None, help="Interface to bind (default 127.0.0.1)."),
            click.option(
                "--storage",
                default=None,
                help="sqlite:PATH (default sqlite:.motiad/motiad.db) or redis://HOST:PORT/DB"
                " (several instances may share one Redis).",
            ),
            click.option(
                "--log-level",
                type=click.Choice(["debug", "info", "warn", "error"]),
                default="debug",
                show_default=True,
                help="Hide log records below this level.",
            ),
        ]
    ):
        command = option(command)
    return command


@main.command()
@serve_options
def run(
    project_dir: Path, port: int | None, host: str | None, storage: str | None, log_level: str
) -> None:
    """Start every step of PROJECT_DIR and serve its API."""
    _serve(project_dir, port, host, storage, log_level, dev=False)


@main.command()
@serve_options
def dev(
    project_dir: Path, port: int | None, host: str | None, storage: str | None, log_level: str
) -> None:
    """Like run, and reload each step file when it changes (responses are
    checked against responseSchema)."""
    _serve(project_dir, port, host, storage, log_level, dev=True)


def _serve(
    project_dir: Path,
    port: int | None,
    host: str | None,
    storage: str | None,
    log_level: str,
    dev: bool,
) -> None:
    settings = _settings(project_dir, port=port, host=host, storage=storage)
    console = make_console()
    logs = LogBus()
    logs.subscribe(LogPrinter(console, min_level=log_level))

    def started(info: Started) -> None:
        for error in info.report.errors:
            console.print(f"error: {error}", style="bold red")
        console.print(steps_table([step_row(step) for step in info.report.steps]))
        if info.report.streams:
            console.print(streams_line([(d.name, d.file) for d in info.report.streams]))
        console.print(f"motiad {__version__} serving {len(info.report.steps)} steps on {info.url}")
        if info.workbench_url:
            console.print(f"workbench: {info.workbench_url}")

    try:
        anyio.run(
            partial(
                run_project,
                project_dir.resolve(),
                settings,
                logs,
                started,
                alongside=partial(watch, logs=logs) if dev else None,
                dev=dev,
            )
        )
    except BaseException as exc:  # a task group wraps what its tasks raise
        found = first_motiad_error(exc)
        if found is None:
            raise
        raise click.ClickException(str(found)) from None


@main.command()
@project_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def steps(project_dir: Path, as_json: bool) -> None:
    """List the steps of PROJECT_DIR with their configs."""
    settings = _settings(project_dir)
    logs = LogBus()
    errors = make_console(sys.stderr)
    _show_problems_and_builds(logs, errors)
    try:
        report = anyio.run(load_project, project_dir.resolve(), settings, logs)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None
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
        for error in report.errors:
            errors.print(f"error: {error}", style="bold red")
    if report.errors:
        sys.exit(1)


@main.command()
@project_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def languages(project_dir: Path, as_json: bool) -> None:
    """List the runner registry of PROJECT_DIR: built-in and declared languages."""
    settings = _settings(project_dir)
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
    settings = _settings(project_dir)
    logs = LogBus()
    _show_problems_and_builds(logs, make_console(sys.stderr))
    try:
        return anyio.run(load_project, project_dir.resolve(), settings, logs)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None


def _print_errors(report: LoadReport) -> None:
    errors = make_console(sys.stderr)
    for error in report.errors:
        errors.print(f"error: {error}", style="bold red")


@main.command()
@project_argument
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


@main.command()
@project_argument
def types(project_dir: Path) -> None:
    """Write PROJECT_DIR/types.d.ts: a typed Handlers map for TypeScript steps."""
    report = _load_report(project_dir)
    streams = [(d.name, d.raw_schema) for d in report.streams]
    path = write_types(project_dir.resolve(), flow_steps(report.steps), streams)
    click.echo(f"wrote {path} for {len(report.steps)} steps")
    _print_errors(report)
    if report.errors:
        sys.exit(1)


@main.command()
@click.argument("name", type=click.Path(file_okay=False, path_type=Path))
def create(name: Path) -> None:
    """Create a project in the new folder NAME: a TypeScript API step, a Python
    and a TypeScript event step in one flow."""
    try:
        written = create_project(name)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {name}/:")
    for path in written:
        click.echo(f"  {path.as_posix()}")
    click.echo(f"\nNext:\n  cd {name}\n  npm install\n  motiad install\n  motiad run")


@main.command("install")
@project_argument
def install_command(project_dir: Path) -> None:
    """Create PROJECT_DIR/.venv and install PROJECT_DIR/requirements.txt into it."""
    settings = _settings(project_dir)
    if settings.python:
        click.echo(f"note: `python = {settings.python}` is set, so steps run on that instead")
    try:
        install_requirements(project_dir.resolve(), click.echo)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None


main.add_command(dlq)
main.add_command(emit)
main.add_command(traces)
main.add_command(logs)
main.add_command(conformance_command)
