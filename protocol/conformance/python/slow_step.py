"""Conformance fixture `ConformanceSlow` (protocol/SPEC.md §11.1): stops when cancelled."""

import asyncio

config = {
    "name": "ConformanceSlow",
    "type": "event",
    "subscribes": ["conformance.slow"],
    "emits": [],
}


async def handler(input, context):
    ms = (input or {}).get("ms", 60000)
    await asyncio.sleep(ms / 1000)
