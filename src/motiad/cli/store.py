"""Opening a project's storage for one command: ``dlq``, ``emit``, ``traces``
and ``logs`` read and write it whether or not ``motiad run`` is running (a
running broker picks up what they commit within a second)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio

from ..app import broker_is_running
from ..config import load_settings
from ..storage import Store, open_store
from .options import run_async

T = TypeVar("T")


def with_store(project: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the project's storage (SQLite or Redis), run ``action`` on it, close it."""

    async def main() -> T:
        store = open_store(load_settings(project), project)
        async with anyio.create_task_group() as tg:
            await tg.start(store.serve)
            result = await action(store)
            tg.cancel_scope.cancel()
        return result

    return run_async(main)


def delivery_note(project: Path) -> str:
    """What to add after a change to the queue when no broker is there to see it."""
    return "" if broker_is_running(project) else " (delivered when `motiad run` starts)"
