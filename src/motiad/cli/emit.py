"""``motiad emit``: put an event into a project's queue from the command line,
whether or not ``motiad run`` is running."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import msgspec

from ..app import broker_is_running
from ..storage import Event
from ..tracing import new_id
from .options import takes_project
from .store import with_store


@click.command()
@takes_project()
@click.option("--topic", required=True, help="The topic to emit on.")
@click.option("--data", default="null", show_default=True, help="The event's data, as JSON.")
@click.option("--group", default=None, help="messageGroupId (for FIFO subscribers).")
def emit(project_dir: Path, topic: str, data: str, group: str | None) -> None:
    """Emit an event into PROJECT_DIR, as a step would (starts a new trace)."""
    try:
        raw = msgspec.json.decode(data.encode(), type=msgspec.Raw)
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None
    event = Event(new_id(), topic, raw, new_id(), group, time.time())
    with_store(project_dir.resolve(), lambda store: store.enqueue(event))
    click.echo(f"emitted {topic} as event {event.id} (trace {event.trace_id})")
    if not broker_is_running(project_dir.resolve()):
        sys.stderr.write("motiad is not running here: it is delivered when `motiad run` starts\n")
