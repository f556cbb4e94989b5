"""Conformance fixture `ConformanceEmit` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceEmit",
    "type": "api",
    "path": "/conformance/emit",
    "method": "POST",
    "emits": ["conformance.emitted"],
}


async def handler(req, context):
    data = req["body"]
    pad = data.get("pad") if isinstance(data, dict) else None
    if isinstance(pad, int) and not isinstance(pad, bool):
        data = {**data, "pad": "x" * pad}
    sent = await context.emit({"topic": "conformance.emitted", "data": data})
    return {"status": 200, "body": {"eventId": sent["eventId"]}}
