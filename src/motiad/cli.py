"""The ``motiad`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import click
import msgspec

from . import __version__
from .app import Started, load_project, run_project, step_row
from .config import Settings, load_settings
from .console import LogPrinter, make_console, steps_table
from .errors import MotiadError
from .queue_cli import dlq, emit
from .tracing import LogBus

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


@click.group()
@click.version_option(__version__, prog_name="motiad")
def main() -> None:
    """motiad: steps in any language on warm processes, wired by durable events."""


@main.command()
@project_argument
@click.option("--port", type=int, default=None, help="Port to listen on (default 3000; 0: any).")
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warn", "error"]),
    default="debug",
    show_default=True,
    help="Hide log records below this level.",
)
def run(project_dir: Path, port: int | None, host: str | None, log_level: str) -> None:
    """Start every step of PROJECT_DIR and serve its API."""
    settings = _settings(project_dir, port=port, host=host)
    console = make_console()
    logs = LogBus()
    logs.subscribe(LogPrinter(console, min_level=log_level))

    def started(info: Started) -> None:
        for error in info.report.errors:
            console.print(f"error: {error}", style="bold red")
        console.print(steps_table([step_row(step) for step in info.report.steps]))
        console.print(f"motiad {__version__} serving {len(info.report.steps)} steps on {info.url}")

    try:
        anyio.run(run_project, project_dir.resolve(), settings, logs, started)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@project_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def steps(project_dir: Path, as_json: bool) -> None:
    """List the steps of PROJECT_DIR with their configs."""
    settings = _settings(project_dir)
    logs = LogBus()
    errors = make_console(sys.stderr)
    logs.subscribe(LogPrinter(errors, min_level="warn"))
    try:
        report = anyio.run(load_project, project_dir.resolve(), settings, logs)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        payload = {
            "steps": [
                {**step_row(step), "config": msgspec.to_builtins(step.config)}
                for step in report.steps
            ],
            "errors": [str(error) for error in report.errors],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        console = make_console()
        console.print(steps_table([step_row(step) for step in report.steps]))
        for error in report.errors:
            errors.print(f"error: {error}", style="bold red")
    if report.errors:
        sys.exit(1)


main.add_command(dlq)
main.add_command(emit)
