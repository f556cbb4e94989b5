"""The JSON-RPC peer survives its peer (SPEC §1, §2, §8): limits on what it
sends, bugs in its own methods, and a peer that writes garbage without reading.

The "child" here is a pair of in-memory byte streams: these checks are about
the peer's logic, and a real process adds nothing but slowness (the real
children are in test_supervisor_misbehaving.py)."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from motiad.errors import ChildError, RemoteError, StorageError
from motiad.protocol.codec import IncomingRequest
from motiad.protocol.messages import StateKeyParams
from motiad.rpc import BAD_LINE_REPLIES_QUEUED, Later, Method, RpcPeer
from motiad.tasks import TaskSet
from motiad.transport import BatchingLineSender, LineSender, read_lines

pytestmark = pytest.mark.anyio
LIMIT = 256


class Commits:
    """A plain handler that answers ``Later``: each request waits for a future
    the test settles (as ``emit`` waits for a commit)."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.arrived = anyio.Event()
        self.shared: asyncio.Future[None] | None = None
        """The one future of every request whose key starts with ``shared``
        (the emits of one batch wait for one commit)."""

    def __call__(self, params: StateKeyParams) -> Later:
        if params.key == "refused":
            raise RemoteError(-32602, "refused at once")
        if params.key.startswith("shared"):
            if self.shared is None:
                self.shared = asyncio.get_running_loop().create_future()
            self.waiting[params.key] = self.shared
            self.arrived.set()
            return Later(self.shared, {"committed": params.key})
        ready = self.waiting[params.key] = asyncio.get_running_loop().create_future()
        self.arrived.set()
        return Later(ready, {"committed": params.key})


@dataclass
class Wire:
    """Our peer, and the two streams a test uses to play the other side."""

    peer: RpcPeer
    to_us: MemoryObjectSendStream[bytes]
    from_us: MemoryObjectReceiveStream[bytes]
    served: anyio.Event
    """Set once the peer's reader saw the end of its input."""
    commits: Commits
    problems: list[str] = field(default_factory=list)

    async def send(self, message: Any) -> None:
        await self.to_us.send(json.dumps(message).encode() + b"\n")

    async def receive(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            line = await self.from_us.receive()
        value: dict[str, Any] = json.loads(line)
        return value


async def state_get(params: StateKeyParams) -> Any:
    if params.key == "huge":
        return "x" * (LIMIT * 2)
    if params.key == "bug":
        raise KeyError("a bug in the method")
    return {"key": params.key}


@asynccontextmanager
async def wire(*, unread: bool = False, batching: bool = False) -> AsyncIterator[Wire]:
    """A served peer. ``unread``: nothing reads what it writes past its first line.
    ``batching``: the broker's sender to children (answers go out without a task)."""
    out_send, out_receive = anyio.create_memory_object_stream[bytes](1 if unread else 1000)
    in_send, in_receive = anyio.create_memory_object_stream[bytes](1000)
    problems: list[str] = []
    commits = Commits()
    sender = BatchingLineSender(out_send) if batching else LineSender(out_send)  # type: ignore[arg-type]
    peer = RpcPeer(
        sender,
        methods={
            "state.get": Method(StateKeyParams, state_get),
            "state.set": Method(StateKeyParams, commits),
        },
        notifications={},
        on_problem=problems.append,
        max_line_bytes=LIMIT,
    )
    served = anyio.Event()

    async def serve(tg: anyio.abc.TaskGroup) -> None:
        await peer.serve(read_lines(in_receive, LIMIT), tg)  # type: ignore[arg-type]
        served.set()

    async with out_send, out_receive, in_send, in_receive, anyio.create_task_group() as tg:
        if isinstance(sender, BatchingLineSender):
            tg.start_soon(sender.run)
        tg.start_soon(serve, tg)
        yield Wire(peer, in_send, out_receive, served, commits, problems)
        tg.cancel_scope.cancel()


async def test_a_request_too_long_to_send_fails_without_writing_anything() -> None:
    """SPEC `framing.max-line.send`: the broker never writes a line over the limit."""
    async with wire() as w:
        with pytest.raises(RemoteError) as refused:
            await w.peer.request("invoke", {"input": "x" * LIMIT})
        assert refused.value.code == -32005
        assert w.peer.in_flight == 0
        assert w.from_us.statistics().current_buffer_used == 0


async def test_a_result_too_long_is_answered_32005_with_the_request_id() -> None:
    """SPEC `framing.max-line.send`: a large state.getGroup, say."""
    async with wire() as w:
        await w.send(
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "state.get",
                "params": {"invocationId": "i", "groupId": "g", "key": "huge"},
            }
        )
        answer = await w.receive()
        assert answer["id"] == 4
        assert answer["error"]["code"] == -32005


async def test_a_bug_in_a_method_is_answered_internal_error_and_reading_goes_on() -> None:
    async with wire() as w:
        await w.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "state.get",
                "params": {"invocationId": "i", "groupId": "g", "key": "bug"},
            }
        )
        assert (await w.receive())["error"]["code"] == -32603
        await w.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "state.get",
                "params": {"invocationId": "i", "groupId": "g", "key": "ok"},
            }
        )
        assert (await w.receive())["result"] == {"key": "ok"}
        assert any("KeyError: 'a bug in the method'" in p for p in w.problems)


async def test_responses_are_never_answered_even_malformed_ones() -> None:
    """SPEC `rpc.no-reply-to-responses`, `rpc.unknown-id`."""
    async with wire() as w:
        for message in (
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "x"}},
            {"jsonrpc": "2.0", "id": 9, "result": 1, "error": {"code": 1, "message": "both"}},
            {"jsonrpc": "1.0", "id": 9, "result": 1},
            {"jsonrpc": "2.0", "id": 12345, "result": 1},
        ):
            await w.send(message)
        await w.send({"jsonrpc": "2.0", "id": "last", "method": "nope"})
        assert (await w.receive())["id"] == "last"  # the only answer
        assert len(w.problems) == 4


async def test_garbage_from_a_peer_that_never_reads_cannot_block_the_reader() -> None:
    """SPEC §8: error replies to bad lines are queued, then dropped and counted."""
    async with wire(unread=True) as w:
        pending = await w.peer.open_request("ping", {})  # fills the one-line buffer
        for _ in range(BAD_LINE_REPLIES_QUEUED * 3):
            await w.to_us.send(b"garbage\n")
        await w.send({"jsonrpc": "2.0", "id": pending.id, "result": "still heard"})
        with anyio.fail_after(5):
            assert bytes(await pending.wait() or b"") == b'"still heard"'
            await w.to_us.aclose()  # end of input: the summary comes out
            await w.served.wait()
        assert any("error replies to bad lines were dropped" in p for p in w.problems)


async def test_a_closed_pipe_is_a_child_error_not_a_crash() -> None:
    async with wire() as w:
        await w.from_us.aclose()
        with pytest.raises(ChildError, match="pipe is closed"):
            await w.peer.request("ping", {})


def set_request(msg_id: int, key: str) -> dict[str, Any]:
    params = {"invocationId": "i", "groupId": "g", "key": key}
    return {"jsonrpc": "2.0", "id": msg_id, "method": "state.set", "params": params}


@pytest.mark.parametrize("batching", [False, True], ids=["line-sender", "batching-sender"])
async def test_a_later_answer_waits_for_its_future_and_follows_its_outcome(
    batching: bool,
) -> None:
    """A plain handler answers with ``Later``: nothing is sent until the future
    is done; then its result, or the error the future failed with."""
    async with wire(batching=batching) as w:
        commits = w.commits
        for msg_id, key in enumerate(("first", "second", "third"), start=1):
            await w.send(set_request(msg_id, key))
        await w.send(set_request(4, "refused"))
        assert await w.receive() == {
            "jsonrpc": "2.0",
            "id": 4,
            "error": {"code": -32602, "message": "refused at once"},
        }
        with anyio.fail_after(5):
            while len(commits.waiting) < 3:
                commits.arrived = anyio.Event()
                await commits.arrived.wait()
        assert w.from_us.statistics().current_buffer_used == 0  # none answered yet
        commits.waiting["second"].set_result(None)
        assert await w.receive() == {"jsonrpc": "2.0", "id": 2, "result": {"committed": "second"}}
        commits.waiting["first"].set_exception(StorageError("db: disk I/O error"))
        failed = await w.receive()
        assert (failed["id"], failed["error"]["code"]) == (1, -32603)
        assert "disk I/O error" in failed["error"]["message"]
        commits.waiting["third"].cancel()
        assert (await w.receive())["id"] == 3
        assert w.problems == []


async def test_later_answers_sharing_one_future_take_one_callback_and_keep_their_order() -> None:
    # A burst of emits waits for one commit: one done-callback on its future
    # answers them all (was one callback, so one loop turn, per emit), in the
    # order the requests came.
    async with wire() as w:
        commits = w.commits
        for msg_id in range(1, 51):
            await w.send(set_request(msg_id, f"shared{msg_id}"))
        with anyio.fail_after(5):
            while len(commits.waiting) < 50:
                commits.arrived = anyio.Event()
                await commits.arrived.wait()
        shared = commits.shared
        assert shared is not None
        assert len(shared._callbacks) == 1
        shared.set_result(None)
        answered = [await w.receive() for _ in range(50)]
        assert [a["id"] for a in answered] == list(range(1, 51))
        assert answered[-1]["result"] == {"committed": "shared50"}
        assert w.problems == []


async def test_a_request_cancelled_before_its_task_ran_leaves_no_coroutine_behind() -> None:
    """An ``async`` handler is called in its request's task, not in the reader: a
    coroutine made there would never be awaited if the task is cancelled before
    its first step (a child restarted under a flood of requests)."""
    called: list[object] = []

    async def handler(params: object) -> None:
        called.append(params)

    out_send, out_receive = anyio.create_memory_object_stream[bytes](10)
    peer = RpcPeer(
        LineSender(out_send),  # type: ignore[arg-type]  # a memory stream of bytes
        methods={"m": Method(None, handler)},
        notifications={},
        on_problem=lambda _: None,
    )
    tasks = peer._requests = TaskSet()
    async with out_send, out_receive, anyio.create_task_group() as tg:
        tg.start_soon(tasks.run)
        await anyio.lowlevel.checkpoint()  # the owner runs
        assert peer._serving.take_now()
        peer._start_request(IncomingRequest(1, "m", None))
        (task,) = tasks._tasks
        task.cancel()  # before it took its first step
        tg.cancel_scope.cancel()
    gc.collect()  # an unawaited coroutine would warn here (pytest raises it)
    assert called == []
