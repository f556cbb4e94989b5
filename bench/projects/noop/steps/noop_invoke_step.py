"""A no-op event handler: the invoke micro-benchmark drives it straight through
motiad.supervisor.Child (broker -> child -> broker), no HTTP, no storage."""

from typing import Any

config = {"name": "NoopPy", "type": "event", "subscribes": ["noop"], "emits": []}


async def handler(input: Any, context: Any) -> None:
    pass
