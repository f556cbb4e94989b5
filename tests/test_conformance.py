"""``motiad conformance`` (SPEC §11): our SDKs pass every case; broken children
fail with reasons, in bounded time."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import anyio
import pytest

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")
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


def summary(lines: list[str]) -> tuple[int, int]:
    """``(passed, failed)`` from the last line, which must be the summary alone."""
    found = SUMMARY.match(lines[-1])
    assert found, f"last line is not the summary: {lines[-1]!r}"
    return int(found.group(1)), int(found.group(2))


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
