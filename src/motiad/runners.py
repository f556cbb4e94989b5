"""How to start a child for each language: argv, environment, working folder.

The SDKs ship with motiad: inside the wheel under ``motiad/_bundled/``, or
beside the source tree in a checkout. A step file never needs to install them.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Language, Settings
from .errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent

PASSED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "TERM", "SYSTEMROOT", "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE",
    "VIRTUAL_ENV",
)  # fmt: skip
"""Variables a child inherits from the broker (DESIGN §8: a minimal, explicit
environment); everything else a step needs goes in the project's ``.env``."""


@dataclass(frozen=True, slots=True)
class ChildCommand:
    """Everything needed to spawn one child."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


def sdk_dir(name: str) -> Path:
    """Where an SDK lives: bundled in the installed package, or in the checkout."""
    for candidate in (_PACKAGE_DIR / "_bundled" / name, _PACKAGE_DIR.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(name, f"the {name} SDK is missing from this motiad installation; reinstall")


def python_interpreter(project: Path, settings: Settings) -> str:
    """The configured interpreter, else the project's ``.venv``, else the broker's own."""
    if settings.python:
        return settings.python
    venv_python = project / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def read_dotenv(project: Path) -> dict[str, str]:
    """``KEY=value`` lines of the project's ``.env``; ``#`` comments and quotes allowed."""
    path = project / ".env"
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(path, "expected KEY=value", field=f"line {number}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def child_command(language: Language, project: Path, settings: Settings) -> ChildCommand:
    """The command that starts a child for ``language`` steps of ``project``."""
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
    env.update(read_dotenv(project))
    if language == "python":
        sdk = sdk_dir("sdk-python")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sdk), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        argv = [python_interpreter(project, settings), "-m", "motiad_sdk"]
    else:
        node = shutil.which("node", path=env.get("PATH"))
        if node is None:
            raise ConfigError(
                project,
                "node is not on PATH; install Node.js 20 or newer to run"
                " TypeScript/JavaScript steps",
            )
        argv = [node, str(sdk_dir("sdk-node") / "src" / "runner.mjs")]
    return ChildCommand(argv, env, project)
