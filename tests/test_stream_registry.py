"""Stream definitions: configs checked with errors that name file and field, and
the item every ``stream.set`` stores (SPEC ``stream.validated``, ``stream.unknown``)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from motiad.errors import ConfigError, RemoteError
from motiad.protocol import ErrorCode
from motiad.streams import StreamRegistry, parse_stream_config

TODO = {
    "name": "todo",
    "schema": {
        "type": "object",
        "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
        "required": ["id", "title"],
    },
    "baseConfig": {"storageType": "default"},
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"schema": {}}, "config.name: missing (a stream config needs a name)"),
        ({"name": " "}, "config.name: must be a non-empty string"),
        ({"name": "a", "onConnect": True}, "config.onConnect: unknown field"),
        ({"name": "a", "schema": {"type": "nope"}}, "config.schema: not a valid JSON Schema"),
        (
            {"name": "a", "baseConfig": {"storageType": "custom"}},
            "config.baseConfig.storageType: only 'default' (the project's storage) is supported",
        ),
    ],
)
def test_a_bad_stream_config_names_the_file_and_the_field(raw: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stream_config(raw, "steps/x.stream.ts")
    assert str(caught.value).startswith(f"steps/x.stream.ts: {expected}")


def registry() -> StreamRegistry:
    streams = StreamRegistry()
    streams.add(parse_stream_config(TODO, "steps/todo.stream.ts"))
    return streams


def test_the_item_is_the_data_with_its_id_checked_against_the_schema() -> None:
    """SPEC `stream.validated`: a schema that requires `id` accepts data without one."""
    item = registry().item("todo", "t1", msgspec.Raw(b'{"title":"milk","id":"other"}'))
    assert msgspec.json.decode(item) == {"title": "milk", "id": "t1"}


def test_a_schema_without_id_checks_the_data_as_written_and_the_item_gets_its_id() -> None:
    """Issue 18 item 3: Motia's ``set`` checks nothing and stores ``{...data, id}``, so a
    stream schema that does not declare ``id`` (here one closed to unknown keys, as
    a zod ``.strict()`` object or a pydantic ``extra='forbid'`` model converts) must
    accept the data the user wrote."""
    streams = StreamRegistry()
    closed: dict[str, Any] = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "additionalProperties": False,
    }
    streams.add(parse_stream_config({"name": "chat", "schema": closed}, "steps/chat.stream.ts"))
    item = streams.item("chat", "m1", msgspec.Raw(b'{"text":"hi"}'))
    assert msgspec.json.decode(item) == {"text": "hi", "id": "m1"}
    with pytest.raises(RemoteError, match=r"data\.extra"):
        streams.item("chat", "m1", msgspec.Raw(b'{"text":"hi","extra":1}'))


def test_data_the_schema_refuses_is_invalid_params_naming_stream_file_and_field() -> None:
    with pytest.raises(RemoteError) as caught:
        registry().item("todo", "t1", msgspec.Raw(b'{"title":5}'))
    error = caught.value
    assert error.code == ErrorCode.INVALID_PARAMS
    assert "stream 'todo'" in error.message
    assert "steps/todo.stream.ts" in error.message
    data: Any = error.data
    assert data["path"] == "$.params.data.title"
    assert data["issues"][0]["path"] == "data.title"


def test_data_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(RemoteError) as caught:
        registry().item("todo", "t1", msgspec.Raw(b"[1]"))
    assert caught.value.data == {"path": "$.params.data"}


def test_an_unknown_stream_is_invalid_params_listing_the_declared_ones() -> None:
    """SPEC `stream.unknown`."""
    with pytest.raises(RemoteError) as caught:
        registry().get("todos")
    assert caught.value.code == ErrorCode.INVALID_PARAMS
    assert "unknown stream 'todos' (declared streams: todo)" in caught.value.message


def test_a_stream_name_declared_twice_is_the_second_files_error() -> None:
    streams = registry()
    with pytest.raises(ConfigError) as caught:
        streams.add(parse_stream_config({"name": "todo"}, "steps/again_stream.py"))
    assert str(caught.value).startswith("steps/again_stream.py: config.name:")
    assert "already declared by steps/todo.stream.ts" in str(caught.value)
    streams.remove_file("steps/todo.stream.ts")
    streams.add(parse_stream_config({"name": "todo"}, "steps/again_stream.py"))
