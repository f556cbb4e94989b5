"""Conformance fixture `ConformanceIgnoresCancel` (protocol/SPEC.md §11.1)."""

import asyncio
import contextlib

config = {
    "name": "ConformanceIgnoresCancel",
    "type": "event",
    "subscribes": ["conformance.stubborn"],
    "emits": [],
}


async def handler(input, context):
    ms = (input or {}).get("ms", 1000)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ms / 1000
    while (left := deadline - loop.time()) > 0:
        # Cancellation is swallowed on purpose: this fixture does not stop early.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(left)
