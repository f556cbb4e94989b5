"""Run ``motiad`` as a real process and watch what it prints.

Tests wait for the line they expect, with a deadline; they never sleep.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc

from motiad.transport import read_lines

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make_project(root: Path, *sources: Path, folder: str = "steps") -> Path:
    """A project at ``root`` whose ``steps/`` (or ``folder``) holds copies of
    ``sources`` (files or folders); ``node_modules`` is shared with the quickstart (tsx)."""
    steps = root / folder
    steps.mkdir(parents=True, exist_ok=True)
    for source in sources:
        if source.is_dir():
            shutil.copytree(source, steps, dirs_exist_ok=True)
        else:
            shutil.copy(source, steps / source.name)
    (root / "node_modules").symlink_to(QUICKSTART / "node_modules")
    return root


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """The command line of ``pid``, arguments separated by spaces (NULs that pad
    a process title left out)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode()


SDK_MARKS = {"node": "runner.mjs", "python": "motiad_sdk", "ruby": "runner.rb", "go": ".motiad/go/"}
"""What the command line of each language's child holds until it shows its title."""


def sdk_language(pid: int) -> str | None:
    """The language of the SDK child ``pid``: from its process title
    (``motiad: node [...]``), else from the command that started it."""
    try:
        line = command_line(pid)
    except OSError:
        return None
    if line.startswith("motiad: "):
        return line.split(" ")[1]
    return next((language for language, mark in SDK_MARKS.items() if mark in line), None)


async def serving_child(pid: int, language: str) -> int:
    """The one child of ``pid`` that serves ``language``'s steps: the one that
    shows its title (SPEC ``lifecycle.title``; under ``motiad dev`` a warm
    spare beside it shows its command until it serves), waited for."""
    with anyio.fail_after(20):
        while True:
            found = [c for c in children_of(pid) if _shown_language(c) == language]
            if found:
                (child,) = found
                return child
            await anyio.sleep(0.02)


def _shown_language(pid: int) -> str | None:
    try:
        line = command_line(pid)
    except OSError:
        return None
    return line.split(" ")[1] if line.startswith("motiad: ") else None


class MotiadProcess:
    """A running ``motiad`` CLI with its output collected line by line."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = anyio.Event()
        self.url = ""

    async def _collect(self) -> None:
        assert self.process.stdout
        async for line in read_lines(self.process.stdout, 1 << 20):
            if isinstance(line, bytes):
                self.lines.append(_ANSI.sub("", line.decode("utf-8", "replace")))
                self._changed.set()
        self._changed.set()

    async def wait_for(self, pattern: str, *, within: float = 20, start: int = 0) -> re.Match[str]:
        """The first line from ``start`` on matching ``pattern``; fails after ``within`` seconds."""
        regex = re.compile(pattern)
        seen = start
        with anyio.fail_after(within):
            while True:
                for line in self.lines[seen:]:
                    found = regex.search(line)
                    if found:
                        return found
                seen = len(self.lines)
                if self.process.returncode is not None:
                    raise AssertionError(
                        f"motiad exited ({self.process.returncode}) before printing {pattern!r}:\n"
                        + "\n".join(self.lines)
                    )
                self._changed = anyio.Event()
                await self._changed.wait()

    def output(self) -> str:
        """Everything printed so far."""
        return "\n".join(self.lines)

    async def stop(self, sig: signal.Signals = signal.SIGINT, *, within: float = 20) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        with anyio.fail_after(within):
            return await self.process.wait()


@asynccontextmanager
async def motiad(
    *args: str, cwd: Path | None = None, wrap: Sequence[str] = ()
) -> AsyncIterator[MotiadProcess]:
    """Start ``motiad ARGS`` and, for ``run``, wait until it serves. ``wrap`` is
    a command that execs the rest (the process keeps its pid: ``unshare``)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    process = await anyio.open_process(
        [*wrap, sys.executable, "-m", "motiad", *args],
        cwd=cwd,
        env=env,
        stderr=subprocess.STDOUT,
    )
    running = MotiadProcess(process)
    async with anyio.create_task_group() as tg:
        tg.start_soon(running._collect)
        try:
            if args and args[0] in ("run", "dev"):
                found = await running.wait_for(r"serving \d+ steps? on (http://\S+)")
                running.url = found.group(1)
            yield running
        except BaseException:
            # shown by pytest with the failure: what motiad printed explains it
            sys.stderr.write("---- motiad output ----\n" + running.output() + "\n")
            raise
        finally:
            with anyio.CancelScope(shield=True):
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            tg.cancel_scope.cancel()


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a one-shot ``motiad ARGS`` command to completion (bounded by ``timeout``),
    in ``env`` (default: this process's)."""
    env = {**(os.environ if env is None else env), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "motiad", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


SDK_NODE_MODULES = REPO / "sdk-node" / "node_modules"
"""The Node SDK's dev dependencies: tsx, zod and the TypeScript compiler."""


def typed_project(root: Path) -> Path:
    """A copy of the ``typed`` fixture at ``root``: TypeScript steps that use
    zod and ``Handlers[...]``, a Python step, a cron and a noop step."""
    shutil.copytree(FIXTURES / "typed", root)
    (root / "node_modules").symlink_to(SDK_NODE_MODULES)
    return root
