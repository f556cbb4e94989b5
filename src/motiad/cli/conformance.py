"""``motiad conformance``: check a step child against protocol/SPEC.md from the
outside (the checker is :mod:`motiad.conformance`)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import click

from ..conformance import HANDSHAKE_S, PROFILES, Profile, checker_for, run_conformance
from ..errors import MotiadError
from ..tracing import LogBus


@click.command(
    "conformance",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--sdk",
    type=click.Choice(["python", "node", "go", "ruby"]),
    help="Check one of motiad's SDKs (its built-in runner registry entry) with its"
    " fixtures from protocol/conformance/.",
)
@click.option(
    "--steps",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The fixture steps (SPEC §11.1) in the child's language.",
)
@click.option(
    "--handshake-timeout",
    type=float,
    default=HANDSHAKE_S,
    show_default=True,
    help="Seconds the child may take to answer initialize.",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="full",
    show_default=True,
    help="The cases of the core profile (what a child needs against a conforming"
    " broker), or of the full one (SPEC §0.1).",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def conformance(
    sdk: str | None,
    steps: Path | None,
    handshake_timeout: float,
    profile: Profile,
    command: tuple[str, ...],
) -> None:
    """Check a step child against protocol/SPEC.md: --sdk python|node|go|ruby, or -- COMMAND...

    COMMAND runs with a temporary project as its working folder; its steps/
    folder is a copy of --steps. Prints PASS or FAIL per case with the
    requirement it checks, then "N passed, N failed: profile P passed" (or
    failed); exits 1 on any failure.
    """
    if (sdk is None) == (not command):
        raise click.UsageError("give either --sdk python|node|go|ruby or -- COMMAND...")
    logs = LogBus()
    logs.subscribe(lambda record: click.echo(f"{record.step}: {record.message}", err=True))
    try:
        checker = checker_for(
            sdk, list(command), steps, handshake_s=handshake_timeout, logs=logs, profile=profile
        )
        status = anyio.run(run_conformance, checker, click.echo)
    except MotiadError as exc:  # e.g. node is not installed: nothing could be checked
        raise click.ClickException(str(exc)) from None
    sys.exit(status)
