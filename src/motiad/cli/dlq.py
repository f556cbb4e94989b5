"""``motiad dlq …``: see and handle a project's dead letters from the command
line, whether or not ``motiad run`` is running."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec

from ..console import Listing, make_console, plural, stamp
from ..storage import DeadLetterFilter, dead_letter_json
from .options import takes_project
from .store import delivery_note, with_store


def _selection(ids: tuple[int, ...], all_: bool, topic: str | None) -> DeadLetterFilter:
    if not (ids or all_ or topic):
        raise click.UsageError("say which dead letters: IDs, --topic TOPIC or --all")
    return DeadLetterFilter(ids=ids, topic=topic, all=all_)


@click.group()
def dlq() -> None:
    """See and handle dead letters: events a step failed to handle for good."""


@dlq.command("list")
@takes_project()
@click.option("--topic", default=None, help="Only dead letters of this topic.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def dlq_list(project_dir: Path, topic: str | None, as_json: bool) -> None:
    """List the dead letters of PROJECT_DIR, oldest failure first."""
    which = DeadLetterFilter(topic=topic, all=topic is None)
    letters = with_store(project_dir.resolve(), lambda store: store.dead_letters(which))
    if as_json:
        click.echo(msgspec.json.encode([dead_letter_json(x) for x in letters]).decode())
        return
    console = make_console()
    if not letters:
        console.print("no dead letters")
        return
    listing = Listing(
        *("ID", "Step", "Topic", "Attempts", "Failed at", "Error"),
        whole=("ID", "Step", "Topic", "Failed at"),
        right=("ID", "Attempts"),
    )
    for letter in letters:
        error = f"{letter.error.type}: {letter.error.message}"
        listing.add_row(
            str(letter.id),
            letter.step,
            letter.event.topic,
            str(letter.attempts),
            stamp(letter.failed_at),
            error if len(error) <= 80 else error[:79] + "…",
        )
    console.print(listing)
    console.print(f"{plural(len(letters), 'dead letter')}; `motiad dlq show ID` for details")


@dlq.command("show")
@takes_project(positional=False)
@click.argument("letter_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dlq_show(project_dir: Path, letter_id: int, as_json: bool) -> None:
    """Show one dead letter: its event, its attempts and its last error with the stack."""
    which = DeadLetterFilter(ids=(letter_id,))
    letters = with_store(project_dir.resolve(), lambda store: store.dead_letters(which))
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
        ("emitted", stamp(event["createdAt"])),
        ("failed", stamp(letter["failedAt"])),
        ("attempts", letter["attempts"]),
        ("data", msgspec.json.encode(event["data"]).decode()),
        ("error", f"{letter['error']['type']}: {letter['error']['message']}"),
    ):
        console.print(f"{label:>12}  {value}")
    if letter["error"].get("stack"):
        console.print(letter["error"]["stack"].rstrip(), style="dim")


@dlq.command("redrive")
@takes_project(positional=False)
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--topic", default=None, help="Every dead letter of this topic.")
def dlq_redrive(project_dir: Path, ids: tuple[int, ...], all_: bool, topic: str | None) -> None:
    """Deliver dead letters again, from attempt 1."""
    which = _selection(ids, all_, topic)
    count = with_store(project_dir.resolve(), lambda store: store.redrive(which))
    note = delivery_note(project_dir.resolve())
    click.echo(f"redrove {plural(count, 'dead letter')}{note}")


@dlq.command("purge")
@takes_project(positional=False)
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dead letter.")
@click.option("--topic", default=None, help="Every dead letter of this topic.")
def dlq_purge(project_dir: Path, ids: tuple[int, ...], all_: bool, topic: str | None) -> None:
    """Delete dead letters for good."""
    which = _selection(ids, all_, topic)
    count = with_store(project_dir.resolve(), lambda store: store.purge(which))
    click.echo(f"purged {plural(count, 'dead letter')}")
