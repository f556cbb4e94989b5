"""Streamed HTTP in the Python SDK: the request body read with ``http.read``
(SPEC ``http.body-stream``) and the response written with ``http.write``
(``http.stream``), from a plain ``def`` handler whose calls block."""

from __future__ import annotations

import base64

from sdk_harness import Child, spawn_child, step

STREAMED: dict[str, object] = {
    "method": "POST",
    "path": "/sync-body",
    "body": None,
    "bodyStream": True,
    "headers": {},
    "pathParams": {},
    "queryParams": {},
}


def read_answer(chunk: bytes, done: bool = False) -> dict[str, object]:
    return {"chunk": base64.b64encode(chunk).decode(), "done": done}


def next_write(child: Child) -> tuple[dict[str, object], bytes]:
    write = child.child_request("http.write")
    child.reply(write, None)
    params = write["params"]
    return params, base64.b64decode(params["chunk"])


def test_a_body_is_read_one_piece_per_http_read_and_each_read_waits_for_its_answer() -> None:
    with spawn_child() as child:
        child.initialize([step("sync_body_stream_step")])
        request_id = child.invoke(step("sync_body_stream_step"), {"type": "api"}, STREAMED)
        first_read = child.child_request("http.read")
        assert first_read["params"] == {"invocationId": "i-1"}
        child.ping()  # the handler waits for the answer: no second read meanwhile
        assert not [m for m in child.unread() if m.get("method") == "http.read"]
        child.reply(first_read, read_answer(b"abc"))
        head, chunk = next_write(child)
        assert (head["status"], head["headers"], chunk) == (202, {"x-kind": "sizes"}, b"3\n")
        child.reply(child.child_request("http.read"), read_answer(b"x" * 5000))
        params, chunk = next_write(child)
        assert "status" not in params
        assert chunk == b"5000\n"
        child.reply(child.child_request("http.read"), read_answer(b"", done=True))
        assert child.result(request_id) == {"status": 200, "body": {"total": 5003}}


def test_a_body_cut_short_raises_in_the_handler_with_the_brokers_reason() -> None:
    with spawn_child() as child:
        child.initialize([step("sync_body_stream_step")])
        request_id = child.invoke(step("sync_body_stream_step"), {"type": "api"}, STREAMED)
        child.reply(child.child_request("http.read"), read_answer(b"ab"))
        next_write(child)
        cut = {"chunk": "", "done": True, "error": "the client closed the connection"}
        child.reply(child.child_request("http.read"), cut)
        _, chunk = next_write(child)
        assert chunk == b"cut: BodyStreamError: the client closed the connection\n"
        assert child.result(request_id) == {"status": 200, "body": {"total": 2}}
