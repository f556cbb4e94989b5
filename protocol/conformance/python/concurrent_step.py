"""Conformance fixture `ConformanceConcurrent` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceConcurrent",
    "type": "event",
    "subscribes": ["conformance.concurrent"],
    "emits": [],
}


async def handler(input, context):
    await context.state.get("conformance", input["key"])
