"""A small OTLP/HTTP receiver for the export test: it accepts
``POST /v1/traces`` and ``/v1/logs`` and decodes them with the OpenTelemetry
protobuf definitions (``opentelemetry-proto``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskStatus
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"


class OtlpReceiver:
    """What arrived, decoded: spans and log records, each as (resource
    attributes, the proto object)."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.logs: list[Any] = []
        self.service_names: set[str] = set()
        self.port = 0
        self._arrived = anyio.Event()

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        """Listen on a free loopback port until cancelled."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener:
            self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
            task_status.started()
            await listener.serve(self._connection)

    async def until(self, done: Callable[[], bool], *, within: float = 60) -> None:
        """Wait until ``done()`` holds, looking again whenever a request arrives."""
        with anyio.fail_after(within):
            while not done():
                self._arrived = anyio.Event()
                await self._arrived.wait()

    async def _connection(self, stream: SocketStream) -> None:
        buffered = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffered:
                    try:
                        buffered += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
                }
                length = int(headers.get("content-length", "0"))
                while len(buffered) < length:
                    buffered += await stream.receive()
                body, buffered = buffered[:length], buffered[length:]
                self._decode(path, body)
                await stream.send(_OK)
                self._arrived.set()

    def _decode(self, path: str, body: bytes) -> None:
        if path.endswith("/v1/traces"):
            traces = ExportTraceServiceRequest.FromString(body)
            for resource_spans in traces.resource_spans:
                self._resource(resource_spans.resource)
                for scope in resource_spans.scope_spans:
                    self.spans.extend(scope.spans)
        elif path.endswith("/v1/logs"):
            logs = ExportLogsServiceRequest.FromString(body)
            for resource_logs in logs.resource_logs:
                self._resource(resource_logs.resource)
                for scope in resource_logs.scope_logs:
                    self.logs.extend(scope.log_records)

    def _resource(self, resource: Any) -> None:
        for attribute in resource.attributes:
            if attribute.key == "service.name":
                self.service_names.add(attribute.value.string_value)


def attributes(item: Any) -> dict[str, Any]:
    """A span's or log record's attributes as a plain dict."""
    found: dict[str, Any] = {}
    for attribute in item.attributes:
        value = attribute.value
        found[attribute.key] = getattr(value, value.WhichOneof("value"))
    return found
