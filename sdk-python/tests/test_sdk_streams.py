"""Streams in the Python SDK: stream files loaded through ``initialize.streams``
and ``context.streams.<name>`` as ``stream.*`` requests (SPEC §4)."""

from __future__ import annotations

from sdk_harness import FIXTURES, event_trigger, spawn_child, step


def test_stream_files_load_with_their_schema_as_json_schema_one_entry_each() -> None:
    """SPEC `lifecycle.streams`: one entry per path, in order; a broken file is its own error."""
    files = [str(FIXTURES / "todo_stream.py"), str(FIXTURES / "broken_stream.py")]
    with spawn_child() as child:
        result = child.initialize([], streams=files)
    todo, broken = result["streams"]
    assert todo["path"] == files[0]
    assert todo["config"] == {
        "name": "todo",
        "schema": {
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
        },
        "baseConfig": {"storageType": "default"},
    }
    assert broken["path"] == files[1]
    assert "does not define `config`" in broken["error"]["message"]
    assert broken["error"]["retryable"] is False


def test_without_stream_files_the_result_has_no_streams() -> None:
    with spawn_child() as child:
        assert "streams" not in child.initialize([])


def test_context_streams_are_stream_requests_answered_in_a_sync_handler() -> None:
    """SPEC `stream.methods`: the params of every stream.* request; results reach the handler."""
    item = {"title": "milk", "id": "t1"}
    with spawn_child() as child:
        child.initialize([step("sync_stream_step")])
        request_id = child.invoke(
            step("sync_stream_step"), event_trigger("stream"), {"title": "milk"}
        )
        calls = child.answer_in_order(
            [
                ("stream.set", item),
                ("stream.get", item),
                ("stream.getGroup", [item]),
                ("stream.send", None),
                ("stream.delete", item),
            ]
        )
        assert child.result(request_id) is None
        log = child.notification("log")
    base = {"invocationId": calls[0]["invocationId"], "stream": "todo", "groupId": "inbox"}
    assert calls == [
        {**base, "id": "t1", "data": {"title": "milk"}},
        {**base, "id": "t1"},
        base,
        {**base, "type": "ping", "data": {"n": 1}, "id": "t1"},
        {**base, "id": "t1"},
    ]
    assert log["params"]["fields"] == {
        "stored": item,
        "got": item,
        "items": [item],
        "deleted": item,
    }
