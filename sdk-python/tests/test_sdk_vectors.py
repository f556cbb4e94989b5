"""The golden vectors of ``protocol/vectors/`` against the real child (SPEC §10).

Lines addressed to the child (or to either side) are written to a running
``python -m motiad_sdk``; each must get the outcome its vector names. Lines
addressed to the broker must at least be read as well-formed messages.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from motiad_sdk.rpc import Notification, Request, Response, classify
from sdk_harness import SDK_ROOT, Child, spawn_child

VECTORS = SDK_ROOT.parent / "protocol" / "vectors"
PROTOCOL_ERRORS = {-32700, -32600, -32601, -32602, -32005}
"""Codes that mean a line was refused as a message; an accepted request never gets one."""

Vector = dict[str, Any]


def _load(name: str) -> tuple[int, list[Vector]]:
    document = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return document["maxLineBytes"], document["vectors"]


MAX_LINE, _VALID = _load("valid.json")
_, _INVALID = _load("invalid.json")
ALL = _VALID + _INVALID
FOR_CHILD = [v for v in ALL if v["to"] in ("child", "either")]
FOR_BROKER = [v for v in ALL if v["to"] == "broker"]
_barriers = itertools.count()


def line_of(vector: Vector) -> bytes:
    """The vector's line without its newline (protocol/vectors/README.md)."""
    if "message" in vector:
        return json.dumps(vector["message"], separators=(",", ":"), ensure_ascii=False).encode()
    if "text" in vector:
        return str(vector["text"]).encode()
    if "base64" in vector:
        return base64.b64decode(vector["base64"])
    pattern = vector["pattern"]
    prefix, suffix = str(pattern["prefix"]).encode(), str(pattern["suffix"]).encode()
    return (
        prefix
        + str(pattern["fill"]).encode() * (int(pattern["bytes"]) - len(prefix) - len(suffix))
        + suffix
    )


def _parsed(vector: Vector) -> Any:
    """The vector's line as JSON, or ``None`` when it is not JSON."""
    try:
        return json.loads(line_of(vector))
    except ValueError:
        return None


def _method(vector: Vector) -> str | None:
    message = vector.get("message")
    return message.get("method") if isinstance(message, dict) else None


def _needs_fresh_child(vector: Vector) -> bool:
    """``initialize`` must meet a child that was not initialized; ``shutdown`` ends one."""
    return _method(vector) in ("initialize", "shutdown")


@pytest.fixture(scope="module")
def ready_child() -> Iterator[Child]:
    """One child initialized with the vectors' line limit, shared by the vectors."""
    with spawn_child() as child:
        child.initialize([], maxLineBytes=MAX_LINE)
        yield child


def check(child: Child, vector: Vector) -> None:
    """Send the vector's line and check the child's answer against ``expect``."""
    expect = vector["expect"]
    child.send_raw(line_of(vector) + b"\n")
    if expect["outcome"] == "error":
        error = child.error(expect["id"])
        assert error["code"] == expect["code"], error
        if "dataPath" in expect:
            assert error["data"]["path"] == expect["dataPath"], error
    else:
        message = _parsed(vector)
        if isinstance(message, dict) and "method" in message and "id" in message:
            answer = child.response(message["id"])
            assert answer.get("error", {}).get("code") not in PROTOCOL_ERRORS, answer
    # A barrier: lines are read in order, so anything more this line caused
    # would come before the barrier's answer.
    barrier = f"barrier-{next(_barriers)}"
    child.send({"jsonrpc": "2.0", "id": barrier, "method": "ping", "params": {}})
    assert child.result(barrier) == {}  # type: ignore[arg-type]
    assert child.unread() == [], f"unexpected messages after {vector['name']}"


@pytest.mark.parametrize(
    "vector",
    [v for v in FOR_CHILD if not _needs_fresh_child(v)],
    ids=[v["name"] for v in FOR_CHILD if not _needs_fresh_child(v)],
)
def test_a_ready_child_gives_each_vector_its_outcome(ready_child: Child, vector: Vector) -> None:
    """SPEC `framing.bad-line`, `framing.utf8`, `framing.blank-line`, `framing.max-line`,
    `rpc.error-order`, `rpc.params`, `rpc.bad-params`, `rpc.no-reply-to-responses`."""
    check(ready_child, vector)


@pytest.mark.parametrize(
    "vector",
    [v for v in FOR_CHILD if _needs_fresh_child(v)],
    ids=[v["name"] for v in FOR_CHILD if _needs_fresh_child(v)],
)
def test_initialize_and_shutdown_vectors_on_a_fresh_child(vector: Vector) -> None:
    """SPEC `lifecycle.initialize`, `lifecycle.version`, `lifecycle.shutdown`."""
    with spawn_child() as child:
        if _method(vector) == "shutdown":
            child.initialize([])
            child.send_raw(line_of(vector) + b"\n")
            assert child.result(vector["message"]["id"]) is None
            assert child.wait_exit() == 0
        else:
            check(child, vector)


@pytest.mark.parametrize("vector", FOR_BROKER, ids=[v["name"] for v in FOR_BROKER])
def test_lines_for_the_broker_read_as_well_formed_messages(vector: Vector) -> None:
    """What a child sends must be a message any receiver can classify."""
    assert isinstance(classify(line_of(vector)), Request | Notification | Response)
