"""Conformance fixture `ConformanceStream` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceStream",
    "type": "api",
    "path": "/conformance/stream",
    "method": "POST",
    "emits": [],
}


async def handler(req, context):
    group = req["body"]["group"]
    stream = context.streams.conformance
    stored = await stream.set(group, "a", {"n": 1})
    got = await stream.get(group, "a")
    items = await stream.get_group(group)
    await stream.send({"groupId": group}, {"type": "ping", "data": {"n": 2}})
    deleted = await stream.delete(group, "a")
    return {
        "status": 200,
        "body": {"set": stored, "got": got, "group": items, "deleted": deleted},
    }
