"""Every API request as a server span of W3C Trace Context: an incoming
``traceparent`` continues the caller's trace, the response carries the
request's own ``traceparent``, and the finished request is published (the
metrics count it; the OpenTelemetry export sends it)."""

from __future__ import annotations

import time
from typing import Any

from ..signals import CURRENT_REQUEST, RequestSpan
from ..trace_context import format_traceparent, new_span_id, parse_traceparent
from ..tracing import Bus, new_id
from .api import Message, Receive, Scope, Send

REQUEST_SPAN = "motiad.request_span"
"""The ASGI scope key of the request's :class:`RequestSpan` (the API handler
takes its trace id from it and names the step that served it)."""


class Observed:
    """ASGI middleware in front of the API handler."""

    def __init__(self, app: Any, requests: Bus[RequestSpan]) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        traceparent = tracestate = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate = value.decode("latin-1")
        caller = parse_traceparent(traceparent)
        span = RequestSpan(
            caller.trace_id if caller else new_id(),
            new_span_id(),
            caller.parent_id if caller else None,
            scope["method"],
            time.time(),
            tracestate=tracestate if caller else None,
        )
        scope[REQUEST_SPAN] = span
        header = (b"traceparent", format_traceparent(span.trace_id, span.span_id).encode())

        async def respond(message: Message) -> None:
            if message["type"] == "http.response.start":
                span.status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        current = CURRENT_REQUEST.set(span)
        try:
            await self.app(scope, receive, respond)
        finally:
            CURRENT_REQUEST.reset(current)
            span.ended_at = time.time()
            self.requests.publish(span)
