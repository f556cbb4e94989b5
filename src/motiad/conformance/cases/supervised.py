"""Cases run through the broker's real supervisor: a timeout the broker
enforces, a restart after a crash, the staged stop (SPEC §3.1, §3.2)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

import anyio

from ...errors import ChildError, RemoteError
from ...protocol.messages import ApiTrigger, EventTrigger, InvokeParams
from ...supervisor import InvocationTimeout
from ..checker import Case, Checker, api_input, expect, registrar
from ..session import WAIT_S, CaseFailed

CASES: list[Case] = []
case = registrar(CASES)


def _invoke_params(
    step: str, topic: str, input: Any, timeout_ms: int | None, n: int
) -> InvokeParams:
    return InvokeParams(
        step,
        EventTrigger(topic, f"conformance-supervised-{n}"),
        input,
        "conformance-trace",
        f"conformance-supervised-{n}",
        1,
        timeout_ms,
    )


@case("invoke.timeout", "the broker enforces timeoutMs: $/cancel answered, child kept", "core")
async def _broker_timeout(checker: Checker) -> str:
    await checker.ready()
    step = checker.step("ConformanceSlow")
    child = checker.supervised([step])
    async with anyio.create_task_group() as tg:
        try:
            await tg.start(child.run)
        except ChildError as exc:
            raise CaseFailed(str(exc)) from None
        timed_out = False
        try:
            await child.invoke(_invoke_params(step, "conformance.slow", {"ms": 60000}, 300, 1))
        except InvocationTimeout:
            timed_out = True
        finally:
            restarts = child.restarts
            await child.stop()
            tg.cancel_scope.cancel()
    expect(timed_out, "the invocation did not time out")
    expect(
        restarts == 0,
        f"the child was restarted {restarts} times: it did not answer $/cancel in time",
    )
    return ""


@case(
    "lifecycle.restart",
    "a child killed mid-invocation: the invocation fails, the child restarts",
    "core",
)
async def _dies_mid_invocation(checker: Checker) -> str:
    await checker.ready()
    concurrent, echo = checker.step("ConformanceConcurrent"), checker.step("ConformanceEcho")
    started = anyio.Event()
    release = anyio.Event()

    async def gate(method: str, params: Any) -> None:
        if method == "state.get" and not started.is_set():
            started.set()
            await release.wait()

    child = checker.supervised([concurrent, echo], gate)
    outcome: list[BaseException | None] = []
    ended = anyio.Event()

    async def doomed() -> None:
        try:
            await child.invoke(
                _invoke_params(concurrent, "conformance.concurrent", {"key": "k"}, None, 2)
            )
        except (ChildError, RemoteError) as exc:
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            ended.set()

    async with anyio.create_task_group() as tg:
        try:
            await tg.start(child.run)
        except ChildError as exc:
            raise CaseFailed(str(exc)) from None
        try:
            first_pid = child.pid
            tg.start_soon(doomed)
            with anyio.fail_after(WAIT_S):
                await started.wait()
            assert first_pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first_pid, signal.SIGKILL)
            with anyio.fail_after(WAIT_S):
                await ended.wait()
            release.set()
            expect(
                isinstance(outcome[0], ChildError),
                f"the invocation ended with {outcome[0]!r}, expected a ChildError",
            )
            params = InvokeParams(
                echo,
                ApiTrigger(),
                api_input({"again": True}),
                "t",
                "conformance-supervised-3",
                1,
                5000,
            )
            with anyio.fail_after(checker.handshake_s + WAIT_S):
                raw = await child.invoke(params)
        finally:
            await child.stop()
            tg.cancel_scope.cancel()
    expect(child.restarts >= 1, "the child was not restarted")
    expect(raw is not None, "no answer from the restarted child")
    return f"restarted after {child.restarts} start(s)"


@case("lifecycle.stop", "the broker's staged stop: the child exits on shutdown, status 0", "core")
async def _staged_stop(checker: Checker) -> str:
    await checker.ready()
    child = checker.supervised([checker.step("ConformanceEcho")])
    async with anyio.create_task_group() as tg:
        try:
            await tg.start(child.run)
        except ChildError as exc:
            raise CaseFailed(str(exc)) from None
        started = time.monotonic()
        await child.stop()
        took = time.monotonic() - started
        tg.cancel_scope.cancel()
    code = child.returncode
    expect(
        code == 0,
        f"exit status {code} after stop (a signal means it ignored shutdown and end of input)",
    )
    return f"stopped in {took:.1f}s"
