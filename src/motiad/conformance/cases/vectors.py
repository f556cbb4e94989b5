"""Framing and rpc cases generated from ``protocol/vectors`` (one source of truth).

A vector with a ``conformance`` member (``{"case": title, "profile": "core" |
"full"}``) is sent to the child under test and its ``expect`` checked there:
adding such a vector adds a case. Vectors that name the same case title are one
case, sent in file order. A case whose vectors include a ``pattern`` line (sized
against the vectors' ``maxLineBytes``) runs on a fresh child initialized with
that limit; the others share the checker's initialized child.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...runners import sdk_dir
from ..checker import PROFILES, Case, Checker, expect
from ..session import Session

Vector = dict[str, Any]
VECTOR_FILES = ("invalid.json", "valid.json")
"""Cases come in this order: refusals first, as a child's reader meets them."""
PROTOCOL_ERRORS = frozenset({-32700, -32600, -32601, -32602, -32005})
"""The codes an ``accept`` vector must not be answered with (vectors README)."""


def protocol_dir() -> Path:
    """``protocol/`` of this installation (bundled in the wheel, or in the checkout)."""
    try:
        return sdk_dir("protocol")
    except ConfigError:
        raise ConfigError(
            "protocol", "the protocol folder is missing from this motiad installation"
        ) from None


def load_vectors(name: str, folder: Path | None = None) -> tuple[int, list[Vector]]:
    """The line limit and the vectors of ``protocol/vectors/<name>``."""
    path = (folder or protocol_dir() / "vectors") / name
    document = json.loads(path.read_text(encoding="utf-8"))
    return int(document["maxLineBytes"]), list(document["vectors"])


def line_of(vector: Vector) -> bytes:
    """The bytes of the vector's line, without the newline (vectors README)."""
    if "message" in vector:
        return json.dumps(vector["message"], separators=(",", ":"), ensure_ascii=False).encode()
    if "text" in vector:
        return str(vector["text"]).encode()
    if "base64" in vector:
        return base64.b64decode(vector["base64"])
    pattern = vector["pattern"]
    prefix, suffix = str(pattern["prefix"]).encode(), str(pattern["suffix"]).encode()
    fill = str(pattern["fill"]).encode() * (int(pattern["bytes"]) - len(prefix) - len(suffix))
    return prefix + fill + suffix


def vector_cases(folder: Path | None = None) -> list[Case]:
    """One case per case title among the vectors marked for the checker."""
    groups: dict[str, list[Vector]] = {}
    limit = 0
    for name in VECTOR_FILES:
        limit, vectors = load_vectors(name, folder)
        for vector in vectors:
            if "conformance" in vector:
                groups.setdefault(str(vector["conformance"]["case"]), []).append(vector)
    cases = []
    for title, group in groups.items():
        first = group[0]
        profile = first["conformance"]["profile"]
        if profile not in PROFILES or first["to"] == "broker":
            raise ConfigError(
                f"protocol/vectors ({first['name']})",
                "a conformance vector goes to the child and has a profile, core or full",
            )
        runner = partial(_run, group, limit if any("pattern" in v for v in group) else None)
        cases.append(Case(first["requirements"][0], title, profile, runner))
    return cases


async def _run(vectors: list[Vector], limit: int | None, checker: Checker) -> str:
    session = await checker.ready()
    if limit is None:
        await _exchange(session, vectors)
        return ""
    async with checker.fresh(limit) as fresh:
        await checker.initialize(fresh, [], maxLineBytes=limit)
        await _exchange(fresh, vectors)
    return ""


async def _exchange(session: Session, vectors: list[Vector]) -> None:
    """Send each vector's line and check its outcome; then nothing else came back."""
    for vector in vectors:
        await session.send_raw(line_of(vector) + b"\n")
        outcome = vector["expect"]
        what = f"the answer to the line of vector {vector['name']}"
        if outcome["outcome"] == "error":
            error = await session.error(outcome["id"], outcome["code"], what)
            if "dataPath" in outcome:
                path = (error.get("data") or {}).get("path")
                expect(
                    path == outcome["dataPath"],
                    f"{what}: data.path is {path!r}, expected {outcome['dataPath']!r}",
                )
        elif outcome["outcome"] == "accept":
            for request_id in _request_id(vector):
                answer = await session.response(request_id, what)
                code = (answer.get("error") or {}).get("code")
                expect(code not in PROTOCOL_ERRORS, f"{what}: refused with {code}")
    names = ", ".join(vector["name"] for vector in vectors)
    await session.quiet(f"the line(s) of vector {names}")


def _request_id(vector: Vector) -> Iterator[Any]:
    """The id of the vector's line when it is a request (its answer is awaited)."""
    try:
        message = json.loads(line_of(vector))
    except ValueError:
        return
    if isinstance(message, dict) and "method" in message and "id" in message:
        yield message["id"]
