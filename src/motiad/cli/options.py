"""What the commands share: how they are told which project to work on, how
they read its settings, and how they run async work to its end.

Every command that works on a project takes it the same way: ``-p/--project
DIR`` always, and a ``PROJECT_DIR`` argument too where the command has no other
positional argument. Neither given: the current folder.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from ..config import Settings, load_settings
from ..errors import MotiadError, first_motiad_error

T = TypeVar("T")

Command = Callable[..., None]

FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)
"""An existing folder, as a :class:`Path`."""


def takes_project(*, positional: bool = True) -> Callable[[Command], Command]:
    """Give a command ``-p/--project DIR`` and, with ``positional``, an optional
    ``PROJECT_DIR`` argument; the command gets the one folder as ``project_dir``
    (the current folder when neither is given). Both given, naming different
    folders: a usage error."""

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def with_project(
            *args: Any, project_arg: Path | None = None, project_opt: Path | None = None, **kw: Any
        ) -> None:
            command(*args, project_dir=one_project(project_arg, project_opt), **kw)

        # click lists parameters in the order their decorators are written:
        # PROJECT_DIR, then -p, then the command's own.
        with_project = click.option(
            "-p",
            "--project",
            "project_opt",
            type=FOLDER,
            metavar="DIR",
            default=None,
            help="The project folder (default: the current folder)"
            + ("; the same as PROJECT_DIR." if positional else "."),
        )(with_project)
        if positional:
            with_project = click.argument(
                "project_arg", metavar="[PROJECT_DIR]", required=False, type=FOLDER
            )(with_project)
        return with_project

    return decorate


def one_project(argument: Path | None, option: Path | None) -> Path:
    """The project folder named by ``PROJECT_DIR`` or ``-p``, or the current one."""
    if argument is not None and option is not None and argument.resolve() != option.resolve():
        raise click.UsageError(
            f"PROJECT_DIR ({argument}) and -p/--project ({option}) name different folders:"
            " give one of them"
        )
    return argument or option or Path(".")


def project_settings(project: Path, **overrides: Any) -> Settings:
    """The project's settings (``motiad.toml``, ``.env``, the environment, then
    ``overrides``); a bad setting is a clean error, not a traceback."""
    try:
        return load_settings(project.resolve(), overrides)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None


def run_async(work: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run(work, *args)``; a :class:`MotiadError` it raises (also from
    inside a task group's exception group) is a clean error, not a traceback."""
    try:
        return anyio.run(work, *args)
    except BaseException as exc:
        found = first_motiad_error(exc)
        if found is None:
            raise
        raise click.ClickException(str(found)) from None
