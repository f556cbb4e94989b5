"""Conformance fixture `ConformanceThrows` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceThrows",
    "type": "event",
    "subscribes": ["conformance.throws"],
    "emits": [],
}


class ConformanceError(Exception):
    """An ordinary, retryable failure."""


async def handler(input, context):
    raise ConformanceError("conformance failure")
