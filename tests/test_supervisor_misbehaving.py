"""A child cannot knock the broker over (SPEC §4, §8): garbage, huge lines,
invalid UTF-8, answers to nothing, silence, floods of stderr or requests, and
exits at any time fail its invocations (retryable), get it restarted or
reported, and are logged precisely. Real child processes, started through the
real supervisor (``motiad.supervisor.Child``) with short timings."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from motiad.errors import ChildError, RemoteError
from motiad.protocol.messages import ApiTrigger, InvokeParams, LogParams, StateKeyParams
from motiad.rpc import Method
from motiad.runners import ChildCommand
from motiad.supervisor import Child, ChildSpec, ChildTimings, InvocationTimeout, handler_error
from motiad.tracing import LogBus, LogRecord

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).resolve().parent / "fixtures" / "misbehaving" / "child.py"
STEP = "/project/steps/misbehaving_step.py"
TIMINGS = ChildTimings(
    initialize_s=5.0,
    cancel_grace_s=0.5,
    ping_interval_s=0.2,
    ping_timeout_s=0.5,
    ping_misses=3,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    stop_step_s=1.0,
)
"""Short bounds so each misbehaviour is detected in well under a second."""
DEADLINE_S = 15.0


class Recorder:
    """The log records a child's supervisor publishes, waited on by pattern."""

    def __init__(self, bus: LogBus) -> None:
        self.records: list[LogRecord] = []
        self._changed = anyio.Event()
        bus.subscribe(self._add)

    def _add(self, record: LogRecord) -> None:
        self.records.append(record)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, pattern: str, *, within: float = DEADLINE_S) -> LogRecord:
        """The first record whose message matches ``pattern``."""
        regex = re.compile(pattern)
        with anyio.fail_after(within):
            while True:
                for record in self.records:
                    if regex.search(record.message):
                        return record
                await self._changed.wait()

    def messages(self, level: str | None = None) -> list[str]:
        """Every message so far (of ``level``)."""
        return [r.message for r in self.records if level is None or r.level == level]


def invoke_params(n: int, timeout_ms: int | None = 5000, input: Any = None) -> InvokeParams:
    """An api invoke of the misbehaving step."""
    return InvokeParams(STEP, ApiTrigger(), input, "trace", f"inv-{n}", 1, timeout_ms)


def make_child(
    mode: str, *, max_line: int = 1 << 20, log_fails: bool = False, timings: ChildTimings = TIMINGS
) -> tuple[Child, Recorder]:
    """A supervised child running ``child.py MODE``."""
    bus = LogBus()
    recorder = Recorder(bus)

    async def state_get(params: StateKeyParams) -> None:
        return None

    async def log(params: LogParams) -> None:
        if log_fails:
            raise TypeError("a bug in the log handler")

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    spec = ChildSpec(
        mode,
        ChildCommand([sys.executable, str(CHILD), mode], env, Path.cwd()),
        [STEP],
        max_line,
        timings,
    )
    child = Child(
        spec,
        methods={"state.get": Method(StateKeyParams, state_get)},
        notifications={"log": Method(LogParams, log)},
        logs=bus,
    )
    return child, recorder


@asynccontextmanager
async def running(mode: str, **options: Any) -> AsyncIterator[tuple[Child, Recorder]]:
    """Start ``mode`` under the supervisor; stop it afterwards, bounded."""
    child, recorder = make_child(mode, **options)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(DEADLINE_S):
            await tg.start(child.run)
        try:
            yield child, recorder
        finally:
            with anyio.CancelScope(shield=True), anyio.fail_after(DEADLINE_S):
                await child.stop()
            tg.cancel_scope.cancel()


async def pid_of(child: Child, n: int) -> int:
    """Invoke and return the pid the child reports."""
    with anyio.fail_after(DEADLINE_S):
        raw = await child.invoke(invoke_params(n))
    assert raw is not None
    return int(json.loads(bytes(raw))["body"]["pid"])


async def test_garbage_answers_to_nobody_and_deep_json_are_logged_and_survived() -> None:
    """SPEC `framing.bad-line`, `framing.utf8`, `framing.blank-line`, `rpc.unknown-id`,
    `rpc.no-reply-to-responses`, `framing.nesting`: the answer after the garbage arrives."""
    async with running("garbage") as (child, logs):
        with anyio.fail_after(DEADLINE_S):
            assert await child.invoke(invoke_params(1)) is not None
        await logs.wait_for(r"parse error: the line is not valid UTF-8")
        await logs.wait_for(r"further ones are counted, not logged")  # throttled
        assert child.restarts == 0
        problems = logs.messages("error")
        assert len(problems) < 100, "problem reports are throttled"
        assert any("response to unknown request id 10000" in m for m in problems)
        assert any("could not read a line" in m for m in problems)
        assert await pid_of(child, 2) > 0


async def test_an_answer_over_the_line_limit_fails_its_invocation_at_once() -> None:
    """SPEC `framing.max-line`: discarded, reported by size, the request it
    answered failed with -32005 (not left to time out); the child keeps serving."""
    async with running("huge-answer") as (child, logs):
        with anyio.fail_after(DEADLINE_S), pytest.raises(RemoteError) as failed:
            await child.invoke(invoke_params(1, timeout_ms=None))
        assert failed.value.code == -32005
        assert handler_error(failed.value).retryable is False
        await logs.wait_for(r"discarded a line of \d+ bytes, over maxLineBytes \(1048576\)")
        assert await pid_of(child, 2) > 0
        assert child.restarts == 0


async def test_a_child_that_ignores_cancel_is_killed_and_restarted() -> None:
    """SPEC `invoke.timeout`: $/cancel at the budget, kill after the grace, restart."""
    async with running("silent") as (child, logs):
        first = child.pid
        with anyio.fail_after(DEADLINE_S), pytest.raises(InvocationTimeout):
            await child.invoke(invoke_params(1, timeout_ms=200))
        await logs.wait_for(r"inv-1: no answer 0.5s after \$/cancel .*killing the child")
        await logs.wait_for(r"was killed by SIGKILL")
        await logs.wait_for(r"restarting the child")
        assert child.restarts >= 1
        assert child.pid != first


async def test_a_hung_child_is_detected_by_its_missed_pings_and_restarted() -> None:
    """SPEC `lifecycle.ping`: three missed pings in a row, then a restart."""
    async with running("hung") as (_child, logs):
        await logs.wait_for(r"no answer to 3 pings in a row .*killing the hung child")
        await logs.wait_for(r"restarting the child")


async def test_a_child_exiting_mid_invocation_fails_it_retryably_and_is_restarted() -> None:
    """SPEC `lifecycle.restart`: exit code and stderr tail logged, next start serves."""
    async with running("exit-on-invoke") as (child, logs):
        with anyio.fail_after(DEADLINE_S), pytest.raises(ChildError):
            await child.invoke(invoke_params(1))
        record = await logs.wait_for(r"child exited with code 3; last stderr lines:")
        assert "about to exit on purpose" in record.message
        await logs.wait_for(r"restarting the child")


async def test_a_crash_loop_backs_off_is_reported_and_stops_promptly() -> None:
    """SPEC `lifecycle.restart`: backoff, a crash loop named as such, stop ends the wait."""
    async with running("exit-after-init") as (child, logs):
        await logs.wait_for(r"crash loop: 5 failed starts in a row")
        assert child.restarts >= 5
    assert child.stopping


async def test_a_flood_of_stderr_is_throttled_and_counted() -> None:
    """SPEC `framing.stderr-logs`: one record per line up to the limit, the rest counted."""
    async with running("stderr-flood") as (child, logs):
        assert await pid_of(child, 1) > 0
        await logs.wait_for(r"over 1000 stderr lines in 10s: further ones are counted")
        await logs.wait_for(r"stderr line of 200000 bytes dropped")
        info = logs.messages("info")
        assert 100 < len(info) <= 1001


async def test_a_childs_stderr_is_logged_under_the_step_it_hosts() -> None:
    """The child names itself from its own ``initialize`` result (the step's
    ``config.name``): nothing outside the supervisor renames it."""
    async with running("stderr-flood") as (child, logs):
        assert child.name == "Misbehaving"
        assert await pid_of(child, 1) > 0
        record = await logs.wait_for(r"^flood line 1$")
        assert record.step == "Misbehaving"


async def test_a_child_that_floods_requests_without_reading_is_restarted() -> None:
    """SPEC §8: the broker stops reading at 1024 requests; the stuck child misses
    its pings and is restarted; nothing in the broker blocks for good."""
    async with running("request-flood") as (child, logs):
        with anyio.fail_after(DEADLINE_S), pytest.raises((InvocationTimeout, ChildError)):
            await child.invoke(invoke_params(1, timeout_ms=500))
        await logs.wait_for(r"killing")
        await logs.wait_for(r"restarting the child")


async def test_a_child_that_stops_reading_stdin_cannot_block_an_invocation() -> None:
    """SPEC §8: the send of an invoke is bounded by its timeout; the child is killed."""
    async with running("no-read") as (child, logs):
        big = {"pad": "z" * (1 << 19)}
        with anyio.fail_after(DEADLINE_S), pytest.raises(InvocationTimeout):
            await child.invoke(invoke_params(1, timeout_ms=300, input=big))
        await logs.wait_for(r"killing")


async def test_a_child_that_closes_stdout_but_lingers_is_stopped_and_restarted() -> None:
    """SPEC `lifecycle.restart`: no stdout, no answers: stopped after 3 stages at most."""
    async with running("close-stdout") as (_child, logs):
        await logs.wait_for(r"child closed its stdout but kept running; stopping it")
        await logs.wait_for(r"restarting the child")


async def test_a_failing_notification_handler_does_not_end_the_reader() -> None:
    """A bug in one method is logged with its traceback; the connection goes on."""
    async with running("bad-log", log_fails=True) as (child, logs):
        assert await pid_of(child, 1) > 0
        await logs.wait_for(
            r"(?s)internal error handling log:\n.*TypeError: a bug in the log handler"
        )
        await logs.wait_for(r"log: .*; notification ignored")  # the bad level, reported


async def test_a_child_whose_major_has_a_leading_zero_speaks_that_major() -> None:
    """SPEC `lifecycle.version`: majors compare as numbers, so "01.7" is major 1."""
    async with running("padded-major") as (child, _logs):
        assert await pid_of(child, 1) > 0


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("bad-init-result", r"bad initialize result: Expected `object`, got `int` at \$\.result"),
        (
            "missing-entry",
            r"bad initialize result: the steps entries name \[\], expected one per step",
        ),
        (
            "old-major",
            r"protocol version mismatch: broker speaks 1\.0, child \(misbehaving\) speaks 2",
        ),
        ("never-initialize", r"no answer to initialize within 0.5s"),
    ],
)
async def test_a_child_with_a_bad_handshake_is_refused_with_the_reason(
    mode: str, reason: str
) -> None:
    """SPEC `lifecycle.initialize`, `lifecycle.version`: the first start fails, named."""
    child, _ = make_child(mode, timings=replace(TIMINGS, initialize_s=0.5))
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(DEADLINE_S), pytest.raises(ChildError, match=reason):
            await tg.start(child.run)
