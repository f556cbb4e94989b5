"""``motiad create NAME``: a new project from the template shipped in
``motiad/templates/project`` (package data, read with importlib.resources).

Template files are copied as they are, except that ``__PROJECT_NAME__`` and
``__PACKAGE_NAME__`` are filled in, ``gitignore`` becomes ``.gitignore`` and a
``.tmpl`` suffix is dropped (it keeps the template's Python step out of this
package's own linting and type checks, and a dot-file out of packaging rules).
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from .errors import MotiadError

TEMPLATE: Final = "project"
_RENAMED: Final = {"gitignore": ".gitignore"}
_NPM_INVALID = re.compile(r"[^a-z0-9._~-]+")


class ScaffoldError(MotiadError):
    """The project cannot be created where asked."""


def package_name(name: str) -> str:
    """An npm package name for a folder name: lower-case, URL-safe."""
    cleaned = _NPM_INVALID.sub("-", name.lower()).strip("-._")
    return cleaned or "motiad-project"


def create_project(target: Path) -> list[Path]:
    """Write a new project into ``target`` (created if missing); return the files
    written, relative to ``target``. Refuses a ``target`` that exists and is not
    an empty folder, so nothing is ever overwritten."""
    if target.exists():
        if not target.is_dir():
            raise ScaffoldError(f"{target} exists and is not a folder")
        if any(target.iterdir()):
            raise ScaffoldError(f"{target} exists and is not empty; choose a new folder name")
    name = target.resolve().name
    values = {"__PROJECT_NAME__": name, "__PACKAGE_NAME__": package_name(name)}
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source, relative in _template_files(files("motiad") / "templates" / TEMPLATE, Path()):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        destination.write_text(text, encoding="utf-8")
        written.append(relative)
    return sorted(written)


def _template_files(folder: Traversable, relative: Path) -> list[tuple[Traversable, Path]]:
    found: list[tuple[Traversable, Path]] = []
    for entry in folder.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found += _template_files(entry, relative / entry.name)
        else:
            name = _RENAMED.get(entry.name, entry.name.removesuffix(".tmpl"))
            found.append((entry, relative / name))
    return found
