"""Find step files in a project. Starts nothing: which language runs a file
is decided here, how to start it is decided in :mod:`motiad.runners`."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from .config import Language
from .errors import ConfigError

STEPS_DIR = "steps"
STEP_PATTERNS: dict[Language, tuple[str, ...]] = {
    "node": ("*.step.ts", "*.step.js", "*.step.mjs", "*.step.cjs", "*.step.mts", "*.step.cts"),
    "python": ("*_step.py", "*.step.py"),
}
STREAM_PATTERNS: dict[Language, tuple[str, ...]] = {
    "node": ("*.stream.ts", "*.stream.js", "*.stream.mjs", "*.stream.cjs"),
    "python": ("*_stream.py", "*.stream.py"),
}
_SKIPPED_DIRS = {"node_modules", "__pycache__", ".venv", "venv", ".git", ".motiad"}


@dataclass(frozen=True, slots=True)
class StepFile:
    """A discovered step file."""

    path: Path
    """Absolute path."""
    relative: str
    """Path relative to the project, with forward slashes: how messages name it."""
    language: Language


def language_of(
    path: Path, patterns: dict[Language, tuple[str, ...]] = STEP_PATTERNS
) -> Language | None:
    """The language that runs ``path``, or ``None`` when it is not a step file
    (or, given ``STREAM_PATTERNS``, a stream file)."""
    for language, names in patterns.items():
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in names):
            return language
    return None


def discover_steps(project: Path) -> list[StepFile]:
    """All step files under ``PROJECT/steps``, sorted by relative path."""
    return _discover(project, STEP_PATTERNS)


def discover_streams(project: Path) -> list[StepFile]:
    """All stream definition files under ``PROJECT/steps``, sorted by relative path."""
    return _discover(project, STREAM_PATTERNS)


def _discover(project: Path, patterns: dict[Language, tuple[str, ...]]) -> list[StepFile]:
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
        language = language_of(path, patterns)
        if language is not None:
            found.append(StepFile(path, path.relative_to(project).as_posix(), language))
    return found
