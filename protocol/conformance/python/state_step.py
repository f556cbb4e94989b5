"""Conformance fixture `ConformanceState` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceState",
    "type": "api",
    "path": "/conformance/state",
    "method": "POST",
    "emits": [],
}


async def handler(req, context):
    group = req["body"]["group"]
    stored = await context.state.set(group, "a", {"n": 1})
    await context.state.set(group, "b", {"n": 2})
    got = await context.state.get(group, "a")
    values = await context.state.get_group(group)
    deleted = await context.state.delete(group, "a")
    await context.state.clear(group)
    return {
        "status": 200,
        "body": {"set": stored, "got": got, "group": values, "deleted": deleted},
    }
