"""The error codes of SPEC §5: one table in the spec, the broker and the SDKs
(generated, see test_protocol_tables.py), and what the broker makes of each failure."""

from __future__ import annotations

import re
import weakref
from pathlib import Path
from typing import cast

import pytest
from motiad_sdk.tables import ErrorCode as PythonSdkCode

from motiad.broker import Broker
from motiad.config import Settings
from motiad.errors import RemoteError
from motiad.invocations import FINISHED_INVOCATIONS_KEPT, Invocations
from motiad.protocol import ErrorCode
from motiad.protocol.messages import EmitParams, ErrorInfo
from motiad.response_stream import ResponseSink
from motiad.steps import Step
from motiad.storage import Store
from motiad.supervisor import handler_error
from motiad.tracing import LogBus

REPO = Path(__file__).resolve().parents[1]


def spec_codes() -> dict[int, str]:
    """The codes of the SPEC §5 table, with their names."""
    text = (REPO / "protocol" / "SPEC.md").read_text("utf-8")
    section = text.split("## 5. Errors", 1)[1].split("## 6.", 1)[0]
    return {
        int(code): name for code, name in re.findall(r"^\| (-\d+) \| ([a-z ]+) \|", section, re.M)
    }


def test_the_spec_the_broker_and_the_sdks_share_one_code_table() -> None:
    """SPEC `errors.codes`: the SDKs' tables are generated from the broker's (their
    drift test is in test_protocol_tables.py); the Python SDK's stands for them here."""
    codes = spec_codes()
    assert len(codes) == 13
    broker = {int(code): code.name for code in ErrorCode}
    assert set(broker) == set(codes)
    for code, name in broker.items():
        assert name.lower().replace("_", " ").startswith(codes[code].split()[0]), (code, name)
    assert {code.name: int(code) for code in PythonSdkCode} == {v: k for k, v in broker.items()}


@pytest.mark.parametrize(
    ("code", "data", "retryable"),
    [
        (-32000, {"type": "ValueError", "message": "m", "stack": "", "retryable": True}, True),
        (
            -32000,
            {"type": "NonRetryableError", "message": "m", "stack": "", "retryable": False},
            False,
        ),
        (-32000, "not an ErrorInfo", True),
        (-32001, None, True),
        (-32002, None, True),
        (-32003, None, True),
        (-32007, None, True),
        (-32603, None, True),
        (-32601, None, False),
        (-32602, {"path": "$.params.step"}, False),
        (-32005, None, False),
    ],
)
def test_the_broker_retries_an_invocation_unless_the_failure_would_repeat(
    code: int, data: object, retryable: bool
) -> None:
    """SPEC `errors.retryable`: the last column of the §5 table, and `data.retryable`."""
    info = handler_error(RemoteError(code, "failed", data))
    assert isinstance(info, ErrorInfo)
    assert info.retryable is retryable


@pytest.mark.anyio
async def test_a_service_request_for_an_unknown_invocation_gets_32006(tmp_path: Path) -> None:
    """SPEC `services.invocation`: the broker's emit handler, as a child's request reaches it."""
    # No storage is reached: the invocation check comes first (hence the stand-in store).
    broker = Broker(tmp_path, Settings(), cast(Store, object()), LogBus())
    with pytest.raises(RemoteError) as refused:
        broker.services.emit(EmitParams("no-such-invocation", "t"))
    assert refused.value.code == -32006


def test_a_finished_invocation_stays_known_until_4096_later_ones_finished() -> None:
    """SPEC `services.invocation`: a call a finished (or cancelled, timed-out)
    handler still makes reaches its trace until 4096 later invocations of the
    broker have finished; then it gets -32006. The number is the spec's."""
    spec = (REPO / "protocol" / "SPEC.md").read_text("utf-8")
    assert f"until {FINISHED_INVOCATIONS_KEPT} later invocations" in spec
    invocations = Invocations()  # the table the dispatch fills and the services read

    def run_and_finish(invocation_id: str) -> None:
        invocations.start(invocation_id, cast(Step, object()), "trace-1")
        invocations.finish(invocation_id)

    run_and_finish("first")
    for n in range(FINISHED_INVOCATIONS_KEPT - 1):
        run_and_finish(f"later-{n}")
    assert invocations.get("first").trace_id == "trace-1"
    run_and_finish("the 4096th later one")
    with pytest.raises(RemoteError) as forgotten:
        invocations.get("first")
    assert forgotten.value.code == -32006


def test_a_remembered_invocation_lets_go_of_its_request() -> None:
    """While it is remembered (above), a finished invocation holds nothing of its
    request: the response sink holds the server's whole connection state, and
    4096 of those kept alive made the collector's full passes walk them all
    (gen2 pauses of 35-95 ms every few seconds under load, the p99 of /ping)."""

    class Sink:
        started = False

    invocations = Invocations()
    sink = Sink()
    request_gone = weakref.ref(sink)
    invocations.start("one", cast(Step, object()), "trace-1", cast(ResponseSink, sink))
    del sink
    invocations.finish("one")
    assert request_gone() is None
    assert invocations.get("one").trace_id == "trace-1"  # a late call still finds its trace
