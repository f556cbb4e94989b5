"""A language's ``build`` command (runner registry): run once before the
language's children start, with its output in the log, so the first-run cost
of a compiled language (Go) is visible and a failure names the files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

import anyio

from .config import Language, Settings
from .errors import ConfigError
from .runners import build_command
from .tracing import LogBus
from .transport import LineTooLong, read_lines

BUILD_TIMEOUT_S = 600.0
"""A bound, not an expectation: a cold Go build of a few steps takes seconds,
but a first build on a busy machine compiles the standard library too."""
OUTPUT_TAIL = 30
"""Lines of a failed build's output repeated in its error (all of it is logged)."""
_LINE_LIMIT = 64 * 1024
BUILD_LOG_PREFIX = "build "
"""Log records of a build name their "step" ``build LANGUAGE``."""


async def build_language(
    language: Language, project: Path, settings: Settings, files: list[Path], logs: LogBus
) -> None:
    """Run ``language``'s build for ``files`` (nothing when it has none). Raises
    :class:`ConfigError` naming the files when it cannot start, fails or hangs."""
    command = build_command(language, project, settings, files)
    if command is None:
        return
    label = f"{BUILD_LOG_PREFIX}{language}"
    where = ", ".join(file.relative_to(project).as_posix() for file in files)
    key = f"languages.{language}.build"
    logs.log("info", f"building {len(files)} {language} step file(s)", step=label)
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
    started = time.monotonic()
    try:
        process = await anyio.open_process(
            command.argv,
            cwd=command.cwd,
            env=command.env,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise ConfigError(where, f"the {language} build cannot start: {exc}", field=key) from None
    try:
        with anyio.fail_after(BUILD_TIMEOUT_S):
            assert process.stdout is not None
            async for line in read_lines(process.stdout, _LINE_LIMIT):
                text = (
                    "<a long line>"
                    if isinstance(line, LineTooLong)
                    else line.decode(errors="replace")
                )
                tail.append(text)
                logs.log("info", text, step=label)
            code = await process.wait()
    except TimeoutError:
        raise ConfigError(
            where, f"the {language} build did not finish within {BUILD_TIMEOUT_S:g}s", field=key
        ) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await process.aclose()
    if code != 0:
        output = "\n".join(f"  {line}" for line in tail)
        raise ConfigError(
            where,
            f"the {language} build failed (exit {code}); not started."
            + (f" Its output:\n{output}" if output else ""),
            field=key,
        )
    logs.log("info", f"built in {time.monotonic() - started:.1f}s", step=label)
