"""``motiad run`` and ``motiad dev``: serve a project until Ctrl-C or SIGTERM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .. import __version__
from ..app import Started, run_project
from ..console import JsonLogPrinter, LogPrinter, make_console, plural, steps_table, streams_line
from ..listings import step_row
from ..tracing import LogBus
from .options import Command, project_settings, run_async, takes_project


def serve_options(command: Command) -> Command:
    """The parameters ``run`` and ``dev`` share."""
    decorators: list[Callable[[Command], Command]] = [
        takes_project(),
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
        click.option(
            "--log-format",
            type=click.Choice(["human", "json"]),
            default=None,
            help="human (default; [log] format in motiad.toml) or json: one JSON object"
            " per line (time, level, message, step, trace_id, span_id, fields).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


@click.command()
@serve_options
@click.option(
    "--allow-broken",
    is_flag=True,
    help="Serve the steps that load even when others fail to (default: refuse to start).",
)
def run(project_dir: Path, allow_broken: bool, **options: Any) -> None:
    """Start every step of PROJECT_DIR and serve its API (a step that fails to
    load stops it, listing every error, unless --allow-broken)."""
    _serve(project_dir, ServeOptions(**options), dev=False, allow_broken=allow_broken)


@click.command()
@serve_options
def dev(project_dir: Path, **options: Any) -> None:
    """Like run, and reload each step file when it changes (responses are
    checked against responseSchema)."""
    _serve(project_dir, ServeOptions(**options), dev=True)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The options of :func:`serve_options`."""

    port: int | None
    host: str | None
    storage: str | None
    log_level: str
    log_format: str | None


def _serve(project_dir: Path, options: ServeOptions, dev: bool, allow_broken: bool = False) -> None:
    settings = project_settings(
        project_dir, port=options.port, host=options.host, storage=options.storage
    )
    logs = LogBus()
    if (options.log_format or settings.log.format) == "json":
        logs.subscribe(JsonLogPrinter(min_level=options.log_level))
        started = partial(_started_as_records, logs)
    else:
        console = make_console()
        logs.subscribe(LogPrinter(console, min_level=options.log_level))
        started = partial(_started_for_people, console)
    run_async(
        partial(
            run_project,
            project_dir.resolve(),
            settings,
            logs,
            started,
            alongside=partial(_watch(), logs=logs) if dev else None,
            dev=dev,
            allow_broken=allow_broken,
        )
    )


def _started_as_records(logs: LogBus, info: Started) -> None:
    """What a JSON log gets once motiad serves: load errors, then one record."""
    for error in info.report.errors:
        logs.log("error", str(error))
    names = [step.name for step in info.report.steps]
    logs.log(
        "info",
        f"motiad {__version__} serving {plural(len(names), 'step')} on {info.url}",
        fields={"url": info.url, "steps": names},
    )


def _started_for_people(console: Console, info: Started) -> None:
    """The steps table and the addresses, on the terminal."""
    for error in info.report.errors:
        console.print(f"error: {error}", style="bold red")
    console.print(steps_table([step_row(step) for step in info.report.steps]))
    if info.report.streams:
        console.print(streams_line([(d.name, d.file) for d in info.report.streams]))
    serving = plural(len(info.report.steps), "step")
    console.print(f"motiad {__version__} serving {serving} on {info.url}")
    if info.workbench_url:
        console.print(f"workbench: {info.workbench_url}")


def _watch() -> Callable[..., Any]:
    """``motiad dev``'s watcher, imported only by ``dev`` (watchfiles is ``dev``'s alone)."""
    from ..dev import watch

    return watch
