"""Hostile input from the outside and from children (issue 19): each case a
real child process, each refusal prompt and in words a user understands.

A gathering place, so these stay passing: an answer or a request a child
cannot encode as UTF-8 JSON, floods of log records, deep JSON reaching every
SDK, garbage and huge lines from a child. The HTTP and storage cases live
with their own tests (``test_http_*``, ``test_storage_*``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from motiad.builds import build_language
from motiad.config import Settings, load_settings
from motiad.errors import ConfigError, RemoteError
from motiad.protocol.messages import (
    DEFAULT_MAX_LINE_BYTES,
    ApiTrigger,
    EmitParams,
    EmitResult,
    InvokeParams,
    LogParams,
    StateSetParams,
)
from motiad.rpc import Method
from motiad.runners import ChildCommand, child_command
from motiad.supervisor import Child, ChildSpec, handler_error
from motiad.tracing import LogBus

from .harness import REPO, make_project
from .test_supervisor_misbehaving import (
    CHILD,
    DEADLINE_S,
    STEP,
    TIMINGS,
    Recorder,
    invoke_params,
    pid_of,
    running,
)

pytestmark = pytest.mark.anyio

CONFORMANCE = REPO / "protocol" / "conformance"
BUILD_S = 120.0
"""Compiling the Go runner, or loading TypeScript, on a busy machine."""
LONG_BUDGET_MS = 60_000
"""An invocation budget far beyond the test's deadline: an answer that only a
timeout would produce fails the test instead."""


async def test_an_answer_the_broker_cannot_decode_fails_its_invocation_at_once() -> None:
    """SPEC `rpc.undecodable`, `framing.utf8`: half an emoji as a JSON escape, then a
    byte that is not UTF-8, in an invoke's answer: the invocation fails with -32700
    (not retried: the same handler would answer the same) and a message a user
    reads, not msgspec's "Input data was truncated"; the child keeps serving."""
    async with running("undecodable-answer") as (child, logs):
        with anyio.fail_after(DEADLINE_S), pytest.raises(RemoteError) as first:
            await child.invoke(invoke_params(1, timeout_ms=LONG_BUDGET_MS))
        assert first.value.code == -32700
        assert "the answer to invoke could not be read" in first.value.message
        assert "half of a character" in first.value.message
        assert "U+FFFD" in first.value.message
        assert handler_error(first.value).retryable is False
        with anyio.fail_after(DEADLINE_S), pytest.raises(RemoteError) as second:
            await child.invoke(invoke_params(2, timeout_ms=LONG_BUDGET_MS))
        assert "not valid UTF-8 (byte 0xff" in second.value.message
        await logs.wait_for(r"half of a character .*not answered \(it is a response\)")
        assert await pid_of(child, 3) > 0
        assert child.restarts == 0


async def test_a_request_the_broker_cannot_decode_is_refused_by_its_id() -> None:
    """SPEC `rpc.undecodable`: the child's call is answered -32700 with its own id
    (it would otherwise wait for an answer to a line nobody could read)."""
    async with running("undecodable-request") as (child, logs):
        assert await pid_of(child, 1) > 0
        record = await logs.wait_for(r"the broker answered: ")
        assert '"id":77' in record.message
        assert '"code":-32700' in record.message
        assert "half of a character" in record.message


# --- SDK children -------------------------------------------------------------


def sdk_project(root: Path, language: str, *steps: Path) -> Path:
    """A project whose ``steps/`` holds ``steps`` (for Go, inside the conformance module)."""
    project = make_project(root)
    for step in steps:
        shutil.copy(step, project / "steps" / step.name)
    if language == "go":
        shutil.copy(CONFORMANCE / "go" / "go.mod", project / "steps" / "go.mod")
    return project


@asynccontextmanager
async def sdk_child(
    language: str,
    project: Path,
    step: Path,
    methods: Mapping[str, Method] | None = None,
    *,
    bus: LogBus | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> AsyncIterator[Child]:
    """A real child of ``language`` hosting ``step`` under the supervisor, as the
    broker starts it (its registry entry, its build), logging to ``bus``."""
    settings = Settings()
    bus = bus or LogBus()
    if language == "go":
        with anyio.fail_after(BUILD_S):
            await build_language(language, project, settings, [step], bus)
    spec = ChildSpec(
        f"{language} child",
        child_command(language, project, settings, step),
        [str(step)],
        max_line_bytes,
        timings=TIMINGS,
    )
    child = Child(spec, methods=methods or {}, notifications={}, logs=bus)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(BUILD_S):
            await tg.start(child.run)
        try:
            yield child
        finally:
            with anyio.CancelScope(shield=True), anyio.fail_after(DEADLINE_S):
                await child.stop()
            tg.cancel_scope.cancel()


def nested(depth: int) -> Any:
    """``depth`` levels of JSON: arrays and objects in turn, a string at the bottom."""
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def api_input(body: Any) -> dict[str, Any]:
    """An api invoke's ``input`` (SPEC `invoke.input`)."""
    return {
        "method": "POST",
        "path": "/",
        "body": body,
        "headers": {},
        "pathParams": {},
        "queryParams": {},
    }


def echo_params(step: Path, body: Any, n: int = 1) -> InvokeParams:
    """An api invoke of ``step`` with ``body``, whose budget only a hang would exhaust."""
    return InvokeParams(
        str(step), ApiTrigger(), api_input(body), "trace", f"inv-{n}", 1, LONG_BUDGET_MS
    )


ECHO = {
    "python": CONFORMANCE / "python" / "echo_step.py",
    "node": CONFORMANCE / "node" / "echo.step.ts",
    "go": CONFORMANCE / "go" / "echo.step.go",
    "ruby": CONFORMANCE / "ruby" / "echo_step.rb",
}


@pytest.mark.parametrize("language", sorted(ECHO))
async def test_deep_json_reaching_a_step_is_answered_at_once_by_every_sdk(
    language: str, tmp_path: Path
) -> None:
    """SPEC `invoke.sdk-failure`, `framing.nesting`: 600 levels of nesting (about 2 KB, what
    an HTTP body may carry) reach the echo step of each SDK and come back; the
    Python SDK used to leave the invocation unanswered until it was SIGKILLed
    (issue 19 D1). The child serves on afterwards."""
    project = sdk_project(tmp_path, language, ECHO[language])
    step = project / "steps" / ECHO[language].name
    async with sdk_child(language, project, step) as child:
        with anyio.fail_after(DEADLINE_S):
            raw = await child.invoke(echo_params(step, nested(600)))
        assert raw is not None
        assert json.loads(bytes(raw))["body"]["body"] == nested(600)
        with anyio.fail_after(DEADLINE_S):
            assert await child.invoke(echo_params(step, {"after": True}, 2)) is not None
        assert child.restarts == 0


@pytest.mark.parametrize("via", ["return", "emit", "state"])
async def test_half_an_emoji_from_a_node_step_goes_through_as_u_fffd(
    via: str, tmp_path: Path
) -> None:
    """SPEC `framing.utf8.replace` (issue 19 D4b): `'😀'.slice(0, 1)` in a returned
    value, an emit or a state.set used to be refused by the broker ("Input data
    was truncated") and the call never returned. Now the Node SDK writes U+FFFD."""
    fixture = REPO / "tests" / "fixtures" / "hostile" / "half_emoji.step.mjs"
    project = sdk_project(tmp_path, "node", fixture)
    step = project / "steps" / fixture.name
    seen: list[Any] = []

    async def emit(params: EmitParams) -> EmitResult:
        seen.append(msgspec.json.decode(params.data))
        return EmitResult("e-1")

    async def state_set(params: StateSetParams) -> msgspec.Raw:
        seen.append(msgspec.json.decode(params.value))
        return params.value

    methods = {"emit": Method(EmitParams, emit), "state.set": Method(StateSetParams, state_set)}
    async with sdk_child("node", project, step, methods) as child:
        with anyio.fail_after(DEADLINE_S):
            raw = await child.invoke(echo_params(step, {"via": via}))
    assert raw is not None
    assert json.loads(bytes(raw))["body"] == {"text": "cut \ufffd", "\ufffd": "a key too"}
    assert seen == ([] if via == "return" else [{"text": "\ufffd"}])


# --- floods -------------------------------------------------------------------


async def test_a_flood_of_log_records_is_limited_per_child_and_every_drop_counted() -> None:
    """SPEC §8 (issue 19 D10): 5000 `log` notifications at once from one child; at
    most the limit per second are handled, the flood is reported when it starts,
    and the records dropped are counted and reported: handled + reported = sent."""
    bus = LogBus()
    recorder = Recorder(bus)
    handled = 0

    async def log(params: LogParams) -> None:
        nonlocal handled
        handled += 1

    env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    spec = ChildSpec(
        "log-flood",
        ChildCommand([sys.executable, str(CHILD), "log-flood"], env, Path.cwd()),
        [STEP],
        timings=TIMINGS,
        log_records_per_s=100,
    )
    child = Child(spec, methods={}, notifications={"log": Method(LogParams, log)}, logs=bus)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(DEADLINE_S):
            await tg.start(child.run)
            await child.invoke(invoke_params(1))
            await recorder.wait_for(r"^over 100 log records in 1s: further ones are counted")
            await child.stop()
            await recorder.wait_for(r"^\d+ log records were not logged \(flood\)$")
        tg.cancel_scope.cancel()
    dropped = sum(
        int(message.split()[0])
        for message in recorder.messages("error")
        if message.endswith("log records were not logged (flood)")
    )
    assert 100 <= handled < 5000
    assert handled + dropped == 5000


def test_the_log_limit_is_a_motiad_toml_key(tmp_path: Path) -> None:
    """`[handler] max_log_records_per_s`, 1000 by default, at least 1."""
    assert load_settings(tmp_path).handler.max_log_records_per_s == 1000
    (tmp_path / "motiad.toml").write_text("[handler]\nmax_log_records_per_s = 50\n")
    assert load_settings(tmp_path).handler.max_log_records_per_s == 50
    (tmp_path / "motiad.toml").write_text("[handler]\nmax_log_records_per_s = 0\n")
    with pytest.raises(ConfigError, match=r"handler\.max_log_records_per_s"):
        load_settings(tmp_path)


@pytest.mark.parametrize("depth", [1200, 20_000])
@pytest.mark.parametrize("language", sorted(ECHO))
async def test_json_too_deep_for_an_sdk_is_still_answered_at_once(
    language: str, depth: int, tmp_path: Path
) -> None:
    """SPEC `invoke.sdk-failure`, `rpc.undecodable`: nesting beyond what an SDK's
    parser or encoder takes (Python's ~1000, Go's 10000, V8's stack) fails the
    invocation with an error at once: the SDK answers the invoke by the id at
    the start of the line it could not decode, or the broker fails it by the id
    of an answer it could not decode. Never the timeout."""
    project = sdk_project(tmp_path, language, ECHO[language])
    step = project / "steps" / ECHO[language].name
    request = '{"method":"POST","path":"/","headers":{},"pathParams":{},"queryParams":{},"body":'
    deep = msgspec.Raw(f"{request}{'[' * depth}1{']' * depth}}}".encode())
    params = msgspec.structs.replace(echo_params(step, None), input=deep)
    async with sdk_child(language, project, step) as child:
        with anyio.fail_after(DEADLINE_S), pytest.raises(RemoteError) as failed:
            await child.invoke(params)
        assert failed.value.code in (-32700, -32000)
        assert re.search(r"nested too deeply|call stack|stack level too deep", failed.value.message)
        with anyio.fail_after(DEADLINE_S):
            assert await child.invoke(echo_params(step, {"after": True}, 2)) is not None
        assert child.restarts == 0


async def test_garbage_a_node_handler_writes_to_fd_1_is_logged_and_its_answer_still_arrives(
    tmp_path: Path,
) -> None:
    """SPEC `framing.bad-line`, `framing.utf8`, `framing.max-line`: what user code
    writes past the SDK onto the protocol pipe (not JSON, not UTF-8, a line over
    the limit) is reported by the broker, which keeps reading the same child."""
    fixture = REPO / "tests" / "fixtures" / "hostile" / "fd_one.step.mjs"
    project = sdk_project(tmp_path, "node", fixture)
    step = project / "steps" / fixture.name
    bus = LogBus()
    recorder = Recorder(bus)
    async with sdk_child("node", project, step, bus=bus, max_line_bytes=16_384) as child:
        with anyio.fail_after(DEADLINE_S):
            raw = await child.invoke(echo_params(step, {}))
            await recorder.wait_for(r"over maxLineBytes")
        assert raw is not None
        assert json.loads(bytes(raw))["body"] == {"survived": True}
        problems = " | ".join(recorder.messages("error"))
        assert "not json at all" in problems
        assert "not valid UTF-8" in problems
        assert "over maxLineBytes (16384)" in problems
        assert child.restarts == 0


# --- stopping -----------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_what_a_child_leaves_running_is_stopped_with_it() -> None:
    """SPEC `lifecycle.stop` (issue 19 D10): a subprocess a step started holds the
    child's pipes after the child exits. It used to outlive the stop, and the
    pipes with it: their transports outlived the event loop, and Python printed
    "Exception ignored ... Event loop is closed" at exit. Its process group is
    ended with the child now."""
    async with running("spawner") as (child, logs):
        record = await logs.wait_for(r"^left running: \d+$")
        left = int(record.message.split()[-1])
        assert _alive(left)
        exited = os.pidfd_open(left)  # readable once it has exited, whoever its parent is
        try:
            with anyio.fail_after(DEADLINE_S):
                await child.stop()
                # the stop sends SIGKILL to the group; death follows the signal, not the call
                await anyio.wait_readable(exited)
        finally:
            os.close(exited)
    assert not _alive(left)
