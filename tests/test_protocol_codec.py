"""The codec turns any line into a message or a precise error (SPEC §1, §2)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from motiad.protocol import (
    ErrorCode,
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    InvalidParams,
    Malformed,
    decode_line,
    decode_params,
    encode_request,
    encode_result,
)
from motiad.protocol.messages import EventTrigger, InvokeParams


def test_a_request_keeps_its_params_raw_until_the_method_is_known() -> None:
    message = decode_line(b'{"jsonrpc":"2.0","id":7,"method":"nope","params":{"x":1}}')
    assert isinstance(message, IncomingRequest)
    assert (message.id, message.method) == (7, "nope")


def test_notifications_and_responses_are_told_apart() -> None:
    assert isinstance(decode_line(b'{"jsonrpc":"2.0","method":"log"}'), IncomingNotification)
    response = decode_line(b'{"jsonrpc":"2.0","id":"a","result":null}')
    assert isinstance(response, IncomingResponse)
    assert response.error is None
    error = decode_line(b'{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"x"}}')
    assert isinstance(error, IncomingResponse)
    assert error.error is not None
    assert error.error.code == -32000


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{not json", ErrorCode.PARSE_ERROR),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":"\xff"}}', ErrorCode.PARSE_ERROR),
        (b"[1,2]", ErrorCode.INVALID_REQUEST),
        (b"42", ErrorCode.INVALID_REQUEST),
        (b'{"jsonrpc":"1.0","id":1,"method":"x"}', ErrorCode.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', ErrorCode.INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}}', -32600),
    ],
)
def test_malformed_lines_become_values_with_the_error_they_deserve(line: bytes, code: int) -> None:
    message = decode_line(line)
    assert isinstance(message, Malformed)
    assert message.error.code == code


def test_invalid_request_keeps_the_id_when_it_can_be_read() -> None:
    message = decode_line(b'{"jsonrpc":"1.0","id":9,"method":"x"}')
    assert isinstance(message, Malformed)
    assert message.id == 9


def test_bad_params_name_the_offending_path() -> None:
    raw = msgspec.Raw(b'{"step":"s","trigger":{"type":"event","topic":3}}')
    with pytest.raises(InvalidParams) as caught:
        decode_params(raw, InvokeParams)
    assert caught.value.path == "$.params.trigger.topic"
    assert caught.value.to_error().data == {"path": "$.params.trigger.topic"}


def test_missing_params_name_the_field() -> None:
    with pytest.raises(InvalidParams) as caught:
        decode_params(msgspec.Raw(b"{}"), InvokeParams)
    assert "step" in caught.value.message
    assert caught.value.path == "$.params"


def test_encoded_messages_use_camel_case_and_one_line() -> None:
    line = encode_request(
        1, "invoke", InvokeParams("s", EventTrigger("t", "e"), None, "tr", "i", 1, 100)
    )
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert b'"traceId":"tr"' in line
    assert b'"eventId":"e"' in line
    assert (
        encode_result(1, msgspec.Raw(b'{"a":1}')) == b'{"jsonrpc":"2.0","id":1,"result":{"a":1}}\n'
    )


@given(st.binary(max_size=300))
def test_any_bytes_give_a_message_or_a_malformed_value_never_an_exception(line: bytes) -> None:
    decode_line(line)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_any_json_value_is_classified(value: object) -> None:
    decode_line(msgspec.json.encode(value))
