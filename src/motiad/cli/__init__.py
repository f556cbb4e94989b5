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

import click

from .. import __version__
from .conformance import conformance
from .create import create
from .dlq import dlq
from .emit import emit
from .project import flows, install, languages, steps, types
from .run import dev, run
from .traces import logs, traces


@click.group()
@click.version_option(__version__, prog_name="motiad")
def main() -> None:
    """motiad: steps in any language on warm processes, wired by durable events."""


for command in (
    *(run, dev),
    *(steps, languages, flows, types, install, create),
    *(dlq, emit),
    *(traces, logs),
    conformance,
):
    main.add_command(command)
