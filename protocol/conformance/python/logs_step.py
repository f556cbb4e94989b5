"""Conformance fixture `ConformanceLogs` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceLogs",
    "type": "event",
    "subscribes": ["conformance.logs"],
    "emits": [],
}


async def handler(input, context):
    context.logger.info("conformance log", {"n": 1})
    if input.get("unsafe"):  # values JSON cannot hold (SPEC `log.notification`)
        nan, unsafe = float("nan"), object()
        fields = {"nan": nan, "inf": float("inf"), "object": unsafe, "list": [nan]}
        context.logger.info("conformance unsafe", fields)
        context.logger.info("conformance not a map", ["a", 1])
    print(f"conformance stdout {input['mark']}")
