"""``motiad conformance`` (SPEC §11): our SDKs pass every case; broken children
fail with reasons, in bounded time."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import anyio
import pytest

from motiad.conformance import Services, Session
from motiad.runners import ChildCommand

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed: profile (core|full) (passed|failed)$")
BOUND_S = 60
"""A run against a broken child must end within this, whatever the child does."""


async def conformance(*args: str) -> tuple[int, list[str]]:
    """Run ``motiad conformance ARGS``; its exit status and output lines."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    with anyio.fail_after(BOUND_S):
        done = await anyio.run_process(
            [sys.executable, "-m", "motiad", "conformance", *args], check=False, cwd=REPO, env=env
        )
    lines = done.stdout.decode().splitlines()
    assert lines, done.stderr.decode()
    return done.returncode, lines


def summary(lines: list[str], profile: str = "full") -> tuple[int, int]:
    """``(passed, failed)`` from the last line, which must be the summary alone
    and name ``profile``, passed when nothing failed."""
    found = SUMMARY.match(lines[-1])
    assert found, f"last line is not the summary: {lines[-1]!r}"
    passed, failed = int(found.group(1)), int(found.group(2))
    assert (found.group(3), found.group(4)) == (profile, "failed" if failed else "passed")
    return passed, failed


@pytest.mark.parametrize("sdk", ["python", "node", "go", "ruby"])
async def test_our_sdk_passes_every_conformance_case(sdk: str) -> None:
    status, lines = await conformance("--sdk", sdk)
    failures = [line for line in lines[:-1] if not line.startswith("PASS")]
    assert failures == []
    passed, failed = summary(lines)
    assert (status, failed) == (0, 0)
    assert passed >= 25
    assert all(re.match(r"^PASS  [a-z][a-z0-9.-]+ ", line) for line in lines[:-1])


async def test_the_go_sdk_passes_as_an_outside_sdk_with_its_own_runner_command() -> None:
    """The Go SDK checked the way any SDK is: its fixtures and a command, no registry."""
    status, lines = await conformance(
        "--steps", "protocol/conformance/go", "--", "sh", "sdk-go/run.sh"
    )
    assert [line for line in lines[:-1] if not line.startswith("PASS")] == []
    assert status == 0
    assert "motiad-sdk-go" in lines[0]


async def test_cat_which_echoes_requests_fails_with_readable_reasons() -> None:
    status, lines = await conformance("--steps", "protocol/conformance/python", "--", "cat")
    assert status == 1
    assert summary(lines)[1] >= 25
    handshake = next(line for line in lines if "lifecycle.initialize " in line)
    assert handshake.startswith("FAIL")
    assert "echo its input" in handshake


async def test_a_child_printing_garbage_fails_with_readable_reasons() -> None:
    garbage = REPO / "tests" / "fixtures" / "conformance" / "garbage_child.py"
    status, lines = await conformance("--", sys.executable, str(garbage))
    assert status == 1
    assert summary(lines)[1] >= 25
    handshake = next(line for line in lines if "lifecycle.initialize " in line)
    assert "not a JSON-RPC message" in handshake


async def test_the_command_needs_an_sdk_or_a_command() -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    with anyio.fail_after(BOUND_S):
        done = await anyio.run_process(
            [sys.executable, "-m", "motiad", "conformance"], check=False, env=env
        )
    assert done.returncode == 2
    assert b"--sdk" in done.stderr


async def test_a_session_closed_while_its_readers_wait_ends_without_an_error(
    tmp_path: Path,
) -> None:
    """A child that writes its last line and exits at once crashed the checker
    (issue #22: ``ClosedResourceError`` out of the stdout reader, in 5 of 6 runs)
    when ``close`` closed a pipe a reader still waited on. Here a grandchild in
    its own session keeps both pipes open, so the readers are certainly waiting
    when the child is gone and ``close`` runs."""
    script = (
        "setsid sleep 60 & echo $! >&2; "
        """echo '{"jsonrpc":"2.0","method":"log","params":{"level":"info","message":"bye"}}'; """
        "exec sleep 60"
    )
    session = Session(ChildCommand(["sh", "-c", script], dict(os.environ), tmp_path), Services())
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            await session.start(tg)
            while not (session.stderr and session.logs):
                await session.changed()
            try:
                await session.close()
            finally:
                os.kill(int(session.stderr[0]), signal.SIGKILL)
    assert session.logs[0]["params"]["message"] == "bye"


async def test_the_core_child_of_the_spec_appendix_passes_the_core_profile(
    tmp_path: Path,
) -> None:
    """SPEC Appendix A, run from the spec's own text: the worked core child passes
    ``--profile core``, so the spec cannot drift from a working child."""
    spec = (REPO / "protocol" / "SPEC.md").read_text("utf-8")
    found = re.search(r"^## Appendix A\..*?^```python\n(.*?)^```$", spec, re.S | re.M)
    assert found, "no python block in SPEC Appendix A"
    child = tmp_path / "child.py"
    child.write_text(found.group(1))
    fixtures = "protocol/conformance/python"
    status, lines = await conformance(
        "--profile", "core", "--steps", fixtures, "--", sys.executable, str(child)
    )
    assert [line for line in lines[:-1] if not line.startswith("PASS")] == []
    assert status == 0
    passed, _ = summary(lines, "core")
    assert passed >= 20


async def test_the_ruby_core_alone_passes_the_core_profile() -> None:
    """sdk-ruby's README: its core (lib/motiad.rb without the full and optional
    parts runner.rb adds) is a complete core-profile child (SPEC §0.1), as the
    line counts it states for the core claim."""
    core = ["ruby", "-I", str(REPO / "sdk-ruby" / "lib"), "-e", "require 'motiad'; Motiad.main"]
    status, lines = await conformance(
        "--profile", "core", "--steps", "protocol/conformance/ruby", "--", *core
    )
    assert [line for line in lines[:-1] if not line.startswith("PASS")] == []
    assert status == 0
    passed, _ = summary(lines, "core")
    assert passed >= 20
