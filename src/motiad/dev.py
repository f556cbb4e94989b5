"""``motiad dev``: ``run`` plus file watching. A changed step file restarts only
its own step (a changed stream file reloads its stream definition); a new or
removed file adds or removes its steps and routes; a file that fails to load
shows its error while the rest keep serving.

The step folders are watched (watchfiles: inotify and its kin, every change
seen, no timestamps compared) from before the broker loads them, so a file
written at any moment after the load read it is reloaded, however soon."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
from anyio.abc import TaskStatus
from watchfiles import awatch

from .broker import Broker
from .config import LanguageSettings
from .discovery import discover_steps, discover_streams, step_folders
from .errors import MotiadError
from .tracing import LogBus

IDLE_WAKE_MS = 200
"""How long the watcher's thread waits for a change before it comes back empty.
Its first return is the only sign watchfiles gives that the watches are in
place, and stopping the watcher waits for the current wait to end: short
enough for neither to be noticed, long enough to cost nothing when idle."""


def project_files(
    project: Path, dirs: Sequence[str], languages: Mapping[str, LanguageSettings]
) -> set[str]:
    """Every step and stream file of the project, by relative path."""
    files = discover_steps(project, languages, dirs) + discover_streams(project, languages, dirs)
    return {file.relative for file in files}


async def watch(
    broker: Broker,
    serving: anyio.Event,
    *,
    logs: LogBus,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Reload every step and stream file that changes, appears or goes away,
    until cancelled. Reports started once the step folders are watched (start it
    before the broker loads); acts on changes once ``serving`` is set."""
    project = broker.project
    dirs = broker.settings.project.step_dirs
    languages = broker.settings.languages
    folders = step_folders(project, dirs)
    known = await anyio.to_thread.run_sync(project_files, project, dirs, languages)
    started = False
    lost: set[Path] = set()
    async for changes in awatch(*folders, yield_on_timeout=True, rust_timeout=IDLE_WAKE_MS):
        if not started:
            started = True
            task_status.started()
            await serving.wait()  # what changed meanwhile waits in the watcher
        if not changes:
            continue
        for folder in [f for f in folders if f not in lost and not f.is_dir()]:
            lost.add(folder)
            logs.log(
                "warn",
                f"{folder.relative_to(project).as_posix()}/ went away: its steps stop;"
                " restart motiad dev to watch it again",
            )
        try:
            now = await anyio.to_thread.run_sync(project_files, project, dirs, languages)
        except MotiadError as exc:
            if len(lost) < len(folders):  # two languages claim a new file: nothing changes
                logs.log("error", str(exc))
                continue
            now = set()  # every step folder went away
        touched = {_relative(project, path) for _, path in changes} & (known | now)
        # a folder moved in or out reports itself, not the files in it
        touched |= known ^ now
        previous, known = known, now
        for relative in sorted(touched):
            what = (
                "removed"
                if relative not in now
                else "added"
                if relative not in previous
                else "changed"
            )
            await _reload(broker, logs, relative, what)


def _relative(project: Path, path: str) -> str:
    return Path(path).relative_to(project).as_posix()


async def _reload(broker: Broker, logs: LogBus, relative: str, what: str) -> None:
    logs.log("info", f"{relative} {what}; reloading it")
    report = await broker.reload_file(relative)
    for error in report.errors:
        logs.log("error", str(error))
    for step in report.steps:
        logs.log("info", f"ready: {step.type} step, {step.trigger}", step=step.name)
    for stream in report.streams:
        logs.log("info", f"ready: stream {stream.name!r} ({stream.file})")
