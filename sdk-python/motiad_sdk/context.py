"""The ``context`` a handler receives: emit, state, logger and ids (Motia's Python names).

Every call works from both kinds of handler. On the event loop thread (an
``async def`` handler) a call returns an awaitable. From a worker thread (a
plain ``def`` handler) it blocks until the broker answers and returns the value,
so ``context.state.set(...)`` reads like ordinary code there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Mapping
from typing import Any, Final

from .errors import BrokerGoneError
from .http_streams import BodyStream, ResponseStream
from .protocol import JsonObject, LineTooLongError
from .rpc import Peer, report
from .tables import Method
from .values import to_jsonable, wrap

_LOG_LEVELS: Final = {
    "debug": "debug",
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
}

_DROPPED_MESSAGE_CHARS: Final = 200
"""How much of a log message too long to send is quoted on stderr: enough to
recognise it, short enough for one readable line."""


class Channel:
    """How one invocation's context reaches the broker, from any thread."""

    def __init__(self, peer: Peer, loop: asyncio.AbstractEventLoop, invocation_id: str) -> None:
        self._peer = peer
        self._loop = loop
        self._loop_thread = threading.get_ident()  # built on the loop thread, by the runner
        self.invocation_id = invocation_id

    def call(self, method: str, params: JsonObject) -> Any:
        """Send ``method`` for this invocation; an awaitable on the loop, the value elsewhere."""
        params = {"invocationId": self.invocation_id, **params}
        if threading.get_ident() == self._loop_thread:
            return self._request(method, params)
        request = self._request(method, params)
        try:
            future = asyncio.run_coroutine_threadsafe(request, self._loop)
        except RuntimeError:  # the loop is closed: the child is exiting
            request.close()
            raise BrokerGoneError(f"cannot send {method}: the child is shutting down") from None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return future.result()  # a plain worker thread: block until answered
        # A thread running its own event loop (asyncio.run inside a sync handler).
        return asyncio.wrap_future(future)

    def call_blocking(self, method: str, params: JsonObject) -> Any:
        """Send ``method`` and wait for the answer, from a thread other than the
        loop's (Motia 1.x's Python API is blocking: ``stateManager.get(...)``)."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                f"{method}: a blocking call on the child's event loop would never be answered"
            )
        request = self._request(method, {"invocationId": self.invocation_id, **params})
        try:
            future = asyncio.run_coroutine_threadsafe(request, self._loop)
        except RuntimeError:  # the loop is closed: the child is exiting
            request.close()
            raise BrokerGoneError(f"cannot send {method}: the child is shutting down") from None
        return future.result()

    def notify(self, method: str, params: JsonObject) -> None:
        """Send a notification for this invocation, from any thread, without waiting."""
        params = {"invocationId": self.invocation_id, **params}
        if threading.get_ident() == self._loop_thread:
            self._send_notification(method, params)
            return
        with contextlib.suppress(RuntimeError):  # a closed loop: the child is exiting
            self._loop.call_soon_threadsafe(self._send_notification, method, params)

    async def _request(self, method: str, params: JsonObject) -> Any:
        return wrap(await self._peer.request(method, params))

    def _send_notification(self, method: str, params: JsonObject) -> None:
        try:
            self._peer.notify(method, params)
        except LineTooLongError as exc:  # SPEC `framing.max-line.send`: not sent, said on stderr
            start = str(params.get("message", ""))[:_DROPPED_MESSAGE_CHARS]
            report(f"dropped a {method} notification: {exc}; it began {start!r}")
        except (TypeError, ValueError) as exc:
            report(f"dropped a {method} notification: {exc}")


class Logger:
    """``context.logger``: structured log records sent to the broker as ``log`` notifications."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def debug(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """Log at level ``debug``."""
        self.log("debug", message, fields)

    def info(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """Log at level ``info``."""
        self.log("info", message, fields)

    def warn(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """Log at level ``warn``."""
        self.log("warn", message, fields)

    def warning(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """Log at level ``warn`` (the name Python's ``logging`` uses)."""
        self.log("warn", message, fields)

    def error(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """Log at level ``error``."""
        self.log("error", message, fields)

    def log(self, level: str, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """Log at ``level`` (``debug``, ``info``, ``warn``/``warning`` or ``error``).

        ``fields`` is made JSON-safe: objects JSON cannot hold appear as their
        ``repr``; a non-mapping is logged under the key ``value``.
        """
        params: JsonObject = {"level": _LOG_LEVELS.get(level, "info"), "message": str(message)}
        if fields is not None:
            try:
                safe = to_jsonable(fields if isinstance(fields, Mapping) else {"value": fields})
            except Exception as exc:  # a user Mapping that fails to iterate
                safe = {"unloggable": f"{type(exc).__name__}: {exc}"}
            params["fields"] = safe
        self._channel.notify(Method.LOG, params)


class State:
    """``context.state``: JSON values by group id and key, kept by the broker."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def get(self, group_id: str, key: str) -> Any:
        """The value stored under ``key`` in ``group_id``, or ``None``."""
        return self._channel.call(Method.STATE_GET, {"groupId": group_id, "key": key})

    def set(self, group_id: str, key: str, value: Any) -> Any:
        """Store ``value`` (JSON-serialisable) under ``key``; returns the stored value."""
        return self._channel.call(
            Method.STATE_SET, {"groupId": group_id, "key": key, "value": value}
        )

    def delete(self, group_id: str, key: str) -> Any:
        """Remove ``key`` from ``group_id``; returns the deleted value, or ``None``."""
        return self._channel.call(Method.STATE_DELETE, {"groupId": group_id, "key": key})

    def get_group(self, group_id: str) -> Any:
        """Every value in ``group_id``, ordered by key."""
        return self._channel.call(Method.STATE_GET_GROUP, {"groupId": group_id})

    def clear(self, group_id: str) -> Any:
        """Remove every key of ``group_id``."""
        return self._channel.call(Method.STATE_CLEAR, {"groupId": group_id})


class StreamClient:
    """``context.streams.<name>``: the items of one stream, kept by the broker and
    pushed to its WebSocket subscribers on every change."""

    def __init__(self, channel: Channel, name: str) -> None:
        self._channel = channel
        self.name = name

    def get(self, group_id: str, id: str) -> Any:
        """The item ``id`` of ``group_id``, or ``None``."""
        return self._call(Method.STREAM_GET, {"groupId": group_id, "id": id})

    def set(self, group_id: str, id: str, data: Mapping[str, Any]) -> Any:
        """Store ``data`` (a dict the stream's schema accepts) as item ``id``;
        returns the stored item (``data`` with ``"id"``)."""
        return self._call(Method.STREAM_SET, {"groupId": group_id, "id": id, "data": data})

    def delete(self, group_id: str, id: str) -> Any:
        """Remove the item; returns it, or ``None`` when there was none."""
        return self._call(Method.STREAM_DELETE, {"groupId": group_id, "id": id})

    def get_group(self, group_id: str) -> Any:
        """Every item of ``group_id``, ordered by id."""
        return self._call(Method.STREAM_GET_GROUP, {"groupId": group_id})

    def send(self, channel: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
        """Push an ephemeral ``{"type", "data"}`` event to the subscribers of
        ``{"groupId", "id"?}`` (Motia's shape); nothing is stored."""
        if not isinstance(channel, Mapping) or not isinstance(channel.get("groupId"), str):
            raise TypeError('send expects {"groupId": str, "id"?: str} as its first argument')
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise TypeError('send expects {"type": str, "data": ...} as its second argument')
        params: JsonObject = {
            "groupId": channel["groupId"],
            "type": event["type"],
            "data": event.get("data"),
        }
        if channel.get("id") is not None:
            params["id"] = channel["id"]
        return self._call(Method.STREAM_SEND, params)

    def _call(self, method: str, params: JsonObject) -> Any:
        return self._channel.call(method, {"stream": self.name, **params})


class Streams:
    """``context.streams``: one :class:`StreamClient` per stream name, by attribute
    (``context.streams.todo``) or item (``context.streams["my-stream"]``)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def __getattr__(self, name: str) -> StreamClient:
        if name.startswith("__"):
            raise AttributeError(name)
        return StreamClient(self._channel, name)

    def __getitem__(self, name: str) -> StreamClient:
        return StreamClient(self._channel, name)


class Context:
    """What a handler gets beside its input: ``emit``, ``state``, ``streams``, ``logger`` and ids.

    ``event_id``, ``topic`` and ``message_group_id`` are set for event
    invocations and ``None`` otherwise; ``attempt`` counts deliveries from 1;
    ``traceparent`` continues the trace in the handler's outgoing calls.
    """

    def __init__(
        self,
        channel: Channel,
        *,
        trace_id: str,
        trigger: JsonObject,
        attempt: int,
        traceparent: str | None = None,
    ) -> None:
        self._channel = channel
        self._trigger = trigger
        self.trace_id = trace_id
        self.traceparent = traceparent
        """The invocation's W3C ``traceparent``: send it as that header in the
        handler's own HTTP calls so they join this trace (``None`` from an
        older broker)."""
        self.invocation_id = channel.invocation_id
        self.attempt = attempt
        is_event = trigger.get("type") == "event"
        self.event_id: str | None = trigger.get("eventId") if is_event else None
        self.topic: str | None = trigger.get("topic") if is_event else None
        self.message_group_id: str | None = trigger.get("messageGroupId") if is_event else None

    @property
    def channel(self) -> Channel:
        """How this invocation reaches the broker (the ``motia`` module's calls use it)."""
        return self._channel

    # Built on first use: most handlers touch few of them, and a context is
    # made for every invocation.

    @functools.cached_property
    def trigger(self) -> Any:
        """What started this invocation (``{"type": "event", "topic": ...}``), as attributes."""
        return wrap(self._trigger)

    body_stream: BodyStream | None = None
    """The request body as a stream of ``bytes`` chunks, for an api step whose
    config has ``streamBody`` (its ``req.body`` is then ``None``): ``async for
    chunk in context.body_stream`` (or ``for`` in a plain ``def`` handler)."""

    def stream_response(
        self, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> ResponseStream:
        """Stream the api response instead of returning it: each ``write``
        goes to the client at once (SPEC ``http.stream``); once one has, what
        the handler returns only ends the body."""
        return ResponseStream(self._channel, status, headers)

    @functools.cached_property
    def logger(self) -> Logger:
        """Structured logs of this invocation."""
        return Logger(self._channel)

    @functools.cached_property
    def state(self) -> State:
        """JSON values by group and key, kept by the broker."""
        return State(self._channel)

    @functools.cached_property
    def streams(self) -> Streams:
        """The project's streams by name (``context.streams.todos``)."""
        return Streams(self._channel)

    def emit(self, event: Mapping[str, Any]) -> Any:
        """Emit ``{"topic", "data", "messageGroupId"?}``; done once the event is durable.

        Returns the broker's answer (``{"eventId": ...}``). Raises ``TypeError``
        at once when ``event`` is not a mapping with a string ``topic``.
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("topic"), str):
            raise TypeError('emit expects {"topic": str, "data": ..., "messageGroupId"?: str}')
        params: JsonObject = {"topic": event["topic"], "data": event.get("data")}
        if event.get("messageGroupId") is not None:
            params["messageGroupId"] = event["messageGroupId"]
        return self._channel.call(Method.EMIT, params)
