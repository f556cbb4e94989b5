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


def test_a_missing_field_is_named_by_its_own_path() -> None:
    """SPEC `rpc.bad-params`: the path of a missing field is the field's."""
    with pytest.raises(InvalidParams) as caught:
        decode_params(msgspec.Raw(b"{}"), InvokeParams)
    assert "step" in caught.value.message
    assert caught.value.path == "$.params.step"
    with pytest.raises(InvalidParams) as nested:
        decode_params(msgspec.Raw(b'{"step":"s","trigger":{"type":"event"}}'), InvokeParams)
    assert nested.value.path == "$.params.trigger.topic"


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


def test_raw_json_with_newlines_between_tokens_still_makes_one_line() -> None:
    # a pretty-printed request body or event data is carried raw into invoke
    body = msgspec.json.decode(b'{\n  "text": "a\\nb"\n}', type=msgspec.Raw)
    line = encode_request(1, "invoke", {"input": body})
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
    message = decode_line(line[:-1])
    assert isinstance(message, IncomingRequest)
    assert msgspec.json.decode(message.params or b"{}") == {"input": {"text": "a\nb"}}


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


@pytest.mark.parametrize(
    "line",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"x","params":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"jsonrpc":"2.0","id":1,"result":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 100_000,
    ],
    ids=["deep-params", "deep-result", "unterminated"],
)
def test_json_nested_too_deep_is_a_parse_error_not_a_crash(line: bytes) -> None:
    """SPEC `framing.nesting`: this once raised RecursionError out of the reader."""
    message = decode_line(line)
    assert isinstance(message, Malformed)
    assert message.error.code == ErrorCode.PARSE_ERROR


def test_a_malformed_response_is_never_answered() -> None:
    """SPEC `rpc.no-reply-to-responses`: two peers answering errors would echo forever."""
    for line in (
        b'{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}}',
        b'{"jsonrpc":"2.0","id":1,"error":"oops"}',
        b'{"jsonrpc":"1.0","id":1,"result":1}',
        b'{"jsonrpc":"2.0","id":null,"result":1}',
    ):
        message = decode_line(line)
        assert isinstance(message, Malformed), line
        assert message.reply is False, line
    report = decode_line(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}')
    assert isinstance(report, IncomingResponse)
    assert report.id is None


def test_an_invalid_request_keeps_its_id_even_when_the_envelope_does_not_decode() -> None:
    """SPEC `framing.bad-line`: the id is echoed when one can be read."""
    message = decode_line(b'{"jsonrpc":"2.0","id":3,"method":5}')
    assert isinstance(message, Malformed)
    assert (message.id, message.error.code, message.reply) == (3, ErrorCode.INVALID_REQUEST, True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)


@given(
    st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=10)),
    st.sampled_from(["ping", "emit", "state.get", "no.such"]),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
def test_any_request_we_encode_decodes_to_the_same_id_method_and_params(
    msg_id: int | str, method: str, params: dict[str, object]
) -> None:
    message = decode_line(encode_request(msg_id, method, params).rstrip(b"\n"))
    assert isinstance(message, IncomingRequest)
    assert (message.id, message.method) == (msg_id, method)
    assert message.params is not None
    assert msgspec.json.decode(message.params) == params


@given(json_values, st.integers(0, 2**31))
def test_any_result_we_encode_is_a_response_to_its_id(result: object, msg_id: int) -> None:
    message = decode_line(encode_result(msg_id, result).rstrip(b"\n"))
    assert isinstance(message, IncomingResponse)
    assert message.id == msg_id
    assert message.result is not None
    assert msgspec.json.decode(message.result) == result
