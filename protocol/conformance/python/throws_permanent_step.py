"""Conformance fixture `ConformanceThrowsPermanent` (protocol/SPEC.md §11.1)."""

from motiad_sdk import NonRetryableError

config = {
    "name": "ConformanceThrowsPermanent",
    "type": "event",
    "subscribes": ["conformance.permanent"],
    "emits": [],
}


async def handler(input, context):
    raise NonRetryableError("permanent failure")
