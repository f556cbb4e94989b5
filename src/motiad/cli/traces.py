"""``motiad traces`` and ``motiad logs``: what the workbench shows, in the
terminal, read from the project's storage (whether or not ``motiad run`` is
running; a running broker writes what it records within a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import msgspec

from ..console import Listing, LogPrinter, duration, make_console, plural, stamp
from ..storage import LogQuery, Trace, TraceQuery
from ..tracing import LEVELS
from .options import takes_project
from .store import with_store
from .trace_ids import one_trace_id


@click.command()
@takes_project(positional=False)
@click.argument("trace_id", required=False)
@click.option("--step", default=None, help="Only traces with a span of this step.")
@click.option("--limit", default=20, show_default=True, help="How many traces, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def traces(
    project_dir: Path, trace_id: str | None, step: str | None, limit: int, as_json: bool
) -> None:
    """List recent traces, or show TRACE_ID: its spans in order, with their logs.

    TRACE_ID may be the whole id or any part of its start or end that only one
    trace has, such as the 8 digits motiad run shows."""
    if trace_id is not None:
        _show(project_dir, trace_id, as_json)
        return
    query = TraceQuery(limit=limit, step=step)
    found = with_store(project_dir.resolve(), lambda store: store.traces(query))
    if as_json:
        click.echo(msgspec.json.encode({"traces": found}).decode())
        return
    console = make_console()
    if not found:
        console.print("no traces yet: each API request and cron tick starts one")
        return
    listing = Listing(
        *("Trace", "Started", "Started by", "Spans", "Errors", "Duration"),
        whole=("Trace", "Duration"),
        right=("Spans", "Errors", "Duration"),
    )
    for t in found:
        listing.add_row(
            t.trace_id,
            stamp(t.started_at),
            f"{t.step} {t.detail}".strip(),
            str(t.spans),
            str(t.errors),
            duration(t.ended_at - t.started_at),
        )
    console.print(listing)
    console.print(f"{plural(len(found), 'trace')}; `motiad traces TRACE_ID` shows one")


def _show(project_dir: Path, given: str, as_json: bool) -> None:
    trace_id = one_trace_id(project_dir.resolve(), given)
    trace: Trace | None = with_store(project_dir.resolve(), lambda store: store.trace(trace_id))
    if trace is None:
        raise click.ClickException(f"no trace {trace_id} (it may be older than the ones kept)")
    if as_json:
        click.echo(msgspec.json.encode(trace).decode())
        return
    console = make_console()
    start = trace.summary.started_at
    console.print(f"trace {trace_id}  started {stamp(start)} by {trace.summary.step}")
    printer = LogPrinter(console)
    by_span: dict[str | None, list[Any]] = {}
    for record in trace.logs:
        by_span.setdefault(record.invocation_id, []).append(record)
    span_ids = {span.id for span in trace.spans}
    for record in [r for key, rs in by_span.items() if key not in span_ids for r in rs]:
        printer(record)
    for span in trace.spans:
        took = duration(span.ended_at - span.started_at)
        attempt = f" attempt {span.attempt}" if span.attempt > 1 else ""
        style = "green" if span.outcome == "ok" else "bold red"
        console.print(
            f"+{duration(span.started_at - start):>9}  {span.outcome:5} {span.step} ({span.trigger}"
            f" {span.detail}){attempt} took {took}",
            style=style,
        )
        if span.error is not None:
            console.print(f"             {span.error.type}: {span.error.message}", style="red")
        for record in by_span.get(span.id, []):
            printer(record)


@click.command()
@takes_project()
@click.option("--step", default=None, help="Only records of this step.")
@click.option(
    "--level", type=click.Choice(LEVELS), default=None, help="This level and those above it."
)
@click.option(
    "--trace",
    "trace_id",
    default=None,
    help="Only records of this trace: its id, or its first or last digits.",
)
@click.option("--grep", "text", default=None, help="Only messages containing this (any case).")
@click.option("--limit", default=200, show_default=True, help="How many records, the newest.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one record per line.")
def logs(
    project_dir: Path,
    step: str | None,
    level: str | None,
    trace_id: str | None,
    text: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Print the recent log records of PROJECT_DIR, oldest first, as motiad run shows them."""
    if trace_id is not None:
        trace_id = one_trace_id(project_dir.resolve(), trace_id)
    query = msgspec.convert(
        {"step": step, "level": level, "traceId": trace_id, "text": text, "limit": limit},
        LogQuery,
    )
    found = with_store(project_dir.resolve(), lambda store: store.logs(query))
    if as_json:
        for record in found:
            click.echo(msgspec.json.encode(record).decode())
        return
    printer = LogPrinter(make_console())
    for record in found:
        printer(record)
