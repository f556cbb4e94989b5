"""Conformance fixture `ConformanceLogs` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceLogs",
    "type": "event",
    "subscribes": ["conformance.logs"],
    "emits": [],
}


async def handler(input, context):
    context.logger.info("conformance log", {"n": 1})
    print(f"conformance stdout {input['mark']}")
