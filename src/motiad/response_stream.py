"""A streamed HTTP response (SPEC ``http.write``): what the HTTP edge gives the
broker so that an invocation can send its status, headers and body chunks as
the handler writes them (Motia 1.x's ``response.stream``, server-sent events).

The edge owns the connection; the broker only calls :meth:`ResponseSink.start`
once and :meth:`ResponseSink.write` per chunk, awaiting each: a child's
``http.write`` is answered when the chunk has gone to the connection, which is
how a slow client slows the handler down (backpressure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class ResponseSink(Protocol):
    """Where a streamed response goes."""

    @property
    def started(self) -> bool:
        """The status and headers have been sent."""
        ...

    async def start(self, status: int, headers: Mapping[str, str]) -> None:
        """Send the status and headers (once, before the first chunk)."""
        ...

    async def write(self, chunk: bytes) -> None:
        """Send one chunk of the body; returns once the connection took it."""
        ...
