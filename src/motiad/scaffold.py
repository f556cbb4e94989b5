"""``motiad create NAME``: a new project from a template shipped in
``motiad/templates/`` (package data, read with importlib.resources).

Template files are copied as they are, except that the ``__PLACEHOLDERS__``
below are filled in, ``gitignore`` becomes ``.gitignore`` and a ``.tmpl``
suffix is dropped (it keeps the templates' Python steps out of this package's
own linting and type checks, and a dot-file out of packaging rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from .errors import MotiadError

TEMPLATES: Final = {
    "starter": "the tutorial flow: an API step, event steps in TypeScript and Python,"
    " state, a stream and a cron, with the workbench's Tutorial",
    "minimal": "three small steps: an API step and two event steps",
}
"""The templates ``motiad create`` offers, the first the default, with what each holds."""
DEFAULT_TEMPLATE: Final = next(iter(TEMPLATES))
TUTORIAL_FLOW: Final = "tutorial"
"""The flow of the starter template that the workbench's Tutorial walks through."""


@dataclass(frozen=True, slots=True)
class PackageManager:
    """How a project's Node packages are installed and its dev server started."""

    install: tuple[str, ...]
    dev: str
    """The command the project's README gives to start ``motiad dev`` (its
    package.json script)."""


PACKAGE_MANAGERS: Final = {
    "npm": PackageManager(("npm", "install"), "npm run dev"),
    "pnpm": PackageManager(("pnpm", "install"), "pnpm dev"),
    "yarn": PackageManager(("yarn", "install"), "yarn dev"),
    "bun": PackageManager(("bun", "install"), "bun dev"),
}
"""The package managers ``motiad create`` offers, as Motia's ``create`` does; npm first."""

_RENAMED: Final = {"gitignore": ".gitignore"}
_NPM_INVALID = re.compile(r"[^a-z0-9._~-]+")


class ScaffoldError(MotiadError):
    """The project cannot be created where asked."""


def package_name(name: str) -> str:
    """An npm package name for a folder name: lower-case, URL-safe."""
    cleaned = _NPM_INVALID.sub("-", name.lower()).strip("-._")
    return cleaned or "motiad-project"


def create_project(
    target: Path, *, template: str = DEFAULT_TEMPLATE, package_manager: str = "npm"
) -> list[Path]:
    """Write a new project into ``target`` (created if missing); return the files
    written, relative to ``target``. Refuses a ``target`` that exists and is not
    an empty folder, so nothing is ever overwritten."""
    if template not in TEMPLATES:
        raise ScaffoldError(f"no template {template!r}; choose one of {', '.join(TEMPLATES)}")
    manager = PACKAGE_MANAGERS.get(package_manager)
    if manager is None:
        raise ScaffoldError(
            f"no package manager {package_manager!r}; choose one of {', '.join(PACKAGE_MANAGERS)}"
        )
    if target.exists():
        if not target.is_dir():
            raise ScaffoldError(f"{target} exists and is not a folder")
        if any(target.iterdir()):
            raise ScaffoldError(f"{target} exists and is not empty; choose a new folder name")
    name = target.resolve().name
    values = {
        "__PROJECT_NAME__": name,
        "__PACKAGE_NAME__": package_name(name),
        "__DEV_COMMAND__": manager.dev,
        "__INSTALL_COMMAND__": " ".join(manager.install),
    }
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source, relative in _template_files(files("motiad") / "templates" / template, Path()):
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
