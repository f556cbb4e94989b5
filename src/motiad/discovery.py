"""Find step and stream files in a project. Starts nothing: which language runs
a step file is decided here, from the runner registry's patterns; how to start
it is decided in :mod:`motiad.runners`."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import DEFAULT_STEP_DIRS, Language, LanguageSettings, builtin_languages
from .errors import ConfigError

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
    project: Path,
    languages: Mapping[str, LanguageSettings] | None = None,
    dirs: Sequence[str] = DEFAULT_STEP_DIRS,
) -> list[StepFile]:
    """All step files under the step folders ``dirs`` of ``project``, sorted by
    relative path. A project with none of ``dirs`` is a :class:`ConfigError`."""
    registry = builtin_languages() if languages is None else languages
    return _discover(project, dirs, lambda path: language_of(path, registry))


def discover_streams(
    project: Path,
    languages: Mapping[str, LanguageSettings] | None = None,
    dirs: Sequence[str] = DEFAULT_STEP_DIRS,
) -> list[StepFile]:
    """All stream definition files under the step folders ``dirs``, sorted by relative path."""
    registry = builtin_languages() if languages is None else languages
    return _discover(project, dirs, lambda path: stream_language_of(path, registry))


def step_folders(project: Path, dirs: Sequence[str] = DEFAULT_STEP_DIRS) -> list[Path]:
    """The step folders of ``project`` that exist; a :class:`ConfigError` saying
    what a project looks like when there is none."""
    project = project.resolve()
    found = [project / folder for folder in dirs if (project / folder).is_dir()]
    if not found:
        folders = " or ".join(f"{folder.rstrip('/')}/" for folder in dirs)
        raise ConfigError(
            project,
            f"no {folders} folder here; is this a motiad project? (create one with"
            f" {dirs[0].rstrip('/')}/*.step.ts or {dirs[0].rstrip('/')}/*_step.py files)",
        )
    return found


def in_skipped_folder(relative: str) -> bool:
    """True for a path under a folder discovery never enters (``node_modules``, ...)."""
    return bool(_SKIPPED_DIRS.intersection(Path(relative).parts))


def _discover(
    project: Path, dirs: Sequence[str], classify: Callable[[Path], Language | None]
) -> list[StepFile]:
    project = project.resolve()
    found: dict[str, StepFile] = {}  # by relative path: step folders may nest
    for folder in step_folders(project, dirs):
        for path in folder.rglob("*"):
            relative = path.relative_to(project).as_posix()
            if relative in found or in_skipped_folder(relative) or not path.is_file():
                continue
            language = classify(Path(relative))
            if language is not None:
                found[relative] = StepFile(path, relative, language)
    return [found[relative] for relative in sorted(found)]
