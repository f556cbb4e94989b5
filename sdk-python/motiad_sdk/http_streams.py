"""An api invocation's request body read as a stream (SPEC ``http.body-stream``)
and its response written as one (SPEC ``http.stream``).

Both work from either kind of handler, as every context call does: on an event
loop (an ``async def`` handler, or a Motia 1.x handler on its thread's loop)
``async for chunk in body`` and ``await response.write(...)``; in a plain
``def`` handler's thread ``for chunk in body`` and ``response.write(...)``,
which block until the broker answers. Each read takes one chunk from the
broker, which takes it from the client only then (backpressure both ways).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .tables import Method

if TYPE_CHECKING:
    from .context import Channel


class BodyStreamError(ConnectionError):
    """The request body ended before its end (the client went away, or the
    body outgrew the broker's limit): raised by the read that met it."""


class BodyStream:
    """The request body, chunk by chunk (``bytes``): ``async for``, ``for``, or
    :meth:`read` for the rest at once. With ``whole``, the body the broker
    already sent (a step that does not stream its body) as one chunk."""

    def __init__(self, channel: Channel | None, whole: bytes | None = None) -> None:
        self._channel = channel
        self._whole = whole
        self._done = False

    def _next(self, answer: Mapping[str, Any]) -> bytes | None:
        if answer.get("error"):
            self._done = True
            raise BodyStreamError(str(answer["error"]))
        self._done = bool(answer.get("done"))
        chunk = base64.b64decode(str(answer.get("chunk", "")))
        return chunk or None

    def _take_whole(self) -> bytes | None:
        whole, self._whole, self._done = self._whole, None, True
        return whole or None

    def __iter__(self) -> Iterator[bytes]:
        while not self._done:
            if self._channel is None:
                chunk = self._take_whole()
            else:
                chunk = self._next(self._channel.call_blocking(Method.HTTP_READ, {}))
            if chunk is not None:
                yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._done:
            if self._channel is None:
                chunk = self._take_whole()
            else:
                answer = self._channel.call(Method.HTTP_READ, {})
                if not isinstance(answer, Mapping):  # an awaitable on a loop
                    answer = await answer
                chunk = self._next(answer)
            if chunk is not None:
                yield chunk

    def read(self) -> bytes:
        """The rest of the body (blocking: from a plain ``def`` handler)."""
        return b"".join(self)


class ResponseStream:
    """A streamed response: each :meth:`write` sends one chunk with
    ``http.write``, the first with the status and headers, and returns once
    the client's connection took it."""

    def __init__(
        self, channel: Channel, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self._channel = channel
        self._head: dict[str, Any] | None = {"status": status, "headers": dict(headers or {})}

    def write(self, data: bytes | str) -> Any:
        """Send ``data`` (text as UTF-8); an awaitable on a loop, else blocks."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        params: dict[str, Any] = {"chunk": base64.b64encode(raw).decode(), "encoding": "base64"}
        if self._head is not None:
            params.update(self._head)
            self._head = None
        return self._channel.call(Method.HTTP_WRITE, params)
