"""The golden vectors of ``protocol/vectors/`` against the broker's codec and
Structs, in both roles: as the receiver of what children send, and as what a
child built on the same codec would answer (SPEC §2, §5; vectors README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import anyio
import jsonschema
import msgspec
import pytest

from motiad.conformance.cases.vectors import line_of, load_vectors
from motiad.protocol import (
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    InvalidParams,
    decode_line,
    decode_params,
    encode_notification,
    encode_request,
)
from motiad.protocol.messages import METHODS, ErrorInfo
from motiad.transport import LineTooLong, read_lines

VECTORS = Path(__file__).resolve().parents[1] / "protocol" / "vectors"
SCHEMA = VECTORS.parent / "schema"
Role = Literal["broker", "child"]
Vector = dict[str, Any]


MAX_LINE, VALID = load_vectors("valid.json", VECTORS)
_, INVALID = load_vectors("invalid.json", VECTORS)
ALL = VALID + INVALID


def receivers(vector: Vector) -> list[Role]:
    """Who may receive the vector's line."""
    to = vector["to"]
    return ["broker", "child"] if to == "either" else [to]


async def _framed(line: bytes) -> list[bytes | LineTooLong]:
    send, receive = anyio.create_memory_object_stream[bytes](1)
    async with send:
        await send.send(line + b"\n")
    async with receive:
        return [item async for item in read_lines(receive, MAX_LINE)]  # type: ignore[arg-type]


def outcome(line: bytes, receiver: Role) -> dict[str, Any]:
    """What a receiver built on our transport, codec and Structs does with ``line``."""
    (framed,) = anyio.run(_framed, line)
    if isinstance(framed, LineTooLong):
        return {"outcome": "error", "code": -32005, "id": None}
    message = decode_line(framed)
    if isinstance(message, IncomingResponse):
        return {"outcome": "accept"}
    if not isinstance(message, IncomingRequest | IncomingNotification):
        if not message.reply:
            return {"outcome": "ignore"}
        return {"outcome": "error", "code": message.error.code, "id": message.id}
    spec = METHODS.get(message.method)
    towards = "child-to-broker" if receiver == "broker" else "broker-to-child"
    is_request = isinstance(message, IncomingRequest)
    if spec is None or spec.direction != towards or (spec.kind == "request") != is_request:
        if isinstance(message, IncomingRequest):
            return {"outcome": "error", "code": -32601, "id": message.id}
        return {"outcome": "ignore"}
    try:
        decode_params(message.params, spec.params)
    except InvalidParams as exc:
        if isinstance(message, IncomingRequest):
            error = exc.to_error()
            return {"outcome": "error", "code": error.code, "id": message.id, "dataPath": exc.path}
        return {"outcome": "ignore"}
    return {"outcome": "accept"}


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_the_broker_codec_gives_each_vector_its_expected_outcome(vector: Vector) -> None:
    """SPEC `framing.bad-line`, `rpc.error-order`, `rpc.bad-params`, `framing.max-line`."""
    for receiver in receivers(vector):
        assert outcome(line_of(vector), receiver) == vector["expect"], receiver


@pytest.mark.parametrize(
    "vector", [v for v in VALID if "answers" in v], ids=[v["name"] for v in VALID if "answers" in v]
)
def test_every_result_vector_fits_the_result_struct_of_its_method(vector: Vector) -> None:
    """SPEC §3: each method's result shape; a -32000 carries an ErrorInfo."""
    message = vector["message"]
    spec = METHODS[vector["answers"]]
    if "result" in message:
        msgspec.json.decode(json.dumps(message["result"]).encode(), type=spec.result)
    elif message["error"]["code"] == -32000:
        msgspec.json.decode(json.dumps(message["error"]["data"]).encode(), type=ErrorInfo)


REFUSED_RESULTS = [v for v in INVALID if "answers" in v]


@pytest.mark.parametrize("vector", REFUSED_RESULTS, ids=[v["name"] for v in REFUSED_RESULTS])
def test_a_refused_result_vector_fits_neither_the_struct_nor_the_schema(vector: Vector) -> None:
    """SPEC `invoke.result`: a well-formed response (`accept`) whose result the
    broker refuses: a numeric-string status, a null or nested header value."""
    spec = METHODS[vector["answers"]]
    result = vector["message"]["result"]
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps(result).encode(), type=spec.result)
    schema = json.loads((SCHEMA / f"{spec.name}.result.schema.json").read_text("utf-8"))
    assert not jsonschema.Draft202012Validator(schema).is_valid(result)


CANONICAL = [v for v in VALID if v.get("canonical")]


@pytest.mark.parametrize("vector", CANONICAL, ids=[v["name"] for v in CANONICAL])
def test_the_broker_sends_canonical_messages_exactly_as_the_vectors_show(vector: Vector) -> None:
    """What the broker writes is what the vectors document, field for field."""
    message = vector["message"]
    spec = METHODS[message["method"]]
    params = decode_params(msgspec.Raw(json.dumps(message["params"]).encode()), spec.params)
    if spec.kind == "request":
        line = encode_request(message["id"], spec.name, params)
    else:
        line = encode_notification(spec.name, params)
    assert json.loads(line) == message


def test_every_method_has_a_valid_vector_in_each_shape() -> None:
    """The vectors cover every method: its request or notification, and its result."""
    sent = {v["message"]["method"] for v in VALID if "method" in v.get("message", {})}
    answered = {v["answers"] for v in VALID if "answers" in v}
    assert sent == set(METHODS)
    assert answered == {name for name, spec in METHODS.items() if spec.kind == "request"}
