"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the
``traceparent`` header that carries a trace across services, parsed and
written. Pure functions, no I/O.

motiad's ids are already W3C-shaped: a trace id is 32 hex digits; the span id
of an invocation or an emit is the last 16 digits of its invocation or event
id (their random part), so every span's W3C id follows from ids motiad keeps
anyway, and an event's delivery knows its parent (the emit) from the event id."""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(
    r"^(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?$"
)
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16
SAMPLED = "01"
_random = random.Random(os.urandom(32))


@dataclass(frozen=True, slots=True)
class TraceParent:
    """What an incoming ``traceparent`` says: the caller's trace and its span."""

    trace_id: str
    parent_id: str
    """The caller's span: the parent of the span motiad starts for the request."""
    flags: str = SAMPLED


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The header's trace and parent, or ``None`` when absent or invalid (the
    spec says: then start a new trace). A later version's extra fields are
    ignored, as the spec asks of version-00 parsers."""
    if not value:
        return None
    found = _TRACEPARENT.match(value.strip())
    if found is None:
        return None
    version, rest = found.group("version"), found.group("rest")
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, parent_id = found.group("trace"), found.group("parent")
    if trace_id == _INVALID_TRACE or parent_id == _INVALID_SPAN:
        return None
    return TraceParent(trace_id, parent_id, found.group("flags"))


def format_traceparent(trace_id: str, span_id: str, flags: str = SAMPLED) -> str:
    """The ``traceparent`` naming ``span_id`` of ``trace_id`` as the parent of
    whatever the receiver does next."""
    return f"00-{trace_id}-{span_id}-{flags}"


def span_id_of(full_id: str) -> str:
    """The W3C span id (16 hex digits) of an invocation or an event: the random
    end of its 32-digit id."""
    return full_id[-16:]


def new_span_id() -> str:
    """A fresh random span id (never all zeros)."""
    return f"{_random.getrandbits(64) | 1:016x}"
