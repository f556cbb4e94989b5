"""``motiad dev``: ``run`` plus file watching. A changed step file restarts only
its own step (a changed stream file reloads its stream definition); a new or
removed file adds or removes its steps and routes; a file that fails to load
shows its error while the rest keep serving."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio

from .broker import Broker
from .config import LanguageSettings
from .discovery import discover_steps, discover_streams
from .errors import MotiadError
from .tracing import LogBus

POLL_S = 0.4
"""How often the project is scanned: quick enough to feel immediate, and long
enough that an editor's save (write, rename) has settled when it is seen."""


def snapshot(
    project: Path, languages: Mapping[str, LanguageSettings] | None = None
) -> dict[str, int]:
    """Each step and stream file's modification time, by relative path."""
    try:
        files = discover_steps(project, languages) + discover_streams(project, languages)
    except MotiadError:
        return {}  # steps/ removed for a moment (a checkout): wait for it to return
    stamps: dict[str, int] = {}
    for file in files:
        try:
            stamps[file.relative] = file.path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
    return stamps


async def watch(broker: Broker, logs: LogBus) -> None:
    """Reload every step file that changes, until cancelled."""
    languages = broker.settings.languages
    seen = await anyio.to_thread.run_sync(snapshot, broker.project, languages)
    while True:
        await anyio.sleep(POLL_S)
        now = await anyio.to_thread.run_sync(snapshot, broker.project, languages)
        changed = sorted(
            path for path in seen.keys() | now.keys() if seen.get(path) != now.get(path)
        )
        previous, seen = seen, now
        for relative in changed:
            what = (
                "removed"
                if relative not in now
                else "added"
                if relative not in previous
                else "changed"
            )
            logs.log("info", f"{relative} {what}; reloading it")
            report = await broker.reload_file(relative)
            for error in report.errors:
                logs.log("error", str(error))
            for step in report.steps:
                logs.log("info", f"ready: {step.type} step, {step.trigger}", step=step.name)
            for stream in report.streams:
                logs.log("info", f"ready: stream {stream.name!r} ({stream.file})")
