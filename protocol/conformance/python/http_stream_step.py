"""Conformance fixture `ConformanceHttpStream` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceHttpStream",
    "type": "api",
    "path": "/conformance/http-stream",
    "method": "POST",
    "emits": [],
}


async def handler(req, context):
    response = context.stream_response(201, {"x-conformance": "stream"})
    for chunk in req["body"].get("chunks", []):
        await response.write(chunk)
    await response.write(b"\x00\xff")
    return {"status": 200, "body": {"ignored": True}}
