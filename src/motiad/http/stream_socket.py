"""Stream changes pushed to WebSocket clients at ``ws://host:port/``, in the
protocol of Motia's published clients (``@motiadev/stream-client-browser`` and
``@motiadev/stream-client-node``), so existing Motia front ends work unchanged.

A client sends ``{"type": "join" | "leave", "data": {streamName, groupId, id?,
subscriptionId}}``. A join is answered with a ``sync`` of the current item (or
the group's items); after that every change of the item (or of any item of the
group) arrives as ``{streamName, groupId, id?, timestamp, event: {type:
"create" | "update" | "delete", data} | {type: "event", event: {type, data}}}``.

Changes come from the store's change feed (:meth:`StreamStore.watch_streams`),
so a backend shared by several brokers delivers the changes of all of them.
One change is encoded and framed once, and the same frame is written to every
subscribed connection's socket at once (``ws_frames``: no per-client task,
lock or ASGI message while the client keeps up). A connection whose socket is
backed up queues the message instead, and its writer sends the queue through
ASGI; the queue is bounded: a client too slow to keep up is disconnected
(Motia's clients reconnect and join again, which resyncs them), and a handler's
``set`` never waits for a client.

A stream file's hooks run in its child (SPEC ``stream.hooks``), as Motia 1.x's
engine runs them (engine/src/modules/stream): ``authenticateStream`` of
``motia.config.ts`` when a client connects, its ``{context}`` kept as the
connection's auth context; ``onJoin`` (or 0.17's ``canAccess``) before a join,
whose ``{unauthorized: true}`` refuses it; ``onLeave`` on a leave and for each
subscription left when the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from urllib.parse import parse_qs

import anyio
import msgspec

from ..broker import Broker
from ..errors import MotiadError
from ..protocol.messages import StreamHookTrigger
from ..steps import Step
from ..storage import StreamChange
from ..tracing import new_id
from .access import Access, bearer
from .api import Receive, Scope, Send
from .ws_frames import Outgoing, RawSocket

QUEUE_LIMIT = 1024
"""Messages queued for one connection before it is cut off: a few seconds of a
busy stream for a client that is merely slow, a bounded cost (the texts are
shared between connections) for one that stopped reading."""
CLOSE_TRY_AGAIN = 1013
"""WebSocket close code for a client cut off for falling behind: "try again later"."""
CLOSE_GOING_AWAY = 1001
"""WebSocket close code when the server stops: "going away"."""
CLOSE_WAIT_S = 1.0
"""How long the close frame to a cut-off client may take: it is not reading."""

SYNC_READS = 3
"""Reads of the current state a join may take: another one when a change of the
room arrived while reading (a backend whose reads wait, as Redis's do, could
otherwise sync a client to a state older than a change it was already sent)."""

LEAVE_HOOKS_WAIT_S = 10.0
"""How long the ``onLeave`` hooks of a connection that closed may take (they
run after it is gone, and a stopping server must not wait on them for long)."""

REFUSALS_TOLD = 100
"""Distinct reasons for refusing a socket that are logged (each once): enough
for every origin a developer tries, bounded against a client sending many."""

RoomKey = tuple[str, str, str | None]
"""(stream, group, item id or ``None`` for the whole group)."""


class Room(dict["Connection", int]):
    """The connections subscribed to one item or group, each with how many of its
    subscriptions are here, and how many changes of the room were published."""

    version: int = 0


class _JoinData(msgspec.Struct, rename="camel"):
    stream_name: str
    group_id: str
    subscription_id: str
    id: str | None = None


class _ClientMessage(msgspec.Struct):
    type: str
    data: _JoinData


class _Event(msgspec.Struct, omit_defaults=True):
    type: str
    data: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    event: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


class _Message(msgspec.Struct, rename="camel", omit_defaults=True):
    stream_name: str
    group_id: str
    timestamp: int
    event: _Event
    id: str | None = None


class _HookInput(msgspec.Struct, rename="camel"):
    """The ``input`` of a ``join``/``leave`` hook invocation (SPEC ``stream.hooks``)."""

    subscription_id: str
    stream_name: str
    group_id: str
    id: str | None
    auth_context: msgspec.Raw


class _AuthResult(msgspec.Struct):
    """What ``authenticateStream`` returns (iii's StreamAuthResult)."""

    context: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))


class _JoinResult(msgspec.Struct):
    """What ``onJoin`` returns (iii's StreamJoinResult)."""

    unauthorized: bool = False


_NULL = msgspec.Raw(b"null")
_decode_auth = msgspec.json.Decoder(_AuthResult | None).decode
_decode_join = msgspec.json.Decoder(_JoinResult | None).decode
_decode_client = msgspec.json.Decoder(_ClientMessage).decode
_encode = msgspec.json.Encoder().encode


def encode_change(change: StreamChange) -> Outgoing:
    """The message every subscriber of ``change`` receives (Motia's shape)."""
    if change.type == "event":
        event = _Event("event", event=change.data)
    else:
        event = _Event(change.type, data=change.data)
    message = _Message(change.stream, change.group_id, change.timestamp, event, change.id)
    return Outgoing(_encode(message))


class Connection:
    """One WebSocket client: its subscriptions, its socket (when written to
    directly) and its bounded queue of messages waiting for it."""

    def __init__(self, limit: int, raw: RawSocket | None = None) -> None:
        self.limit = limit
        self.raw = raw
        """The socket messages are written to at once, if the server exposes it."""
        self.queue: deque[Outgoing] = deque()
        self.sending = False
        """The writer is handing a queued message to ASGI (it may not be written yet)."""
        # asyncio's Event, cleared and reused: one per wake-up (anyio's has no
        # clear) cost about 8 % of the broker's time in a 100-client fan-out.
        # hypercorn serves on asyncio, as does everything under motiad.http.
        self.ready = asyncio.Event()
        self.subscriptions: dict[str, RoomKey] = {}
        self.close_code: int | None = None
        """Why the server ends the connection, once it does."""
        self.scope = anyio.CancelScope()

    def offer(self, message: Outgoing) -> None:
        """Write ``message`` to the socket now when nothing is waiting before it
        and the socket keeps up; else queue it, or cut the connection off when
        it is ``limit`` behind."""
        if self.close_code is not None:
            return
        if (
            not self.queue
            and not self.sending
            and self.raw is not None
            and self.raw.write(message.frame)
        ):
            return
        if len(self.queue) >= self.limit:
            self.queue.clear()
            self.end(CLOSE_TRY_AGAIN)
            return
        self.queue.append(message)
        self.ready.set()

    def end(self, code: int) -> None:
        """Stop serving the connection; it is closed with ``code``."""
        self.close_code = code
        self.scope.cancel()

    async def write(self, send: Send) -> None:
        """Send queued messages through ASGI (which waits for the socket to
        drain), in order, until cancelled."""
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.queue:
                text = self.queue.popleft().text
                self.sending = True
                try:
                    await send({"type": "websocket.send", "text": text})
                finally:
                    self.sending = False


def _supplied_token(scope: Scope, headers: dict[str, str]) -> str | None:
    """The token a client sent: ``?token=``, ``Authorization: Bearer``, or the
    subprotocols ``["Authorization", TOKEN]`` (what a browser can send)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if query:
        return str(query[0])
    offered = scope.get("subprotocols") or []
    if len(offered) >= 2 and offered[0].lower() == "authorization":
        return str(offered[1])
    return bearer(headers.get("authorization", ""))


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """Refuse the handshake with ``status`` and a JSON body saying why (a
    server without the denial-response extension just closes)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = _encode({"error": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


class StreamHub:
    """Rooms of subscribed connections, fed by the store's change feed."""

    def __init__(
        self,
        broker: Broker,
        access: Access,
        *,
        queue_limit: int = QUEUE_LIMIT,
        stopping: anyio.Event | None = None,
    ) -> None:
        self.broker = broker
        self.access = access
        self.queue_limit = queue_limit
        self.stopping = stopping
        """Set when the server stops: every connection is closed then, or the
        server's graceful stop would wait for clients that never leave."""
        self.rooms: dict[RoomKey, Room] = {}
        self.connections = 0
        """Open connections (the metrics show them)."""
        self._told: set[str] = set()
        self._auth_contexts: dict[Connection, msgspec.Raw] = {}
        """Each connection's auth context (``authenticateStream``'s ``context``; ``null``)."""
        self._last_timestamp = 0
        self.stop_watching = broker.store.watch_streams(self.publish)

    def counts(self) -> tuple[int, int]:
        """(open connections, subscriptions they hold), for the metrics."""
        return self.connections, sum(sum(room.values()) for room in self.rooms.values())

    def publish(self, change: StreamChange) -> None:
        """Encode ``change`` once and queue it for every connection subscribed to
        its group or its item (once per connection: the client routes it to both)."""
        self._last_timestamp = max(self._last_timestamp, change.timestamp)
        group = self.rooms.get((change.stream, change.group_id, None))
        item = self.rooms.get((change.stream, change.group_id, change.id)) if change.id else None
        if not group and not item:
            return
        for room in (group, item):
            if room:
                room.version += 1
        message = encode_change(change)
        for connection in group or ():
            connection.offer(message)
        for connection in item or ():
            if not group or connection not in group:
                connection.offer(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection (an ASGI ``websocket`` scope)."""
        if (await receive())["type"] != "websocket.connect":
            return
        # Motia's clients may offer ["Authorization", token]: a client that
        # offers subprotocols fails unless the server picks one.
        offered: list[str] = scope.get("subprotocols") or []
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        refusal = self.access.stream_refusal(
            headers.get("host", ""), headers.get("origin"), _supplied_token(scope, headers)
        )
        if refusal is not None:
            self._tell_once(refusal[1])
            await _refuse(scope, send, *refusal)
            return
        auth_context = await self._authenticate(scope, headers)
        await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
        connection = Connection(self.queue_limit, RawSocket.of(send))
        self._auth_contexts[connection] = auth_context
        self.connections += 1
        try:
            with connection.scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(connection.write, send)
                    if self.stopping is not None:
                        tg.start_soon(self._end_on_stop, connection, self.stopping)
                    await self._read(connection, receive)
                    tg.cancel_scope.cancel()
        finally:
            self.connections -= 1
            left = list(connection.subscriptions.items())
            self._drop(connection)
            with anyio.CancelScope(shield=True), anyio.move_on_after(LEAVE_HOOKS_WAIT_S):
                for subscription_id, key in left:
                    await self._leave_hook(connection, subscription_id, key)
            self._auth_contexts.pop(connection, None)
        if connection.close_code is not None:
            with anyio.move_on_after(CLOSE_WAIT_S):
                await send({"type": "websocket.close", "code": connection.close_code})

    def _tell_once(self, refusal: str) -> None:
        """Log why a socket was refused, once per reason: a front end that
        cannot connect is explained, a client retrying in a loop is not a flood."""
        if refusal in self._told or len(self._told) >= REFUSALS_TOLD:
            return
        self._told.add(refusal)
        self.broker.logs.log("warn", f"stream socket refused: {refusal}")

    @staticmethod
    async def _end_on_stop(connection: Connection, stopping: anyio.Event) -> None:
        await stopping.wait()
        connection.end(CLOSE_GOING_AWAY)

    async def _read(self, connection: Connection, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            try:
                request = _decode_client(text or "")
            except msgspec.DecodeError:
                continue  # not a join or leave: Motia's server ignores it too
            if request.type == "join":
                await self._join(connection, request.data)
            elif request.type == "leave":
                key = connection.subscriptions.get(request.data.subscription_id)
                self._leave(connection, request.data.subscription_id)
                if key is not None:
                    await self._leave_hook(connection, request.data.subscription_id, key)

    async def _join(self, connection: Connection, data: _JoinData) -> None:
        key: RoomKey = (data.stream_name, data.group_id, data.id)
        self._leave(connection, data.subscription_id)  # a re-join replaces the old one
        if data.stream_name not in self.broker.streams.definitions:
            known = ", ".join(sorted(self.broker.streams.definitions)) or "none"
            message = f"unknown stream {data.stream_name!r} (declared: {known})"
            self._send_error(connection, data, message)
            return
        limit = self.access.http.max_subscriptions
        if len(connection.subscriptions) >= limit:
            # bounds the broker's memory per connection (issue #19 D5)
            message = (
                f"this connection already holds {limit} subscriptions ([http]"
                " max_subscriptions); leave some before joining more"
            )
            self._send_error(connection, data, message)
            return
        refusal = await self._join_refusal(connection, data)
        if refusal is not None:
            self._tell_once(refusal)
            # Why, as every refused join is told, then Motia 1.x's own event
            # (no published client acts on it; one that drops a message no
            # newer than the last, as Motia's do, still gets the reason).
            self._send_error(connection, data, refusal)
            unauthorized = _Message(
                data.stream_name, data.group_id, self._now(), _Event("unauthorized"), data.id
            )
            connection.offer(Outgoing(_encode(unauthorized)))
            return
        connection.subscriptions[data.subscription_id] = key
        room = self.rooms.setdefault(key, Room())
        room[connection] = room.get(connection, 0) + 1
        # Subscribed before reading: a change committed meanwhile is queued
        # before the sync, and the sync is read again until it carries the state
        # after every change queued before it.
        try:
            for _ in range(SYNC_READS):
                version = room.version
                synced = await self._current(data)
                if room.version == version:
                    break
        except MotiadError as exc:
            self.broker.logs.log("error", f"stream sync failed: {exc}")
            return
        # Older than any change the sync does not carry: such a change is stamped
        # in this millisecond or later, and Motia's item client drops a message
        # not newer than the last it saw (a sync and a change in the same
        # millisecond lost the change). A change it does carry and that comes
        # after it is applied again, to the same effect.
        timestamp = max(int(time.time() * 1000) - 1, self._last_timestamp)
        sync = _Message(
            data.stream_name, data.group_id, timestamp, _Event("sync", data=synced), data.id
        )
        connection.offer(Outgoing(_encode(sync)))

    def _now(self) -> int:
        """A message's stamp: never older than a change already sent."""
        return max(int(time.time() * 1000), self._last_timestamp)

    async def _hook(self, step: Step, hook: str, payload: object) -> msgspec.Raw | None:
        """Run a stream hook in its child, in a trace of its own; raises
        :class:`MotiadError` when it fails (the dispatch has logged why)."""
        trigger = StreamHookTrigger(hook)  # type: ignore[arg-type]
        return await self.broker.dispatch.invoke(step, trigger, payload, new_id())

    async def _authenticate(self, scope: Scope, headers: dict[str, str]) -> msgspec.Raw:
        """The auth context ``authenticateStream`` gives a connecting client
        (Motia's StreamAuthInput in, ``{context}`` out); ``null`` without the
        hook, and when it fails or gives none: the client is anonymous then,
        as in Motia's engine (stream.rs ``ws_handler``)."""
        step = self.broker.registry.stream_auth
        if step is None:
            return _NULL
        client = scope.get("client") or ("", 0)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        payload = {
            "headers": headers,
            "path": scope.get("path", "/"),
            "queryParams": query,
            "addr": f"{client[0]}:{client[1]}",
        }
        try:
            result = await self._hook(step, "authenticate", payload)
        except MotiadError:
            return _NULL
        try:
            answer = _decode_auth(result or b"null")
        except msgspec.ValidationError as exc:
            self.broker.logs.log(
                "error",
                f"authenticateStream must return {{context}}: {exc}; the client is anonymous",
                step=step.name,
            )
            return _NULL
        return _NULL if answer is None else answer.context

    async def _join_refusal(self, connection: Connection, data: _JoinData) -> str | None:
        """Why the stream's ``onJoin`` (or ``canAccess``) refuses this join, or
        ``None``. A hook that fails refuses it too (Motia's engine lets the
        join through; an access check that cannot run must not open a stream)."""
        step = self.broker.registry.stream_hooks.get(data.stream_name)
        definition = self.broker.streams.definitions.get(data.stream_name)
        if step is None or definition is None or not definition.joins:
            return None
        subject = f"join of {data.stream_name}/{data.group_id}" + (
            f"/{data.id}" if data.id is not None else ""
        )
        try:
            result = await self._hook(step, "join", self._hook_input(connection, data))
        except MotiadError as exc:
            return f"{subject} refused: the stream's onJoin failed ({exc})"
        try:
            answer = _decode_join(result or b"null")
        except msgspec.ValidationError as exc:
            return f"{subject} refused: onJoin of {definition.file} returned {exc}"
        if answer is not None and answer.unauthorized:
            return f"{subject} refused: unauthorized by onJoin of {definition.file}"
        return None

    async def _leave_hook(self, connection: Connection, subscription_id: str, key: RoomKey) -> None:
        """Run the stream's ``onLeave`` for a subscription that ended (its
        failure is logged by the dispatch and changes nothing)."""
        stream, group_id, id = key
        step = self.broker.registry.stream_hooks.get(stream)
        definition = self.broker.streams.definitions.get(stream)
        if step is None or definition is None or not definition.leaves:
            return
        data = _JoinData(stream, group_id, subscription_id, id)
        with contextlib.suppress(MotiadError):
            await self._hook(step, "leave", self._hook_input(connection, data))

    def _hook_input(self, connection: Connection, data: _JoinData) -> _HookInput:
        """The input of a join or leave hook (Motia's StreamJoinLeaveEvent)."""
        context = self._auth_contexts.get(connection, _NULL)
        return _HookInput(data.subscription_id, data.stream_name, data.group_id, data.id, context)

    def _send_error(self, connection: Connection, data: _JoinData, message: str) -> None:
        """An ``error`` event for a join (Motia's shape for a refused join)."""
        error = _encode({"type": "error", "data": {"message": message}})
        payload = _Event("event", event=msgspec.Raw(error))
        timestamp = max(int(time.time() * 1000), self._last_timestamp)
        reply = _Message(data.stream_name, data.group_id, timestamp, payload, data.id)
        connection.offer(Outgoing(_encode(reply)))

    async def _current(self, data: _JoinData) -> msgspec.Raw:
        """The item (or ``null``) or the group's items, as a join's sync carries them."""
        store = self.broker.store
        if data.id is not None:
            current = await store.stream_get(data.stream_name, data.group_id, data.id)
            return current if current is not None else msgspec.Raw(b"null")
        return msgspec.Raw(_encode(await store.stream_group(data.stream_name, data.group_id)))

    def _leave(self, connection: Connection, subscription_id: str) -> None:
        key = connection.subscriptions.pop(subscription_id, None)
        if key is None:
            return
        room = self.rooms.get(key, Room())
        count = room.get(connection, 0) - 1
        if count > 0:
            room[connection] = count
        else:
            room.pop(connection, None)
            if not room:
                self.rooms.pop(key, None)

    def _drop(self, connection: Connection) -> None:
        for subscription_id in list(connection.subscriptions):
            self._leave(connection, subscription_id)
