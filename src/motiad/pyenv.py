"""``motiad install``: the project's ``.venv`` with its ``requirements.txt``.

Python steps run on ``PROJECT/.venv/bin/python`` when it exists (see
:func:`motiad.runners.python_interpreter`), so installing here is all a project
needs for its Python dependencies. The SDK itself is never installed into it:
the runner puts it on ``PYTHONPATH``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from .errors import MotiadError

VENV_DIR: Final = ".venv"
REQUIREMENTS: Final = "requirements.txt"


class InstallError(MotiadError):
    """Creating the virtual environment or installing into it failed."""


def venv_python(project: Path) -> Path:
    """The interpreter of the project's virtual environment."""
    return project / VENV_DIR / "bin" / "python"


def lists_packages(requirements: Path) -> bool:
    """Whether a requirements file has any line that is not blank or a comment."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return True
    return False


def install(project: Path, say: Callable[[str], None], *, base_python: str | None = None) -> Path:
    """Create ``PROJECT/.venv`` if missing (with ``base_python``, default: the
    interpreter running motiad), then ``pip install -r requirements.txt`` into it.
    pip's own output goes straight to this process's stdout and stderr. Returns
    the environment's interpreter."""
    python = venv_python(project)
    if python.exists():
        say(f"Using the existing virtual environment {VENV_DIR}/")
    else:
        base = base_python or sys.executable
        say(f"Creating a virtual environment in {VENV_DIR}/ (Python {_version_of(base)})…")
        made = subprocess.run(
            [base, "-m", "venv", str(project / VENV_DIR)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            detail = (made.stderr or made.stdout).strip()
            raise InstallError(
                f"could not create {project / VENV_DIR} (exit {made.returncode}): {detail}\n"
                "On Debian and Ubuntu the venv module comes with the python3-venv package."
            )
    requirements = project / REQUIREMENTS
    if not requirements.is_file():
        say(f"No {REQUIREMENTS} here: nothing to install.")
    elif not lists_packages(requirements):
        say(f"{REQUIREMENTS} lists no packages: nothing to install.")
    else:
        say(f"Installing {REQUIREMENTS} into {VENV_DIR}/…")
        installed = subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-r",
                str(requirements),
            ],
            cwd=project,
            check=False,
        )
        if installed.returncode != 0:
            raise InstallError(
                f"pip could not install {REQUIREMENTS} (exit {installed.returncode}); "
                "its output above says why"
            )
    say(f"Done: Python steps of this project run on {VENV_DIR}/bin/python.")
    return python


def _version_of(python: str) -> str:
    if python == sys.executable:
        return sys.version.split()[0]
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,  # a healthy interpreter answers in well under a second
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"cannot run {python}: {exc}") from None
    return done.stdout.strip()
