"""JSON Schema documents of the step protocol, generated from the Structs.

:func:`schema_documents` is pure: it returns every document of
``protocol/schema/`` by file name. ``python -m motiad.protocol.schema DIR``
writes them (and removes stale ones); ``--check`` only compares. A test fails
when the checked-in files drift from what the Structs generate (ARCHITECTURE §11.1).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from .codes import ErrorCode
from .messages import (
    DEFAULT_MAX_LINE_BYTES,
    MAX_ERROR_MESSAGE_CHARS,
    METHODS,
    PROTOCOL_VERSION,
    SHUTDOWN_GRACE_MS,
    ErrorInfo,
    ErrorResponse,
    InvalidParamsData,
    Notification,
    Request,
    Response,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "python -m motiad.protocol.schema protocol/schema"
"""The command that rewrites ``protocol/schema/`` from the Structs."""

_REF_PREFIX = "#/$defs/"


def method_file(method: str) -> str:
    """The file-name stem of a method: ``$/cancel`` → ``cancel``."""
    return method.removeprefix("$/")


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema document of protocol version ``PROTOCOL_VERSION``, by file name."""
    roots: dict[str, tuple[str, str, Any]] = {
        "envelope.schema.json": (
            "Any message",
            "One line of the protocol: a request, a notification, a result or an error"
            " response (SPEC §2).",
            (Request, Notification, Response, ErrorResponse),
        ),
        "error-info.schema.json": (
            "ErrorInfo",
            "The data of a -32000 handler failure, and a step file's load error (SPEC §6).",
            ErrorInfo,
        ),
        "invalid-params-data.schema.json": (
            "Invalid params data",
            "The data of a -32602 error: the JSON path of the offending field (SPEC §5).",
            InvalidParamsData,
        ),
    }
    for spec in METHODS.values():
        arrow = "broker → child" if spec.direction == "broker-to-child" else "child → broker"
        stem = method_file(spec.name)
        roots[f"{stem}.params.schema.json"] = (
            f"{spec.name} params",
            f"The params of {spec.name} ({arrow} {spec.kind}).",
            spec.params,
        )
        if spec.kind == "request":
            roots[f"{stem}.result.schema.json"] = (
                f"{spec.name} result",
                f"The result of {spec.name} ({arrow} {spec.kind}).",
                spec.result,
            )
    # One call for every type, so a Struct has the same component name everywhere.
    # A tuple stands for "any of these": msgspec refuses a union of Structs that
    # share a tag (the envelope's four kinds all have "jsonrpc": "2.0").
    names = list(roots)
    flat: list[Any] = []
    for name in names:
        kind = roots[name][2]
        flat.extend(kind if isinstance(kind, tuple) else (kind,))
    schemas, components = msgspec.json.schema_components(flat, ref_template=_REF_PREFIX + "{name}")
    documents: dict[str, dict[str, Any]] = {}
    position = 0
    for name in names:
        title, description, kind = roots[name]
        count = len(kind) if isinstance(kind, tuple) else 1
        parts = list(schemas[position : position + count])
        position += count
        root = {"anyOf": parts} if isinstance(kind, tuple) else parts[0]
        document: dict[str, Any] = {
            "$schema": DIALECT,
            "title": f"{title} (motiad step protocol {PROTOCOL_VERSION})",
            "description": description,
            **root,
        }
        defs = _referenced(root, components)
        if defs:
            document["$defs"] = defs
        documents[name] = document
    documents["index.json"] = _index()
    return {name: _tidy(document) for name, document in documents.items()}


def _tidy(node: Any) -> Any:
    """Descriptions come from docstrings: dedent them and keep single backticks."""
    if isinstance(node, dict):
        return {
            key: (
                inspect.cleandoc(value).replace("``", "`")
                if key == "description" and isinstance(value, str)
                else _tidy(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def _index() -> dict[str, Any]:
    """What an SDK author looks up first: methods, their files, the error codes and
    the limits; the SDKs' tables are generated from it (:mod:`.tables`)."""
    methods: dict[str, Any] = {}
    for spec in METHODS.values():
        stem = method_file(spec.name)
        entry: dict[str, Any] = {
            "direction": spec.direction,
            "kind": spec.kind,
            "params": f"{stem}.params.schema.json",
        }
        if spec.kind == "request":
            entry["result"] = f"{stem}.result.schema.json"
        methods[spec.name] = entry
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "generatedBy": REGENERATE,
        "envelope": "envelope.schema.json",
        "methods": methods,
        "errorCodes": {str(int(code)): code.name for code in ErrorCode},
        "limits": {
            "defaultMaxLineBytes": DEFAULT_MAX_LINE_BYTES,
            "maxErrorMessageChars": MAX_ERROR_MESSAGE_CHARS,
            "shutdownGraceMs": SHUTDOWN_GRACE_MS,
        },
    }


def _referenced(root: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The components ``root`` refers to, directly or through other components."""
    found: dict[str, Any] = {}
    todo = [root]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
                name = ref.removeprefix(_REF_PREFIX)
                if name not in found:
                    found[name] = components[name]
                    todo.append(components[name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return {name: found[name] for name in sorted(found)}


def render() -> dict[str, str]:
    """Every document as the text written to disk (2-space JSON, final newline)."""
    return {
        name: json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        for name, document in sorted(schema_documents().items())
    }


def main(argv: list[str]) -> int:
    """``python -m motiad.protocol.schema [--check] DIR``: write (or compare) the documents."""
    check = "--check" in argv
    folders = [arg for arg in argv if arg != "--check"]
    if len(folders) != 1:
        sys.stderr.write("usage: python -m motiad.protocol.schema [--check] DIR\n")
        return 2
    folder = Path(folders[0])
    wanted = render()
    present = {path.name: path for path in folder.glob("*.json")} if folder.is_dir() else {}
    stale = sorted(set(present) - set(wanted))
    changed = sorted(
        name
        for name, text in wanted.items()
        if name not in present or present[name].read_text(encoding="utf-8") != text
    )
    if check:
        for name in changed + stale:
            sys.stderr.write(f"{folder / name}: out of date\n")
        return 1 if changed or stale else 0
    folder.mkdir(parents=True, exist_ok=True)
    for name in changed:
        (folder / name).write_text(wanted[name], encoding="utf-8")
    for name in stale:
        present[name].unlink()
    sys.stderr.write(f"{folder}: {len(changed)} written, {len(stale)} removed\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
