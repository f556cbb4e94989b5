"""The workbench's live hub on its own: fan-out to each browser, a browser
that falls behind is cut off without slowing the others, and the hub follows
the broker only while someone listens."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from motiad.broker import Broker
from motiad.config import Settings
from motiad.http.workbench import LiveHub
from motiad.storage import SqliteStore
from motiad.tracing import LogBus

pytestmark = pytest.mark.anyio


def hub(tmp_path: Path) -> tuple[LiveHub, LogBus]:
    logs = LogBus()
    # a real store, never opened: the hub only registers for its stream changes
    broker = Broker(tmp_path, Settings(), SqliteStore(tmp_path / "db"), logs)
    return LiveHub(broker), logs


async def test_a_browser_that_falls_behind_is_cut_off_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    live, logs = hub(tmp_path)
    slow_send, slow = anyio.create_memory_object_stream[bytes](2)
    fast_send, fast = anyio.create_memory_object_stream[bytes](10)
    with slow_send, slow, fast_send, fast:
        live.attach(slow_send)
        live.attach(fast_send)
        for n in range(3):
            logs.log("info", f"record {n}")
        received = [fast.receive_nowait() for _ in range(3)]
        assert [b"record 2" in m for m in received] == [False, False, True]
        # the slow one got what fit, then its stream ended
        assert b"record 0" in slow.receive_nowait()
        assert b"record 1" in slow.receive_nowait()
        with pytest.raises(anyio.EndOfStream):
            slow.receive_nowait()


async def test_the_hub_follows_the_broker_only_while_someone_listens(tmp_path: Path) -> None:
    live, logs = hub(tmp_path)
    first_send, first = anyio.create_memory_object_stream[bytes](1)
    again_send, again = anyio.create_memory_object_stream[bytes](10)
    with first_send, first, again_send, again:
        live.attach(first_send)
        logs.log("info", "one")
        logs.log("info", "two")  # cuts `first` off: its buffer holds one
        live.attach(again_send)  # a browser comes before the cut-off one has left
        live.detach(first_send)
        logs.log("info", "three")
        assert b"three" in again.receive_nowait()
        with pytest.raises(anyio.WouldBlock):
            again.receive_nowait()  # once, not twice: a single subscription
        live.detach(again_send)
        assert logs._sinks == []  # the point: nothing left subscribed
