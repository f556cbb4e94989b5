"""Framing and bad input: stdout stays protocol-only and no line kills the reader (SPEC §1)."""

from __future__ import annotations

import json

import pytest
from motiad_sdk.protocol import encode_message
from sdk_harness import event_trigger, spawn_child, step


def test_what_user_code_prints_goes_to_stderr_not_stdout() -> None:
    """SPEC `framing.stdout-owned`, `framing.channels`: at import and in a handler, via
    Python and via fd 1, user output goes to stderr; stdout carries protocol lines only."""
    with spawn_child() as child:
        child.initialize([step("noisy_step")])
        request_id = child.invoke(step("noisy_step"), event_trigger("noise"), {})
        assert child.result(request_id) is None
        for text in (
            "noisy: print at import",
            "noisy: print in handler",
            "noisy: sys.stdout.write",
            "noisy: os.write to fd 1",
        ):
            child.wait_stderr(text)
        child.close_stdin()
        assert child.wait_exit() == 0
        child.close()  # drain stdout to its end before judging it

    assert child.stdout_garbage == []
    assert child.unread() == []


@pytest.mark.parametrize(
    ("line", "code", "request_id"),
    [
        pytest.param(b"{not json\n", -32700, None, id="malformed-json"),
        pytest.param(b'{"jsonrpc":"2.0","id":1,"method":"ping"\xff}\n', -32700, 1, id="bad-utf8"),
        pytest.param(b'{"method":"ping"\xff,"id":1}\n', -32700, None, id="bad-utf8-no-head"),
        pytest.param(b"[1, 2]\n", -32600, None, id="array"),
        pytest.param(b"42\n", -32600, None, id="number"),
        pytest.param(b'{"jsonrpc":"1.0","id":7,"method":"ping"}\n', -32600, 7, id="wrong-jsonrpc"),
        pytest.param(b'{"jsonrpc":"2.0","id":"x","params":{}}\n', -32600, "x", id="no-method"),
        pytest.param(
            b'{"jsonrpc":"2.0","id":8,"method":"nope","params":{}}\n',
            -32601,
            8,
            id="unknown-method",
        ),
    ],
)
def test_a_bad_line_is_answered_and_the_child_keeps_serving(
    line: bytes, code: int, request_id: int | str | None
) -> None:
    """SPEC `framing.bad-line`, `rpc.unknown-method`, `rpc.undecodable` (bad UTF-8
    with a readable id is answered by that id)."""
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        child.send_raw(line)
        assert child.error(request_id)["code"] == code
        child.ping()


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"step": 5}, "$.params.step"),
        ({"step": "s", "trigger": {"type": "webhook"}}, "$.params.trigger.type"),
        (
            {
                "step": "s",
                "trigger": {"type": "cron"},
                "input": None,
                "traceId": "t",
                "invocationId": "i",
                "timeoutMs": "soon",
            },
            "$.params.timeoutMs",
        ),
    ],
)
def test_bad_params_are_answered_with_the_offending_field(
    params: dict[str, object], path: str
) -> None:
    """SPEC `rpc.bad-params`."""
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        error = child.error(child.request("invoke", params))
        assert error["code"] == -32602
        assert error["data"] == {"path": path}
        child.ping()


def _ping_line(request_id: int, size: int) -> bytes:
    """A ping request padded to exactly ``size`` bytes, newline excluded."""
    bare = {"jsonrpc": "2.0", "id": request_id, "method": "ping", "params": {}, "pad": ""}
    padding = size - len(json.dumps(bare, separators=(",", ":")))
    line = json.dumps({**bare, "pad": "x" * padding}, separators=(",", ":")).encode()
    assert len(line) == size
    return line + b"\n"


def test_a_line_over_the_limit_is_discarded_with_an_error_and_reading_goes_on() -> None:
    """SPEC `framing.max-line`, with the limit set by ``initialize``."""
    with spawn_child() as child:
        child.initialize([step("tick_step")], maxLineBytes=1024)

        child.send_raw(_ping_line(900, 5000))
        assert child.error(None)["code"] == -32005
        child.send_raw(_ping_line(901, 1025))
        assert child.error(None)["code"] == -32005
        child.send_raw(_ping_line(902, 1024))  # exactly at the limit: served
        assert child.result(902) == {}
        assert [m for m in child.unread() if m.get("id") in (900, 901)] == []


def test_a_response_to_no_request_in_flight_is_ignored() -> None:
    """SPEC `rpc.unknown-id`."""
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        child.send({"jsonrpc": "2.0", "id": 999, "result": {"eventId": "e"}})
        child.ping()
        assert child.unread() == []


def test_a_lone_surrogate_is_written_as_u_fffd() -> None:
    """SPEC `framing.utf8.replace`: half of an emoji (or ``os.fsdecode`` of bad bytes)
    goes out as U+FFFD, never as the escape ``\\ud83d`` the broker refuses."""
    line = encode_message({"text": "cut \ud83d", "\udcff": 1}, 1024)
    assert line == '{"text":"cut \ufffd","\ufffd":1}\n'.encode()
