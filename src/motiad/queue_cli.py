"""``motiad dlq …`` and ``motiad emit``: operate on a project's queue from the
command line, whether or not ``motiad run`` is running (a running broker picks
up what these commands commit within a second)."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import click
import msgspec
from rich.table import Table

from .app import broker_is_running
from .config import load_settings
from .console import make_console
from .errors import first_motiad_error
from .storage import DeadLetterFilter, Event, Store, dead_letter_json, open_store
from .tracing import new_id

T = TypeVar("T")

project_option = click.option(
    "-p",
    "--project",
    "project_dir",
    default=".",
    show_default=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The project folder.",
)


def _with_store(project: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the project's storage (SQLite or Redis), run ``action`` on it, close it."""

    async def main() -> T:
        store = open_store(load_settings(project), project)
        async with anyio.create_task_group() as tg:
            await tg.start(store.serve)
            result = await action(store)
            tg.cancel_scope.cancel()
        return result

    try:
        return anyio.run(main)
    except BaseException as exc:
        found = first_motiad_error(exc)
        if found is None:
            raise
        raise click.ClickException(str(found)) from None


def _selection(ids: tuple[int, ...], all_: bool, topic: str | None) -> DeadLetterFilter:
    if not (ids or all_ or topic):
        raise click.UsageError("say which dead letters: IDs, --topic TOPIC or --all")
    return DeadLetterFilter(ids=ids, topic=topic, all=all_)


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


@click.group()
def dlq() -> None:
    """See and handle dead letters: events a step failed to handle for good."""


@dlq.command("list")
@project_option
@click.option("--topic", default=None, help="Only dead letters of this topic.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def dlq_list(project_dir: Path, topic: str | None, as_json: bool) -> None:
    """List dead letters, oldest failure first."""
    which = DeadLetterFilter(topic=topic, all=topic is None)
    letters = _with_store(project_dir.resolve(), lambda store: store.dead_letters(which))
    if as_json:
        click.echo(msgspec.json.encode([dead_letter_json(x) for x in letters]).decode())
        return
    console = make_console()
    if not letters:
        console.print("no dead letters")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "Step", "Topic", "Attempts", "Failed at", "Error"):
        table.add_column(column)
    for letter in letters:
        error = f"{letter.error.type}: {letter.error.message}"
        table.add_row(
            str(letter.id),
            letter.step,
            letter.event.topic,
            str(letter.attempts),
            _stamp(letter.failed_at),
            error if len(error) <= 80 else error[:79] + "…",
        )
    console.print(table)
    console.print(f"{len(letters)} dead letters; `motiad dlq show ID` for details")


@dlq.command("show")
@project_option
@click.argument("letter_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dlq_show(project_dir: Path, letter_id: int, as_json: bool) -> None:
    """Show one dead letter: its event, its attempts and its last error with the stack."""
    which = DeadLetterFilter(ids=(letter_id,))
    letters = _with_store(project_dir.resolve(), lambda store: store.dead_letters(which))
    if not letters:
        raise click.ClickException(f"no dead letter {letter_id}; see `motiad dlq list`")
    letter = dead_letter_json(letters[0])
    if as_json:
        click.echo(msgspec.json.encode(letter).decode())
        return
    console = make_console()
    event = letter["event"]
    for label, value in (
        ("dead letter", letter["id"]),
        ("step", letter["step"]),
        ("topic", letter["topic"]),
        ("event", event["id"]),
        ("trace", event["traceId"]),
        ("group", event["messageGroupId"] or "—"),
        ("emitted", _stamp(event["createdAt"])),
        ("failed", _stamp(letter["failedAt"])),
        ("attempts", letter["attempts"]),
        ("data", msgspec.json.encode(event["data"]).decode()),
        ("error", f"{letter['error']['type']}: {letter['error']['message']}"),
    ):
        console.print(f"{label:>12}  {value}")
    if letter["error"].get("stack"):
        console.print(letter["error"]["stack"].rstrip(), style="dim")


@dlq.command("redrive")
@project_option
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--topic", default=None, help="Every dead letter of this topic.")
def dlq_redrive(project_dir: Path, ids: tuple[int, ...], all_: bool, topic: str | None) -> None:
    """Deliver dead letters again, from attempt 1."""
    which = _selection(ids, all_, topic)
    count = _with_store(project_dir.resolve(), lambda store: store.redrive(which))
    click.echo(f"redrove {count} dead letter{'s' * (count != 1)}" + _when_delivered(project_dir))


@dlq.command("purge")
@project_option
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--topic", default=None, help="Every dead letter of this topic.")
def dlq_purge(project_dir: Path, ids: tuple[int, ...], all_: bool, topic: str | None) -> None:
    """Delete dead letters for good."""
    which = _selection(ids, all_, topic)
    count = _with_store(project_dir.resolve(), lambda store: store.purge(which))
    click.echo(f"purged {count} dead letter{'s' * (count != 1)}")


@click.command()
@project_option
@click.option("--topic", required=True, help="The topic to emit on.")
@click.option("--data", default="null", show_default=True, help="The event's data, as JSON.")
@click.option("--group", default=None, help="messageGroupId (for FIFO subscribers).")
def emit(project_dir: Path, topic: str, data: str, group: str | None) -> None:
    """Emit an event into the project, as a step would (starts a new trace)."""
    try:
        raw = msgspec.json.decode(data.encode(), type=msgspec.Raw)
    except msgspec.DecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--data") from None
    event = Event(new_id(), topic, raw, new_id(), group, time.time())
    _with_store(project_dir.resolve(), lambda store: store.enqueue(event))
    click.echo(f"emitted {topic} as event {event.id} (trace {event.trace_id})")
    if not broker_is_running(project_dir.resolve()):
        sys.stderr.write("motiad is not running here: it is delivered when `motiad run` starts\n")


def _when_delivered(project: Path) -> str:
    return "" if broker_is_running(project.resolve()) else " (delivered when `motiad run` starts)"
