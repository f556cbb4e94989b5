"""How to start a child for each language: argv, environment, working folder,
from the language's entry in the runner registry (``Settings.languages``).

The SDKs ship with motiad: inside the wheel under ``motiad/_bundled/``, or
beside the source tree in a checkout. A step file never needs to install them.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from .config import FILES_PLACEHOLDER, SETTINGS_FILE, Language, LanguageSettings, Settings
from .errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent

PASSED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "TERM", "SYSTEMROOT", "NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE",
    "VIRTUAL_ENV",
)  # fmt: skip
"""The variables a child inherits from the broker with ``[project] inherit_env =
false`` (a minimal, explicit environment: what a step needs besides goes in the
project's ``.env``). By default a child inherits the whole environment, as in Motia."""


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
    """The variables of the project's ``.env``, read as python-dotenv reads them
    (``export``, quotes, escapes in double quotes, ``# comments``), without
    ``${VAR}`` expansion (Motia's dotenv has none). A line it cannot read is a
    :class:`ConfigError` naming the line."""
    path = project / ".env"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ConfigError(path, "expected KEY=value", field=f"line {binding.original.line}")
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def _expand(text: str, values: Mapping[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def _resolve_program(argv: list[str], env: Mapping[str, str], project: Path, where: str) -> str:
    """``argv[0]`` as a path: looked up on the child's PATH, or relative to the
    project; a clear error when it is not there."""
    program = argv[0]
    if "/" not in program:
        found = shutil.which(program, path=env.get("PATH"))
        if found is None:
            raise ConfigError(where, f"{program} is not on PATH")
        return found
    path = Path(program) if Path(program).is_absolute() else project / program
    if not path.is_file():
        raise ConfigError(where, f"{program} does not exist")
    return str(path)


def language_entry(language: Language, settings: Settings) -> LanguageSettings:
    """The registry entry of ``language``."""
    entry = settings.languages.get(language)
    if entry is None:
        raise ConfigError(
            SETTINGS_FILE,
            f"no runner for {language!r}; declare [languages.{language}] in motiad.toml",
            field=f"languages.{language}",
        )
    return entry


def sdk_path(language: Language, entry: LanguageSettings, project: Path) -> Path | None:
    """The folder ``{sdk}`` names: a bundled SDK, else a folder relative to the project."""
    if entry.sdk is None:
        return None
    if "/" not in entry.sdk:
        with contextlib.suppress(ConfigError):
            return sdk_dir(entry.sdk)
    path = Path(entry.sdk) if Path(entry.sdk).is_absolute() else project / entry.sdk
    if not path.is_dir():
        raise ConfigError(
            SETTINGS_FILE,
            f"{entry.sdk!r} is neither an SDK bundled with motiad nor a folder",
            field=f"languages.{language}.sdk",
        )
    return path


def _placeholders(
    language: Language, entry: LanguageSettings, project: Path, settings: Settings
) -> dict[str, str]:
    values = {"{project}": str(project)}
    sdk = sdk_path(language, entry, project)
    if sdk is not None:
        values["{sdk}"] = str(sdk)
    if any(
        "{python}" in arg for arg in [*entry.command, *(entry.build or []), *entry.env.values()]
    ):
        values["{python}"] = python_interpreter(project, settings)
    return values


def _environment(
    entry: LanguageSettings, project: Path, settings: Settings, values: Mapping[str, str]
) -> dict[str, str]:
    """A child's environment: the broker's (all of it, or the ``PASSED_ENV``
    list with ``inherit_env = false``) and the project's ``.env``, then the
    runner's own ``env``. An inherited variable wins over ``.env``, as in Motia
    (its dotenv never overrides a variable already set: a key exported in the
    shell beats a stale one in the file); the minimal environment takes ``.env``
    on top."""
    dotenv = read_dotenv(project)
    if settings.project.inherit_env:
        env = {**dotenv, **os.environ}
    else:
        env = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
        env.update(dotenv)
    for name, template in entry.env.items():
        value = _expand(template, values)
        if name.endswith("PATH") and env.get(name):
            value = os.pathsep.join([value, env[name]])
        env[name] = value
    return env


def child_command(
    language: Language, project: Path, settings: Settings, file: Path | None = None
) -> ChildCommand:
    """The command that starts a child for the ``language`` step ``file`` of ``project``
    (its registry entry with the placeholders filled in)."""
    entry = language_entry(language, settings)
    values = _placeholders(language, entry, project, settings)
    values["{file}"] = str(file) if file is not None else ""
    env = _environment(entry, project, settings, values)
    argv = [_expand(arg, values) for arg in entry.command]
    where = (
        file.relative_to(project).as_posix()
        if file is not None and file.is_relative_to(project)
        else str(project)
    )
    try:
        argv[0] = _resolve_program(argv, env, project, where)
    except ConfigError as exc:
        hint = entry.install_hint or (
            f"run the [languages.{language}] build first" if entry.build else None
        )
        raise ConfigError(
            where,
            f"cannot start the {language} runner (languages.{language}.command[0]): "
            f"{exc.message}" + (f"; {hint}" if hint else ""),
        ) from None
    return ChildCommand(argv, env, project)


def build_command(
    language: Language, project: Path, settings: Settings, files: list[Path]
) -> ChildCommand | None:
    """The ``build`` of ``language`` for these step files, or ``None`` when it has none.
    ``{files}`` becomes one argument per file."""
    entry = language_entry(language, settings)
    if entry.build is None:
        return None
    values = _placeholders(language, entry, project, settings)
    env = _environment(entry, project, settings, values)
    argv: list[str] = []
    for arg in entry.build:
        if arg == FILES_PLACEHOLDER:
            argv.extend(str(file) for file in files)
        else:
            argv.append(_expand(arg, values))
    where = ", ".join(file.relative_to(project).as_posix() for file in files) or str(project)
    try:
        argv[0] = _resolve_program(argv, env, project, where)
    except ConfigError as exc:
        raise ConfigError(
            where,
            f"cannot build the {language} steps (languages.{language}.build[0]): {exc.message}",
        ) from None
    return ChildCommand(argv, env, project)
