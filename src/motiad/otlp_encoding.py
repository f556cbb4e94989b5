"""What motiad's OTLP export sends (:mod:`.telemetry` decides when and where):
spans and log records as the bodies of OTLP/HTTP requests, in the
OpenTelemetry protobuf definitions (``opentelemetry-proto``, the ``otel`` extra,
imported when an encoder is made). The parts of a span that differ from span to
span are written as protobuf's wire format by hand, the rest built once per
shape of span with the protobuf classes (see :meth:`OtlpEncoder.traces`)."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .signals import EmitSpan, RequestSpan
from .trace_context import span_id_of
from .tracing import LogRecord, Span

if TYPE_CHECKING:  # the otel extra: imported at run time only when configured
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as OtlpLogRecord
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

SHAPES_KEPT = 4096
"""Shapes of span kept serialised (steps x outcomes x attempts, routes x
statuses, topics): more than a project has; beyond, the cache starts over."""

Record = Span | RequestSpan | EmitSpan


class OtlpEncoder:
    """Encodes batches of spans and of log records for one service; counts the
    records it had to leave out (an id that is not hex)."""

    def __init__(self, service: str) -> None:
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2

        self._resource = resource_pb2.Resource(
            attributes=[
                common_pb2.KeyValue(
                    key="service.name", value=common_pb2.AnyValue(string_value=service)
                )
            ]
        )
        self._scope = common_pb2.InstrumentationScope(name="motiad")
        self._resource_field = _length_delimited(b"\x0a", self._resource.SerializeToString())
        """ResourceSpans' field 1, the resource, serialised once."""
        self._scope_field = _length_delimited(b"\x0a", self._scope.SerializeToString())
        """ScopeSpans' field 1, the scope, serialised once."""
        self._shapes: dict[tuple[Any, ...], bytes] = {}
        """The shared part of each shape of span seen, serialised (see :meth:`traces`)."""
        self.unencodable = {"spans": 0, "logs": 0}
        """Records left out of a batch, by signal, since :meth:`take_unencodable`."""

    def take_unencodable(self) -> dict[str, int]:
        """The records left out since the last call, by signal."""
        left_out, self.unencodable = self.unencodable, {"spans": 0, "logs": 0}
        return left_out

    def traces(self, records: Sequence[Record]) -> bytes:
        """An ``ExportTraceServiceRequest`` of ``records``, serialised.

        Most of a span is the same for every span of its shape (its name,
        kind and attributes: an invocation of one step with one outcome, a
        request to one route with one status, an emit of one topic): that
        part is built once per shape with the OpenTelemetry protobuf classes
        and kept serialised; what differs per span (ids, times, the
        invocation or event id) is written here, field by field, and the two
        are concatenated, which protobuf defines as merging them. Building
        every span as a message cost 8 µs a span, this a fraction of it."""
        shapes = self._shapes
        parts: list[bytes] = [b""]  # the envelope, once its size is known
        size = 0
        for record in records:
            try:
                own = _own_fields(record)
            except ValueError:  # an id that is not hex: the one record is left out
                self.unencodable["spans"] += 1
                continue
            shape = _shape(record)
            kept = None if shape is None else shapes.get(shape)
            if kept is not None:
                shared = kept
            else:
                shared = self._shaped(record)
                if shape is not None:  # None: an error, whose status and event are its own
                    if len(shapes) >= SHAPES_KEPT:
                        shapes.clear()
                    shapes[shape] = shared
            length = len(own) + len(shared)
            head = _SPAN_HEADS.get(length)
            if head is None:
                head = _SPAN_FIELD + _varint(length)
                if length < 2048:  # spans of one shape have one length or a few
                    _SPAN_HEADS[length] = head
            parts += (head, own, shared)
            size += len(head) + length
        # ScopeSpans {scope, spans...} inside ResourceSpans {resource, scope_spans}
        # inside the request {resource_spans}: each a length-delimited field
        scope_spans = len(self._scope_field) + size
        resource_spans = len(self._resource_field) + 1 + len(_varint(scope_spans)) + scope_spans
        parts[0] = b"".join(
            (
                b"\x0a",
                _varint(resource_spans),
                self._resource_field,
                b"\x12",
                _varint(scope_spans),
                self._scope_field,
            )
        )
        return b"".join(parts)

    def _shaped(self, record: Record) -> bytes:
        """The part of ``record``'s span that is the same for its whole shape."""
        from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

        span = OtlpSpan()
        _fill_shape(span, record)
        serialised: bytes = span.SerializeToString()
        return serialised

    def logs(self, records: Sequence[LogRecord]) -> bytes:
        """An ``ExportLogsServiceRequest`` of ``records``, serialised."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )

        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.CopyFrom(self._resource)
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.CopyFrom(self._scope)
        logs = scope_logs.log_records
        for record in records:
            try:
                _fill_log(logs.add(), record)
            except ValueError:  # an id that is not hex: the one record is left out
                del logs[-1]
                self.unencodable["logs"] += 1
        serialised: bytes = request.SerializeToString()
        return serialised


# OTLP enum values (opentelemetry/proto/trace/v1/trace.proto, logs.proto)
# (Any: the stubs type them as the enums' own classes, imported only when configured)
_INTERNAL: Any = 1
_SERVER: Any = 2
_PRODUCER: Any = 4
_CONSUMER: Any = 5
_STATUS_ERROR: Any = 2
_SAMPLED = 1
_SEVERITY: dict[str, Any] = {"debug": 5, "info": 9, "warn": 13, "error": 17}


def _shape(record: Record) -> tuple[Any, ...] | None:
    """What the shared part of ``record``'s span depends on (see
    :func:`_fill_shape`); ``None`` when it is the record's own (an error)."""
    # the exact type, not isinstance (Span's metaclass makes that a slow call),
    # here and in _own_fields: run for every span exported; no record is subclassed
    if type(record) is Span:
        if record.error is not None:
            return None
        topic = record.detail if record.trigger == "event" else None
        return (Span, record.step, record.trigger, topic, record.attempt, record.outcome)
    if type(record) is EmitSpan:
        return (EmitSpan, record.topic, record.step)
    if type(record) is RequestSpan:
        return (RequestSpan, record.method, record.route, record.step, record.status)
    return None  # not one of ours exactly: built on its own


def _fill_shape(span: OtlpSpan, record: Record) -> None:
    """The fields of ``record``'s span that :func:`_own_fields` does not write."""
    span.flags = _SAMPLED
    attributes = span.attributes
    if isinstance(record, RequestSpan):
        span.name = f"{record.method} {record.route}" if record.route else record.method
        span.kind = _SERVER
        _text(attributes, "http.request.method", record.method)
        _number(attributes, "http.response.status_code", record.status)
        if record.route:
            _text(attributes, "http.route", record.route)
            _text(attributes, "motiad.step", record.step)
        if record.status >= 500:
            span.status.code = _STATUS_ERROR
        return
    if isinstance(record, EmitSpan):
        span.name = f"emit {record.topic}"
        span.kind = _PRODUCER
        _text(attributes, "messaging.destination.name", record.topic)
        _text(attributes, "motiad.topic", record.topic)
        if record.step:
            _text(attributes, "motiad.step", record.step)
        return
    # a request refused before any step was found has no step: its path names it
    span.name = f"{record.trigger} {record.step or record.detail}"
    span.kind = _CONSUMER if record.trigger == "event" else _INTERNAL
    _text(attributes, "motiad.step", record.step)
    _text(attributes, "motiad.trigger", record.trigger)
    _number(attributes, "motiad.attempt", record.attempt)
    _text(attributes, "motiad.outcome", record.outcome)
    if record.trigger == "event":
        _text(attributes, "motiad.topic", record.detail)
    if record.error is not None:
        span.status.code = _STATUS_ERROR
        span.status.message = record.error.message
        event = span.events.add()
        event.name = "exception"
        event.time_unix_nano = _nanos(record.ended_at)
        _text(event.attributes, "exception.type", record.error.type)
        _text(event.attributes, "exception.message", record.error.message)
        if record.error.stack:
            _text(event.attributes, "exception.stacktrace", record.error.stack)


# Span's own fields, written as protobuf's wire format (opentelemetry/proto/
# trace/v1/trace.proto): a tag is (field number << 3 | wire type), wire type
# 2 a length and that many bytes, 1 eight bytes little-endian.
_SPAN_FIELD = b"\x12"  # ScopeSpans.spans (2)
_SPAN_HEADS: dict[int, bytes] = {}
"""A span's field header (tag and length) by its length, made once."""
_TRACE_ID = b"\x0a"  # 1
_SPAN_ID = b"\x12"  # 2
_TRACE_STATE = b"\x1a"  # 3
_PARENT_SPAN_ID = b"\x22"  # 4
_TIMES = struct.Struct("<BQBQ").pack  # start_time_unix_nano (7), end_time_unix_nano (8)
_START, _END = 7 << 3 | 1, 8 << 3 | 1
_ATTRIBUTE = b"\x4a"  # attributes (9): KeyValue {key (1), value (2): AnyValue {string_value (1)}}


_ONE_BYTE = [bytes((n,)) for n in range(128)]


def _varint(n: int) -> bytes:
    """``n`` (≥ 0) as a protobuf varint: seven bits a byte, low first."""
    if n < 128:
        return _ONE_BYTE[n]
    if n < 16384:  # a span, a batch of a few spans
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _length_delimited(tag: bytes, data: bytes) -> bytes:
    return tag + _varint(len(data)) + data


_W3C_TRACE_ID = b"\x0a\x10"  # trace_id (1), 16 bytes
_W3C_SPAN_ID = b"\x12\x08"  # span_id (2), 8 bytes
_W3C_PARENT = b"\x22\x08"  # parent_span_id (4), 8 bytes
_fromhex = bytes.fromhex


def _own_fields(record: Record) -> bytes:
    """The fields of ``record``'s span that differ from span to span: ids,
    times, and the invocation or event id. ``ValueError``: an id is not hex."""
    if type(record) is Span:
        # the common case, written with the lengths of W3C ids known (motiad's
        # ids are hex it made; a caller's passed parse_traceparent's pattern)
        trace_id, own, parent = record.trace_id, record.id, record.parent_id
        if len(trace_id) == 32 and len(own) == 32 and (not parent or len(parent) == 16):
            return b"".join(
                (
                    _W3C_TRACE_ID,
                    _fromhex(trace_id),
                    _W3C_SPAN_ID,
                    _fromhex(own[16:]),
                    _TIMES(_START, int(record.started_at * 1e9), _END, int(record.ended_at * 1e9)),
                    _W3C_PARENT + _fromhex(parent) if parent else b"",
                    _INVOCATION_ID_32,
                    own.encode(),
                )
            )
    elif type(record) is RequestSpan:
        trace_id, own, parent = record.trace_id, record.span_id, record.parent_id
        if len(trace_id) == 32 and len(own) == 16 and (not parent or len(parent) == 16):
            started, ended = int(record.started_at * 1e9), int(record.ended_at * 1e9)
            fields = b"".join(
                (
                    _W3C_TRACE_ID,
                    _fromhex(trace_id),
                    _W3C_SPAN_ID,
                    _fromhex(own),
                    _TIMES(_START, started, _END, ended),
                    _W3C_PARENT + _fromhex(parent) if parent else b"",
                )
            )
            if record.tracestate:  # the caller's, travelling on with its trace
                fields += _length_delimited(_TRACE_STATE, record.tracestate.encode())
            return fields
    elif type(record) is EmitSpan:
        trace_id, own, parent = record.trace_id, record.event_id, record.invocation_id
        if len(trace_id) == 32 and len(own) == 32 and (not parent or len(parent) == 32):
            at = int(record.at * 1e9)
            return b"".join(
                (
                    _W3C_TRACE_ID,
                    _fromhex(trace_id),
                    _W3C_SPAN_ID,
                    _fromhex(own[16:]),
                    _TIMES(_START, at, _END, at),
                    _W3C_PARENT + _fromhex(parent[16:]) if parent else b"",
                    _MESSAGE_ID_32,
                    own.encode(),
                )
            )
    return _own_fields_of_any_length(record)


def _own_fields_of_any_length(record: Record) -> bytes:
    """:func:`_own_fields`, whatever the lengths of the ids."""
    if isinstance(record, RequestSpan):
        parts = [
            _length_delimited(_TRACE_ID, bytes.fromhex(record.trace_id)),
            _length_delimited(_SPAN_ID, bytes.fromhex(record.span_id)),
            _TIMES(_START, _nanos(record.started_at), _END, _nanos(record.ended_at)),
        ]
        if record.parent_id:
            parts.append(_length_delimited(_PARENT_SPAN_ID, bytes.fromhex(record.parent_id)))
        if record.tracestate:  # the caller's, travelling on with its trace
            parts.append(_length_delimited(_TRACE_STATE, record.tracestate.encode()))
        return b"".join(parts)
    if isinstance(record, EmitSpan):
        at = _nanos(record.at)
        return b"".join(
            (
                _length_delimited(_TRACE_ID, bytes.fromhex(record.trace_id)),
                _length_delimited(_SPAN_ID, bytes.fromhex(span_id_of(record.event_id))),
                _TIMES(_START, at, _END, at),
                b""
                if not record.invocation_id
                else _length_delimited(
                    _PARENT_SPAN_ID, bytes.fromhex(span_id_of(record.invocation_id))
                ),
                _text_attribute(_MESSAGE_ID, record.event_id),
            )
        )
    return b"".join(
        (
            _length_delimited(_TRACE_ID, bytes.fromhex(record.trace_id)),
            _length_delimited(_SPAN_ID, bytes.fromhex(span_id_of(record.id))),
            _TIMES(_START, _nanos(record.started_at), _END, _nanos(record.ended_at)),
            b""
            if not record.parent_id
            else _length_delimited(_PARENT_SPAN_ID, bytes.fromhex(record.parent_id)),
            _text_attribute(_INVOCATION_ID, record.id),
        )
    )


def _attribute_key(key: str) -> bytes:
    return _length_delimited(b"\x0a", key.encode())


def _text_attribute(key: bytes, value: str) -> bytes:
    """An attribute (a ``KeyValue``) whose value is text; ``key``: its key field."""
    any_value = _length_delimited(b"\x0a", value.encode())
    return _length_delimited(_ATTRIBUTE, key + _length_delimited(b"\x12", any_value))


_MESSAGE_ID = _attribute_key("messaging.message.id")
_INVOCATION_ID = _attribute_key("motiad.invocation_id")
_MESSAGE_ID_32 = _text_attribute(_MESSAGE_ID, "0" * 32)[:-32]
"""A ``messaging.message.id`` attribute up to its value of 32 characters."""
_INVOCATION_ID_32 = _text_attribute(_INVOCATION_ID, "0" * 32)[:-32]
"""A ``motiad.invocation_id`` attribute up to its value of 32 characters."""


def _fill_log(log: OtlpLogRecord, record: LogRecord) -> None:
    """``log`` (a fresh protobuf LogRecord) made from a motiad log record."""
    log.time_unix_nano = _nanos(record.time)
    log.severity_number = _SEVERITY[record.level]
    log.severity_text = record.level.upper()
    log.body.string_value = record.message
    if record.trace_id is not None and len(record.trace_id) == 32:
        log.trace_id = bytes.fromhex(record.trace_id)
        log.flags = _SAMPLED
        if record.invocation_id is not None:
            log.span_id = bytes.fromhex(span_id_of(record.invocation_id))
    if record.step:
        _text(log.attributes, "motiad.step", record.step)
    for key, value in (record.fields or {}).items():
        if isinstance(value, bool):
            attribute = log.attributes.add()
            attribute.key = key
            attribute.value.bool_value = value
        elif isinstance(value, int | float):
            _number(log.attributes, key, value)
        else:
            _text(log.attributes, key, value if isinstance(value, str) else _json(value))


def _text(attributes: Any, key: str, value: str) -> None:
    attribute: KeyValue = attributes.add()
    attribute.key = key
    attribute.value.string_value = value


def _number(attributes: Any, key: str, value: float) -> None:
    attribute: KeyValue = attributes.add()
    attribute.key = key
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        attribute.value.int_value = value
    else:
        attribute.value.double_value = float(value)


def _nanos(seconds: float) -> int:
    return int(seconds * 1e9)


def _json(value: Any) -> str:
    """A field OTLP attributes cannot hold as such (a list, an object), as JSON."""
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return str(value)
