"""A pool of children hosting the same steps: each invocation goes to the
least busy one, so CPU-bound handlers of one step (sync Python, which one
interpreter runs one at a time) use as many cores as the pool has children."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import anyio
import msgspec

from .protocol.messages import InvokeParams
from .supervisor import Child


class ChildPool:
    """One or more supervised children started from the same spec. A child
    restarts on its own (see :class:`Child`); the others keep serving meanwhile."""

    def __init__(self, children: Sequence[Child]) -> None:
        assert children, "a pool has at least one child"
        self.children = tuple(children)
        self._busy = [0] * len(children)

    @property
    def label(self) -> str:
        """How logs and listings name it: its first child's label."""
        return self.children[0].spec.label

    async def invoke(self, params: InvokeParams) -> msgspec.Raw | None:
        """Run one handler in the least busy child (see :meth:`Child.invoke`)."""
        busy = self._busy
        if len(busy) == 1:  # the common case: no choice, no bookkeeping
            return await self.children[0].invoke(params)
        index = busy.index(min(busy))
        busy[index] += 1
        try:
            return await self.children[index].invoke(params)
        finally:
            busy[index] -= 1

    async def stop(self, *, now: bool = False) -> None:
        """Stop every child, at once (``now``: without the stages, see :meth:`Child.stop`)."""
        async with anyio.create_task_group() as tg:
            for child in self.children:
                tg.start_soon(partial(child.stop, now=now))
