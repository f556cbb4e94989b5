"""Find step and stream files in a project. Starts nothing: which language runs
a step file is decided here, from the runner registry's patterns; how to start
it is decided in :mod:`motiad.runners`."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .config import Language, LanguageSettings, builtin_languages
from .errors import ConfigError

STEPS_DIR = "steps"
_SKIPPED_DIRS = {"node_modules", "__pycache__", ".venv", "venv", ".git", ".motiad"}


@dataclass(frozen=True, slots=True)
class StepFile:
    """A discovered step (or stream) file."""

    path: Path
    """Absolute path."""
    relative: str
    """Path relative to the project, with forward slashes: how messages name it."""
    language: Language


def language_of(
    path: Path, languages: Mapping[str, LanguageSettings] | None = None
) -> Language | None:
    """The language whose patterns match ``path``'s name, or ``None`` when it is
    not a step file. Two languages claiming one file is a configuration error."""
    registry = builtin_languages() if languages is None else languages
    matches = [
        name
        for name, language in registry.items()
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in language.patterns)
    ]
    if len(matches) > 1:
        raise ConfigError(
            path,
            f"matches the patterns of {' and '.join(sorted(matches))}; change one"
            " [languages.NAME] patterns in motiad.toml so one language claims it",
        )
    return matches[0] if matches else None


def stream_language_of(
    path: Path, languages: Mapping[str, LanguageSettings] | None = None
) -> Language | None:
    """The language whose ``stream_patterns`` match ``path``'s name (its SDK loads
    the stream file), else ``None``."""
    registry = builtin_languages() if languages is None else languages
    for name, language in registry.items():
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in language.stream_patterns):
            return name
    return None


def discover_steps(
    project: Path, languages: Mapping[str, LanguageSettings] | None = None
) -> list[StepFile]:
    """All step files under ``PROJECT/steps``, sorted by relative path."""
    registry = builtin_languages() if languages is None else languages
    return _discover(project, lambda path: language_of(path, registry))


def discover_streams(
    project: Path, languages: Mapping[str, LanguageSettings] | None = None
) -> list[StepFile]:
    """All stream definition files under ``PROJECT/steps``, sorted by relative path."""
    registry = builtin_languages() if languages is None else languages
    return _discover(project, lambda path: stream_language_of(path, registry))


def _discover(project: Path, classify: Callable[[Path], Language | None]) -> list[StepFile]:
    project = project.resolve()
    steps_dir = project / STEPS_DIR
    if not steps_dir.is_dir():
        raise ConfigError(
            project,
            f"no {STEPS_DIR}/ folder here; is this a motiad project? "
            "(create one with steps/*.step.ts or steps/*_step.py files)",
        )
    found: list[StepFile] = []
    for path in sorted(steps_dir.rglob("*")):
        if _SKIPPED_DIRS.intersection(path.relative_to(project).parts) or not path.is_file():
            continue
        relative = path.relative_to(project).as_posix()
        language = classify(Path(relative))
        if language is not None:
            found.append(StepFile(path, relative, language))
    return found
