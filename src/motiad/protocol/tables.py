"""The SDKs' protocol tables, generated from ``protocol/schema/index.json``.

The error codes, the method names, the protocol version and the limits are
written into each SDK's source as a checked-in file, so the SDKs stay free of
dependencies and build steps and none keeps a hand-written copy: the broker's
Structs generate ``protocol/schema/`` (:mod:`.schema`), and the schema
generates these. ``python -m motiad.protocol.tables [--check] [ROOT]`` writes
them under the repository ROOT (default: the current folder), or only
compares; a test fails when a checked-in file drifts.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGENERATE = "python -m motiad.protocol.tables"
"""The command that rewrites every SDK's table file from ``protocol/schema/``."""

INDEX = Path("protocol") / "schema" / "index.json"
"""Where the tables come from, relative to the repository root."""

_NAME = re.compile(r"^[A-Za-z$/.]+$")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


@dataclass(frozen=True, slots=True)
class Tables:
    """What every SDK needs to agree on with the broker, read off the index."""

    protocol_version: str
    error_codes: list[tuple[list[str], int]]
    """Each code's name as lower-case words (``["parse", "error"]``) and its value."""
    methods: list[tuple[list[str], str]]
    """Each method's name as words (``$/cancel`` → ``["cancel"]``) and its wire name."""
    limits: list[tuple[list[str], int]]
    """Each limit's name as words (``["default", "max", "line", "bytes"]``) and its value."""


def words(name: str) -> list[str]:
    """A name as lower-case words: ``state.getGroup`` → ``["state", "get", "group"]``."""
    return [word.lower() for word in _WORD.findall(name)]


def tables_of(index: Mapping[str, Any]) -> Tables:
    """The tables of a ``protocol/schema/index.json`` document."""
    methods = list(index["methods"])
    for method in methods:
        if not _NAME.match(method):  # every language below writes it in quotes unescaped
            raise ValueError(f"{INDEX}: method name {method!r} needs escaping")
    return Tables(
        protocol_version=str(index["protocolVersion"]),
        error_codes=[(words(name), int(code)) for code, name in index["errorCodes"].items()],
        methods=[(words(method), method) for method in methods],
        limits=[(words(name), int(value)) for name, value in index["limits"].items()],
    )


def _upper(parts: list[str]) -> str:
    return "_".join(parts).upper()


def _lower_camel(parts: list[str]) -> str:
    return parts[0] + "".join(part.capitalize() for part in parts[1:])


def _aligned(rows: list[tuple[str, str]], indent: str, separator: str) -> list[str]:
    """``name = value`` lines with the separators in one column (gofmt's layout)."""
    width = max(len(name) for name, _ in rows)
    return [f"{indent}{name.ljust(width)}{separator}{value}" for name, value in rows]


def _header(comment: str) -> str:
    return (
        f"{comment} The step protocol's tables: error codes, method names, version and limits.\n"
        f"{comment} Generated from protocol/schema/index.json by `{REGENERATE}`:\n"
        f"{comment} do not edit; regenerate after changing the broker's protocol module.\n"
    )


def render_python(tables: Tables) -> str:
    """``sdk-python/motiad_sdk/tables.py``."""
    lines = [
        '"""The step protocol\'s tables: error codes, method names, version and limits.',
        "",
        f"Generated from protocol/schema/index.json by ``{REGENERATE}``: do not",
        "edit; regenerate after changing the broker's protocol module.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import IntEnum",
        "from typing import Final",
        "",
        f'PROTOCOL_VERSION: Final = "{tables.protocol_version}"',
        *(f"{_upper(name)}: Final = {value}" for name, value in tables.limits),
        "",
        "",
        "class ErrorCode(IntEnum):",
        '    """Every error code of SPEC §5."""',
        "",
        *(f"    {_upper(name)} = {code}" for name, code in tables.error_codes),
        "",
        "",
        "class Method:",
        '    """The name of every method of SPEC §3."""',
        "",
        *(f'    {_upper(name)}: Final = "{method}"' for name, method in tables.methods),
    ]
    return "\n".join(lines) + "\n"


def render_node(tables: Tables) -> str:
    """``sdk-node/src/tables.mjs`` (typed by ``tsc --checkJs`` from its JSDoc)."""
    lines = [
        _header("//").rstrip("\n"),
        "",
        "/** The protocol version this SDK speaks (SPEC `lifecycle.version`). */",
        f"export const PROTOCOL_VERSION = '{tables.protocol_version}';",
        *(f"export const {_upper(name)} = {value};" for name, value in tables.limits),
        "",
        "/** Every error code of SPEC §5. */",
        "export const ErrorCode = Object.freeze({",
        *(f"  {_upper(name)}: {code}," for name, code in tables.error_codes),
        "});",
        "",
        "/** The name of every method of SPEC §3. */",
        "export const Method = Object.freeze({",
        *(f"  {_upper(name)}: '{method}'," for name, method in tables.methods),
        "});",
    ]
    return "\n".join(lines) + "\n"


def render_go(tables: Tables) -> str:
    """``sdk-go/motiad/tables.go``, laid out as gofmt would."""
    limits = [(_lower_camel(name), str(value)) for name, value in tables.limits]
    codes = [(_lower_camel(["code", *name]), str(code)) for name, code in tables.error_codes]
    methods = [(_lower_camel(["method", *name]), f'"{method}"') for name, method in tables.methods]
    lines = [
        # The line Go's tools recognise as generated (go help generate).
        f"// Code generated by `{REGENERATE}` from protocol/schema/index.json. DO NOT EDIT.",
        "",
        "package motiad",
        "",
        "// ProtocolVersion is the version of protocol/SPEC.md this SDK speaks.",
        f'const ProtocolVersion = "{tables.protocol_version}"',
        "",
        "// Limits of the protocol (SPEC §1 and lifecycle.shutdown).",
        "const (",
        *_aligned(limits, "\t", " = "),
        ")",
        "",
        "// Error codes of SPEC §5.",
        "const (",
        *_aligned(codes, "\t", " = "),
        ")",
        "",
        "// Method names of SPEC §3.",
        "const (",
        *_aligned(methods, "\t", " = "),
        ")",
    ]
    return "\n".join(lines) + "\n"


def render_ruby(tables: Tables) -> str:
    """``sdk-ruby/lib/motiad/tables.rb``."""
    lines = [
        "# frozen_string_literal: true",
        "",
        _header("#").rstrip("\n"),
        "",
        "module Motiad",
        "  # The protocol version this SDK speaks (SPEC `lifecycle.version`).",
        f"  PROTOCOL_VERSION = '{tables.protocol_version}'",
        *(f"  {_upper(name)} = {value}" for name, value in tables.limits),
        "",
        "  # Every error code of SPEC §5.",
        "  module ErrorCode",
        *(f"    {_upper(name)} = {code}" for name, code in tables.error_codes),
        "  end",
        "",
        "  # The name of every method of SPEC §3.",
        "  module Methods",
        *(f"    {_upper(name)} = '{method}'" for name, method in tables.methods),
        "  end",
        "end",
    ]
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, tuple[str, Callable[[Tables], str]]] = {
    "python": ("sdk-python/motiad_sdk/tables.py", render_python),
    "node": ("sdk-node/src/tables.mjs", render_node),
    "go": ("sdk-go/motiad/tables.go", render_go),
    "ruby": ("sdk-ruby/lib/motiad/tables.rb", render_ruby),
}
"""Each SDK's table file (relative to the repository root) and how it is written."""


def render(index: Mapping[str, Any]) -> dict[str, str]:
    """Every SDK's table file as text, by path relative to the repository root."""
    tables = tables_of(index)
    return {path: write(tables) for path, write in RENDERERS.values()}


def render_from(root: Path) -> dict[str, str]:
    """:func:`render` of the checked-in ``protocol/schema/index.json`` under ``root``."""
    index = json.loads((root / INDEX).read_text(encoding="utf-8"))
    return render(index)


def drifted(root: Path) -> list[str]:
    """The table files under ``root`` that differ from what :func:`render_from` writes."""
    return sorted(
        path
        for path, text in render_from(root).items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    )


def main(argv: list[str]) -> int:
    """``python -m motiad.protocol.tables [--check] [ROOT]``: write (or compare) the files."""
    check = "--check" in argv
    roots = [arg for arg in argv if arg != "--check"]
    if len(roots) > 1:
        sys.stderr.write("usage: python -m motiad.protocol.tables [--check] [ROOT]\n")
        return 2
    root = Path(roots[0] if roots else ".")
    stale = drifted(root)
    if check:
        for path in stale:
            sys.stderr.write(f"{root / path}: out of date (run `{REGENERATE}`)\n")
        return 1 if stale else 0
    wanted = render_from(root)
    for path in stale:
        (root / path).write_text(wanted[path], encoding="utf-8")
    sys.stderr.write(f"{len(stale)} of {len(wanted)} table files written\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
