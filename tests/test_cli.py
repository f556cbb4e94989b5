"""The command line as a user meets it: every command that works on a project
takes it the same way (``PROJECT_DIR`` where the command has no other
positional argument, ``-p/--project DIR`` everywhere), and every ``--help`` is
plain text.

Most cases run in this process with click's CliRunner (the command's own code,
without the cost of a subprocess); the forms the issue names run as a real
``motiad`` process."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from motiad.cli import main

from .harness import motiad, run_cli

PROJECT_COMMANDS = {
    "run",
    "dev",
    "steps",
    "languages",
    "flows",
    "types",
    "install",
    "dlq list",
    "dlq show",
    "dlq redrive",
    "dlq purge",
    "emit",
    "traces",
    "logs",
}
"""Every command that works on a project (``create`` makes one; ``conformance``
checks a child, not a project)."""

MARKUP = re.compile(r"`|:[a-z]+:|^\s*\.\. ", re.MULTILINE)
"""reStructuredText showing through: literals, roles, directives. Docstrings
use it for the API docs; a person reading ``--help`` should not see it."""


def commands(
    command: click.Command = main, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """The words that name each command and group, ``()`` for ``motiad`` itself."""
    yield path
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            yield from commands(subcommand(command, name), (*path, name))


def subcommand(group: click.Group, name: str) -> click.Command:
    """A command of ``group`` as click finds it (``motiad``'s are imported on use)."""
    found = group.get_command(click.Context(group), name)
    assert found is not None, name
    return found


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for word in path:
        assert isinstance(command, click.Group)
        command = subcommand(command, word)
    return command


@pytest.mark.parametrize("path", list(commands()), ids=lambda path: " ".join(path) or "motiad")
def test_every_help_is_plain_text(path: tuple[str, ...]) -> None:
    shown = CliRunner().invoke(main, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    assert MARKUP.search(shown.output) is None, shown.output


def test_every_project_command_takes_the_project_the_same_way() -> None:
    with_project = set()
    for path in commands():
        command = command_at(path)
        options = {name for param in command.params for name in param.opts}
        arguments = [param for param in command.params if isinstance(param, click.Argument)]
        if "--project" not in options:
            continue
        with_project.add(" ".join(path))
        assert "-p" in options
        others = [arg for arg in arguments if arg.metavar != "[PROJECT_DIR]"]
        takes_dir = len(others) < len(arguments)
        assert takes_dir == (not others), f"{path}: PROJECT_DIR iff no other argument"
    assert with_project == PROJECT_COMMANDS


def empty_project(root: Path) -> Path:
    (root / "steps").mkdir(parents=True)
    return root


STORE = Path(".motiad") / "motiad.db"

Case = tuple[tuple[str, ...], tuple[str, ...], Path | None]
"""The command's words, its other arguments, the file it leaves in the project."""

TAKES_PROJECT_DIR: list[Case] = [
    (("steps",), ("--json",), None),
    (("languages",), ("--json",), None),
    (("flows",), ("--json",), None),
    (("types",), (), Path("types.d.ts")),
    (("install",), (), Path(".venv")),
    (("dlq", "list"), ("--json",), STORE),
    (("emit",), ("--topic", "later"), STORE),
    (("logs",), ("--json",), STORE),
]
TAKES_DASH_P_ONLY: list[Case] = [
    (("dlq", "show"), ("1",), STORE),
    (("dlq", "redrive"), ("--all",), STORE),
    (("dlq", "purge"), ("--all",), STORE),
    (("traces",), (), STORE),
]


@pytest.mark.parametrize(
    ("words", "rest", "leaves"), TAKES_PROJECT_DIR + TAKES_DASH_P_ONLY, ids=lambda x: x
)
def test_dash_p_names_the_project_from_another_folder(
    words: tuple[str, ...],
    rest: tuple[str, ...],
    leaves: Path | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = empty_project(tmp_path / "project")
    monkeypatch.chdir(empty_project(tmp_path / "elsewhere"))
    done = CliRunner().invoke(main, [*words, "-p", str(project), *rest])
    expected = 1 if words == ("dlq", "show") else 0  # there is no dead letter 1
    assert done.exit_code == expected, done.output
    if leaves is not None:
        assert (project / leaves).exists()
        assert not (tmp_path / "elsewhere" / leaves).exists()


@pytest.mark.parametrize(("words", "rest", "leaves"), TAKES_PROJECT_DIR, ids=lambda x: x)
def test_project_dir_names_the_project_from_another_folder(
    words: tuple[str, ...],
    rest: tuple[str, ...],
    leaves: Path | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = empty_project(tmp_path / "project")
    monkeypatch.chdir(empty_project(tmp_path / "elsewhere"))
    done = CliRunner().invoke(main, [*words, str(project), *rest])
    assert done.exit_code == 0, done.output
    if leaves is not None:
        assert (project / leaves).exists()
        assert not (tmp_path / "elsewhere" / leaves).exists()


def test_without_a_project_the_current_folder_is_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(empty_project(tmp_path))
    done = CliRunner().invoke(main, ["types"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "types.d.ts").exists()


def test_project_dir_and_dash_p_naming_different_folders_is_a_usage_error(
    tmp_path: Path,
) -> None:
    one, other = empty_project(tmp_path / "one"), empty_project(tmp_path / "other")
    for words in (("logs",), ("run", "--port", "0"), ("dlq", "list")):
        done = CliRunner().invoke(main, [*words, str(one), "-p", str(other)])
        assert done.exit_code == 2, done.output
        assert "PROJECT_DIR" in done.output
        assert "-p/--project" in done.output
        assert "name different folders" in done.output
    assert not (one / STORE).exists()
    assert not (other / STORE).exists()


def test_project_dir_and_dash_p_naming_the_same_folder_is_fine(tmp_path: Path) -> None:
    project = empty_project(tmp_path / "project")
    done = CliRunner().invoke(main, ["dlq", "list", str(project), "-p", f"{project}/", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == []


@pytest.mark.parametrize("command", ["steps", "run"])
def test_a_folder_that_is_not_a_project_is_a_clean_error(command: str, tmp_path: Path) -> None:
    done = run_cli(command, str(tmp_path), *(["--port", "0"] if command == "run" else []))
    assert done.returncode == 1
    assert "no steps/ or src/ folder here" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing left behind (no .motiad/)


@pytest.mark.anyio
@pytest.mark.parametrize("command", ["run", "dev"])
async def test_run_and_dev_take_dash_p_and_logs_and_dlq_take_project_dir(
    command: str, tmp_path: Path
) -> None:
    project = empty_project(tmp_path / "project")
    elsewhere = empty_project(tmp_path / "elsewhere")
    async with motiad(command, "-p", str(project), "--port", "0", cwd=elsewhere) as served:
        assert await served.stop(signal.SIGINT) == 0
    assert not (elsewhere / STORE).exists()

    # The forms issue #16 names, as a person types them.
    printed = run_cli("logs", str(project), cwd=elsewhere)
    assert printed.returncode == 0, printed.stderr
    assert "stopping: finishing nothing in flight" in printed.stdout
    as_json = run_cli("logs", "-p", str(project), "--json", cwd=elsewhere)
    messages = [json.loads(line)["message"] for line in as_json.stdout.splitlines()]
    assert any(message.startswith("stopping") for message in messages)
    listed = run_cli("dlq", "list", str(project), "--json", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
