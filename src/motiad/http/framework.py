"""The quart app under the reserved prefix (the workbench, its JSON API, the
stream routes), built at the first request that needs it. A broker whose
workbench nobody opens never imports quart and what it brings (werkzeug, jinja2,
flask's parts: ~11 MB of the broker's memory, and a share of its start); the
probes, the metrics page, API steps and Motia's stream socket never needed it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from quart import Quart

    from .api import Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class WorkbenchOptions:
    """How the workbench is served."""

    token: str | None
    """Required on every request when set."""
    stop: anyio.Event
    """Set when the server begins to stop: live streams end so that it can."""


class LazyFramework:
    """The quart app, imported (in a worker thread, off the loop) and started
    at its first request; stopped with the server if it was ever started."""

    def __init__(self, build: Callable[[Any], Quart]) -> None:
        self._build = build
        """Builds the app, given the module :mod:`motiad.http.quart_app`."""
        self._app: Quart | None = None
        self._starting = anyio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._start()
        await app(scope, receive, send)  # type: ignore[arg-type]

    async def _start(self) -> Quart:
        async with self._starting:
            if self._app is None:
                module = await anyio.to_thread.run_sync(
                    importlib.import_module, "motiad.http.quart_app"
                )
                app = self._build(module)
                await app.startup()  # its before_serving hooks, as hypercorn's lifespan would
                self._app = app
        return self._app

    async def shutdown(self) -> None:
        """Stop the app (its background tasks end) if it was started."""
        if self._app is not None:
            await self._app.shutdown()
