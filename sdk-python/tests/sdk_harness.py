"""A stand-in broker for the SDK tests: spawns ``python -m motiad_sdk`` and speaks NDJSON.

The tests play the broker by hand, so they can answer the child's requests
late, out of order or with errors. Every wait is bounded by ``DEADLINE_S``
and wakes on the awaited line itself, never on a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SDK_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

CHILD_PYTHON = os.environ.get("MOTIAD_SDK_TEST_PYTHON") or sys.executable
"""The interpreter that runs the child: the SDK supports older Pythons (3.10+) than
the dev environment, so CI can point this at each supported version."""

DEADLINE_S = 5.0
"""The longest any single wait may take: far above what a healthy child needs
(milliseconds), low enough that a hang fails fast."""

Message = dict[str, Any]


def step(name: str) -> str:
    """The absolute path of fixture step ``name`` (without ``.py``)."""
    return str(FIXTURES / f"{name}.py")


def event_trigger(topic: str = "t", event_id: str = "e-1") -> Message:
    """An event trigger as the broker sends it."""
    return {"type": "event", "topic": topic, "eventId": event_id, "messageGroupId": None}


class Child:
    """One running SDK child, with reader threads collecting its stdout and stderr."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.stdout_garbage: list[bytes] = []
        """Lines on stdout that were not JSON objects: there must be none."""
        self._messages: queue.Queue[Message | None] = queue.Queue()
        self._backlog: list[Message] = []
        self._stderr_lines: list[str] = []
        self._stderr_changed = threading.Condition()
        self._next_id = 1
        self._pumps = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    # -- plumbing ------------------------------------------------------------

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                self.stdout_garbage.append(raw)
                continue
            if isinstance(message, dict):
                self._messages.put(message)
            else:
                self.stdout_garbage.append(raw)
        self._messages.put(None)  # end of stdout

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._stderr_changed:
                self._stderr_lines.append(raw.decode("utf-8", "replace"))
                self._stderr_changed.notify_all()

    def close(self) -> None:
        """Stop the child (end of input, then kill) and release every pipe."""
        with contextlib.suppress(OSError):  # the child may be gone already
            self.close_stdin()
        try:
            self.proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pump in self._pumps:
            pump.join(timeout=DEADLINE_S)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    # -- sending -------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Write bytes to the child's stdin as they are."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: Message) -> None:
        """Write one JSON message as one line."""
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, method: str, params: Message | None = None) -> int:
        """Send a request; return its id."""
        request_id = self._next_id
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return request_id

    def notify(self, method: str, params: Message) -> None:
        """Send a notification."""
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def reply(self, request: Message, result: Any) -> None:
        """Answer one of the child's requests."""
        self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def reply_error(self, request: Message, code: int, message: str) -> None:
        """Answer one of the child's requests with an error."""
        self.send(
            {"jsonrpc": "2.0", "id": request["id"], "error": {"code": code, "message": message}}
        )

    def close_stdin(self) -> None:
        """End the child's input, as a broker that went away would."""
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()

    # -- receiving -----------------------------------------------------------

    def next_message(
        self, match: Callable[[Message], bool] = lambda _: True, deadline_s: float = DEADLINE_S
    ) -> Message:
        """The first message (oldest first) that ``match`` accepts; others wait in a backlog."""
        for index, message in enumerate(self._backlog):
            if match(message):
                return self._backlog.pop(index)
        end = time.monotonic() + deadline_s
        while (remaining := end - time.monotonic()) > 0:
            try:
                received = self._messages.get(timeout=remaining)
            except queue.Empty:
                break
            if received is None:
                self._messages.put(None)  # keep the end marker for later waits
                raise AssertionError(f"the child closed stdout; stderr:\n{self.stderr_text}")
            if match(received):
                return received
            self._backlog.append(received)
        raise AssertionError(f"no matching message in {deadline_s} s; unmatched: {self._backlog}")

    def response(self, request_id: int | str | None) -> Message:
        """The child's answer to request ``request_id`` (``None``: an answer with ``id: null``)."""
        return self.next_message(lambda m: "method" not in m and m.get("id") == request_id)

    def result(self, request_id: int) -> Any:
        """The result of request ``request_id``; fails on an error answer."""
        message = self.response(request_id)
        assert "result" in message, message
        return message["result"]

    def error(self, request_id: int | str | None) -> Message:
        """The error of request ``request_id``; fails on a result."""
        message = self.response(request_id)
        assert "error" in message, message
        error: Message = message["error"]
        return error

    def child_request(self, method: str) -> Message:
        """The next request the child sends with ``method``."""
        return self.next_message(lambda m: m.get("method") == method and "id" in m)

    def answer_in_order(self, answers: list[tuple[str, Any]]) -> list[Message]:
        """Expect a request for each method in turn and answer it; their params."""
        params = []
        for method, answer in answers:
            call = self.child_request(method)
            params.append(call["params"])
            self.reply(call, answer)
        return params

    def notification(self, method: str) -> Message:
        """The next notification the child sends with ``method``."""
        return self.next_message(lambda m: m.get("method") == method and "id" not in m)

    def unread(self) -> list[Message]:
        """Messages received but not yet matched by any wait."""
        return list(self._backlog)

    def wait_stderr(self, text: str) -> None:
        """Wait until a stderr line contains ``text``."""
        with self._stderr_changed:
            found = self._stderr_changed.wait_for(
                lambda: any(text in line for line in self._stderr_lines), timeout=DEADLINE_S
            )
        assert found, f"{text!r} never appeared on stderr:\n{self.stderr_text}"

    @property
    def stderr_text(self) -> str:
        """Everything read from stderr so far."""
        with self._stderr_changed:
            return "".join(self._stderr_lines)

    def wait_exit(self) -> int:
        """The child's exit status; fails if it does not exit within the deadline."""
        return self.proc.wait(timeout=DEADLINE_S)

    # -- protocol shortcuts ----------------------------------------------------

    def initialize(self, steps: list[str], **extra: Any) -> Message:
        """Send ``initialize`` for ``steps`` and return its result."""
        params = {"protocolVersion": "1.0", "project": str(FIXTURES), "steps": steps, **extra}
        result: Message = self.result(self.request("initialize", params))
        return result

    def invoke(
        self,
        step_path: str,
        trigger: Message,
        input: Any = None,
        *,
        invocation_id: str = "i-1",
        timeout_ms: int | None = 30_000,
        trace_id: str = "trace-1",
        traceparent: str | None = None,
    ) -> int:
        """Send ``invoke``; return its request id."""
        return self.request(
            "invoke",
            {
                "step": step_path,
                "trigger": trigger,
                "input": input,
                "traceId": trace_id,
                "invocationId": invocation_id,
                "attempt": 1,
                "timeoutMs": timeout_ms,
                "traceparent": traceparent,
            },
        )

    def ping(self) -> None:
        """Ping and wait for the answer: proof that the child still serves."""
        assert self.result(self.request("ping")) == {}


@contextlib.contextmanager
def spawn_child() -> Iterator[Child]:
    """Start ``python -m motiad_sdk`` as the broker would, and clean it up afterwards."""
    env = {
        **os.environ,
        "PYTHONPATH": str(SDK_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",  # keep the fixture folder free of __pycache__
    }
    proc = subprocess.Popen(
        [CHILD_PYTHON, "-m", "motiad_sdk"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=FIXTURES,
        env=env,
    )
    child = Child(proc)
    try:
        yield child
    finally:
        child.close()
