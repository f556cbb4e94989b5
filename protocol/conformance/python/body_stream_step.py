"""Conformance fixture `ConformanceBodyStream` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceBodyStream",
    "type": "api",
    "path": "/conformance/body-stream",
    "method": "POST",
    "emits": [],
    "streamBody": True,
}


async def handler(req, context):
    seen = [chunk async for chunk in context.body_stream]
    whole = b"".join(seen)
    body = {"bytes": len(whole), "chunks": len(seen), "hex": whole[:16].hex()}
    return {"status": 200, "body": body}
