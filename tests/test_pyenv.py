"""``motiad install``: the project's .venv, which Python steps then run on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from motiad.config import Settings
from motiad.pyenv import lists_packages
from motiad.runners import python_interpreter

from .harness import run_cli


def test_install_creates_the_venv_that_python_steps_run_on(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# nothing yet\n\n")

    first = run_cli("install", str(tmp_path), timeout=120)

    assert first.returncode == 0, first.stderr
    assert "Creating a virtual environment in .venv/" in first.stdout
    assert "requirements.txt lists no packages: nothing to install." in first.stdout
    venv_python = tmp_path / ".venv" / "bin" / "python"
    assert venv_python.exists()
    assert python_interpreter(tmp_path, Settings()) == str(venv_python)
    # The venv has pip, so the requirements can be installed into it later.
    pip = subprocess.run(
        [str(venv_python), "-m", "pip", "--version"], capture_output=True, timeout=60, check=False
    )
    assert pip.returncode == 0

    again = run_cli("install", str(tmp_path), timeout=120)

    assert again.returncode == 0, again.stderr
    assert "Using the existing virtual environment .venv/" in again.stdout


def test_install_reports_a_failing_pip_clearly(tmp_path: Path) -> None:
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    # A stand-in interpreter that fails like pip does: the real one needs the network.
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.write_text("#!/bin/sh\necho 'ERROR: No matching distribution' >&2\nexit 1\n")
    fake.chmod(0o755)
    (tmp_path / "requirements.txt").write_text("surely-not-a-package==0\n")

    failed = run_cli("install", str(tmp_path), timeout=120)

    assert failed.returncode == 1
    assert "Installing requirements.txt into .venv/" in failed.stdout
    assert "pip could not install requirements.txt (exit 1)" in failed.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", False), ("# a comment\n   \n", False), ("httpx>=0.27\n", True), ("  -r base.txt", True)],
)
def test_only_non_comment_lines_count_as_packages(
    tmp_path: Path, text: str, expected: bool
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text)

    assert lists_packages(requirements) is expected
