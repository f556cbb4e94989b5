"""The ``motiad`` command line: one module per group of commands.

- :mod:`.run`: ``run`` and ``dev``, serving a project;
- :mod:`.project`: ``steps``, ``languages``, ``flows``, ``types`` and
  ``install``, which read a project's files;
- :mod:`.create`: ``create``, which writes a new project and installs it;
- :mod:`.dlq` and :mod:`.emit`: the project's queue;
- :mod:`.traces`: ``traces`` and ``logs``, what the workbench shows;
- :mod:`.conformance`: check a step child against the protocol;
- :mod:`.options`: what they share (how a command is given its project).
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

COMMANDS = {
    "run": "run",
    "dev": "run",
    "steps": "project",
    "languages": "project",
    "flows": "project",
    "types": "project",
    "install": "project",
    "create": "create",
    "dlq": "dlq",
    "emit": "emit",
    "traces": "traces",
    "logs": "traces",
    "conformance": "conformance",
}
"""Each command and the module of this package that defines it."""


class _Commands(click.Group):
    """Imports a command's module when the command is used, not before: ``motiad
    run`` never loads what ``conformance``, ``create`` or ``dlq`` need (the
    conformance checker alone is megabytes of a broker's resident memory)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)  # as click.Group lists them

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command = getattr(importlib.import_module(f".{module}", __name__), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="motiad")
def main() -> None:
    """motiad: steps in any language on warm processes, wired by durable events."""
