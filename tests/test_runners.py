"""How the broker starts children: the runner table of SPEC §9."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from motiad.config import Settings
from motiad.runners import PASSED_ENV, child_command, sdk_dir


def test_a_python_child_runs_the_sdk_module_in_the_project_with_a_minimal_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC `runner.command`: argv, cwd, the passed variables, .env, the runner's own."""
    monkeypatch.setenv("MOTIAD_TEST_SECRET", "not for children")
    monkeypatch.setenv("LANG", "C.UTF-8")
    (tmp_path / ".env").write_text("API_KEY=abc\n# a comment\nexport QUOTED='q v'\n")
    command = child_command("python", tmp_path, Settings())
    assert command.argv == [sys.executable, "-m", "motiad_sdk"]
    assert command.cwd == tmp_path
    assert command.env["LANG"] == "C.UTF-8"
    assert "MOTIAD_TEST_SECRET" not in command.env
    assert (command.env["API_KEY"], command.env["QUOTED"]) == ("abc", "q v")
    assert command.env["PYTHONPATH"].split(os.pathsep)[0] == str(sdk_dir("sdk-python"))
    assert command.env["PYTHONUNBUFFERED"] == "1"
    extra = (
        set(command.env) - set(PASSED_ENV) - {"API_KEY", "QUOTED", "PYTHONPATH", "PYTHONUNBUFFERED"}
    )
    assert extra == set()


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
