"""How the broker starts children: the runner table of SPEC §9."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import msgspec
import pytest

from motiad.config import Settings
from motiad.errors import ConfigError
from motiad.runners import PASSED_ENV, build_command, child_command, read_dotenv, sdk_dir


def test_a_python_child_runs_the_sdk_module_in_the_project(tmp_path: Path) -> None:
    """SPEC `runner.command`: argv, cwd, the runner's own variables."""
    command = child_command("python", tmp_path, Settings())
    assert command.argv == [sys.executable, "-m", "motiad_sdk"]
    assert command.cwd == tmp_path
    assert command.env["PYTHONPATH"].split(os.pathsep)[0] == str(sdk_dir("sdk-python"))
    assert command.env["PYTHONUNBUFFERED"] == "1"


def test_a_child_inherits_the_environment_with_dotenv_beneath_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC `runner.command`; Motia 0.17: its CLI loads `.env` with `import
    'dotenv/config'` (which never overrides a variable already set) and spawns
    children with `process.env`, so a key exported in the shell reaches the
    steps and beats the same key in `.env`."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-shell")
    monkeypatch.setenv("APP_NAME", "from the shell")
    (tmp_path / ".env").write_text("APP_NAME=from the file\nGREETING_PREFIX=Hi\n")
    go_build = build_command("go", tmp_path, Settings(), [tmp_path / "a.step.go"])
    assert go_build is not None
    (tmp_path / ".motiad" / "go").mkdir(parents=True)
    (tmp_path / ".motiad" / "go" / "steps").write_text("")  # what the build would write
    languages = ("python", "node", "go")
    envs = [child_command(language, tmp_path, Settings()).env for language in languages]
    for env in [*envs, go_build.env]:
        assert env["OPENAI_API_KEY"] == "sk-from-the-shell"
        assert env["APP_NAME"] == "from the shell"
        assert env["GREETING_PREFIX"] == "Hi"


def test_inherit_env_false_gives_the_minimal_environment_with_dotenv_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC `runner.command`: `[project] inherit_env = false`: the passed
    variables, `.env` over them, the runner's own."""
    monkeypatch.setenv("MOTIAD_TEST_SECRET", "not for children")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TZ", "UTC")
    (tmp_path / ".env").write_text(
        "API_KEY=abc\n# a comment\nexport QUOTED='q v'\nTZ=Europe/Paris\n"
    )
    minimal = msgspec.convert({"project": {"inherit_env": False}}, Settings)
    command = child_command("python", tmp_path, minimal)
    assert command.env["LANG"] == "C.UTF-8"
    assert command.env["TZ"] == "Europe/Paris"
    assert "MOTIAD_TEST_SECRET" not in command.env
    assert (command.env["API_KEY"], command.env["QUOTED"]) == ("abc", "q v")
    extra = (
        set(command.env) - set(PASSED_ENV) - {"API_KEY", "QUOTED", "PYTHONPATH", "PYTHONUNBUFFERED"}
    )
    assert extra == set()


def test_dotenv_is_read_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    """Issue #16: comments after a value, quotes, escapes and `export`, as
    python-dotenv reads them. Motia's (Node) dotenv reads each line the same,
    except that it keeps the backslash of `\\"`; neither expands ${VAR}."""
    (tmp_path / ".env").write_text(
        "A=abc # a comment\n"
        'B="keeps # this" # not this\n'
        "C='single \\n stays raw'\n"
        'D="a\\nnewline and \\"quotes\\""\n'
        "export E=exported\n"
        "  F = spaced  \n"
        "G=\n"
        "H=${A}-x\n"
        "ONLY_A_NAME\n"
    )
    assert read_dotenv(tmp_path) == {
        "A": "abc",
        "B": "keeps # this",
        "C": "single \\n stays raw",
        "D": 'a\nnewline and "quotes"',
        "E": "exported",
        "F": "spaced",
        "G": "",
        "H": "${A}-x",
    }


def test_a_dotenv_line_that_cannot_be_read_is_an_error_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\nnot an assignment\n")
    with pytest.raises(ConfigError, match=r"\.env: line 2: expected KEY=value"):
        child_command("python", tmp_path, Settings())


def test_a_python_child_prefers_the_projects_venv(tmp_path: Path) -> None:
    """SPEC `runner.command`: `<project>/.venv/bin/python` when it exists."""
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("")
    assert child_command("python", tmp_path, Settings()).argv[0] == str(venv_python)
    pinned = tmp_path / "python3.12"
    pinned.write_text("")
    configured = Settings(python=str(pinned))
    assert child_command("python", tmp_path, configured).argv[0] == str(pinned)


def test_a_node_child_runs_the_sdk_runner(tmp_path: Path) -> None:
    """SPEC `runner.command`: `node <sdk-node>/src/runner.mjs`, cwd the project."""
    command = child_command("node", tmp_path, Settings())
    assert Path(command.argv[0]).name == "node"
    assert command.argv[1:] == [str(sdk_dir("sdk-node") / "src" / "runner.mjs")]
    assert command.cwd == tmp_path
