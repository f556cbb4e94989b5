"""Whether this broker should get traffic now: what ``GET /__motiad/ready``
answers a load balancer. Alive (``/health``) is simpler: the process serves.

Ready means: every step loaded and its child started, storage reachable, and
not stopping. The reason given when not ready is one of a few fixed phrases,
so the probe reveals nothing about the project."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

Phase = Literal["starting", "serving", "draining"]

NOT_LOADED = "a step failed to load"
STORAGE_DOWN = "storage is unreachable"
CHILD_DOWN = "a step's process is restarting"


class Readiness:
    """The broker's readiness, set by its owner (the run) and by the store's
    health reports; read by the probe."""

    def __init__(self, phase: Phase = "starting") -> None:
        self.phase = phase
        self._load_failed: Callable[[], bool] = lambda: False
        self._storage_down = False
        self._children_up: Callable[[], bool] = lambda: True

    def serving(
        self,
        *,
        load_failed: Callable[[], bool] = lambda: False,
        children_up: Callable[[], bool] = lambda: True,
    ) -> None:
        """The broker serves; ``load_failed`` says, when asked, whether some
        step does not load now (``motiad run --allow-broken``: until a restart
        with the step fixed; ``motiad dev``: until the file is fixed), which
        keeps it not ready; ``children_up``, whether every step's process runs."""
        self.phase = "serving"
        self._load_failed = load_failed
        self._children_up = children_up

    def draining(self) -> None:
        """Stopping: a load balancer must send no more requests."""
        self.phase = "draining"

    def storage_health(self, level: Literal["info", "error"], _message: str) -> None:
        """The store's health callback: ``error`` when it became unreachable,
        ``info`` when it is back."""
        self._storage_down = level == "error"

    def reason(self) -> str | None:
        """Why the broker is not ready, or ``None`` when it is."""
        if self.phase != "serving":
            return self.phase
        if self._load_failed():
            return NOT_LOADED
        if self._storage_down:
            return STORAGE_DOWN
        if not self._children_up():
            return CHILD_DOWN
        return None
