"""Conformance fixture `ConformanceEcho` (protocol/SPEC.md §11.1)."""

config = {
    "name": "ConformanceEcho",
    "type": "api",
    "path": "/conformance/echo",
    "method": "POST",
    "emits": [],
}


async def handler(req, context):
    body = {
        "body": req["body"],
        "pathParams": req["pathParams"],
        "queryParams": req["queryParams"],
        "traceId": context.trace_id,
        # invoke.traceparent is a SHOULD: the spec appendix's core child has none
        "traceparent": getattr(context, "traceparent", None),
    }
    pad = req["body"].get("pad") if isinstance(req["body"], dict) else None
    if isinstance(pad, int) and not isinstance(pad, bool):
        body["pad"] = "x" * pad
    return {"status": 200, "body": body, "headers": {"x-conformance": "echo"}}
