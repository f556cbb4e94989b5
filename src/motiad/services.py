"""What children call while a handler runs: ``emit``, ``state.*``,
``stream.*`` and the ``log`` notification (SPEC §6), as an RPC method table.

Every storage call is made through the invocation it is for (see
:class:`~motiad.invocations.Invocation`), so the dispatch knows when a handler
failed because storage did."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import msgspec

from .errors import InvalidInput, RemoteError
from .invocations import Invocation, Invocations, KeyedLocks
from .protocol import ErrorCode
from .protocol.messages import (
    EmitParams,
    EmitResult,
    HttpReadParams,
    HttpReadResult,
    HttpWriteParams,
    InvocationParams,
    LogParams,
    StateGroupParams,
    StateKeyParams,
    StateSetParams,
    StateUpdateParams,
    StateUpdateResult,
    StreamGroupParams,
    StreamItemParams,
    StreamNameParams,
    StreamSendParams,
    StreamSetParams,
    StreamUpdateParams,
)
from .registry import StepRegistry
from .request_stream import BodyCut
from .rpc import Later, Method
from .schemas import Issue, refused_params
from .signals import EmitSpan
from .state_ops import change_of
from .steps import Step
from .storage import Event, Store, StreamChange, durable
from .tracing import Bus, LogBus, new_id
from .triggers import STATE_TOPIC, STREAM_TOPIC_PREFIX, state_change, stream_change


class _StreamEvent(msgspec.Struct):
    """An ephemeral stream event as clients get it: ``{type, data}``."""

    type: str
    data: msgspec.Raw


_encode_event = msgspec.json.Encoder().encode


class ChildServices:
    """Serves the children's requests from ``store``, routing emits by ``registry``.

    :attr:`methods` and :attr:`notifications` are the tables a child's RPC peer
    dispatches on; :meth:`emit_event` emits from outside any step."""

    def __init__(
        self,
        store: Store,
        logs: LogBus,
        registry: StepRegistry,
        invocations: Invocations,
        *,
        emits: Bus[EmitSpan] | None = None,
    ) -> None:
        self.store = store
        self.logs = logs
        self.registry = registry
        self.emits: Bus[EmitSpan] = emits or Bus()
        """Told every emit (the metrics count them; the export sends their spans)."""
        self._invocations = invocations
        self._unrouted_topics: set[str] = set()
        self._undeclared: set[tuple[str, str]] = set()
        self._item_locks: KeyedLocks[tuple[str, str, str]] = KeyedLocks()
        self.methods: Mapping[str, Method] = {
            "emit": Method(EmitParams, self.emit),
            "state.get": Method(StateKeyParams, self.state_get),
            "state.set": Method(StateSetParams, self.state_set),
            "state.delete": Method(StateKeyParams, self.state_delete),
            "state.getGroup": Method(StateGroupParams, self.state_get_group),
            "state.clear": Method(StateGroupParams, self.state_clear),
            "stream.get": Method(StreamItemParams, self.stream_get),
            "stream.set": Method(StreamSetParams, self.stream_set),
            "stream.delete": Method(StreamItemParams, self.stream_delete),
            "stream.getGroup": Method(StreamGroupParams, self.stream_get_group),
            "stream.send": Method(StreamSendParams, self.stream_send),
            "state.update": Method(StateUpdateParams, self.state_update),
            "state.listGroups": Method(InvocationParams, self.state_list_groups),
            "stream.update": Method(StreamUpdateParams, self.stream_update),
            "stream.listGroups": Method(StreamNameParams, self.stream_list_groups),
            "http.write": Method(HttpWriteParams, self.http_write),
            "http.read": Method(HttpReadParams, self.http_read),
        }
        """Requests, by method name."""
        self.notifications: Mapping[str, Method] = {"log": Method(LogParams, self.log)}
        """Notifications, by method name."""

    # --- emit ---------------------------------------------------------------

    def emit(self, params: EmitParams) -> Later:
        """Serve ``emit`` in the child's reader: checked and queued for commit
        at once, answered from a callback of the commit (no task per emit: a
        busy emitter makes thousands a second)."""
        invocation = self._invocations.get(params.invocation_id)
        self._check_emit(invocation.step, params)
        event = Event(
            new_id(),
            params.topic,
            params.data,
            invocation.trace_id,
            params.message_group_id,
            time.time(),
        )
        result = EmitResult(event.id)
        invocation.emitted_event(event.id)
        self.emits.publish(
            EmitSpan(
                event.id,
                event.topic,
                event.trace_id,
                event.created_at,
                invocation.step.name,
                params.invocation_id,
            )
        )
        targets = self.registry.targets(params.topic)
        if targets:
            committed = invocation.storage_write(partial(self.store.publish, event, targets))
            return Later(committed, result)
        if params.topic not in self._unrouted_topics:
            self._unrouted_topics.add(params.topic)
            self.logs.log(
                "warn",
                f"no step subscribes to {params.topic!r}; its events are dropped",
                step=invocation.step.name,
                trace_id=invocation.trace_id,
            )
        dropped = asyncio.get_running_loop().create_future()
        dropped.set_result(None)
        return Later(dropped, result)

    def _check_emit(self, emitter: Step, params: EmitParams) -> None:
        """Refuse data that a subscriber's ``input`` schema rejects (at the emitter,
        where the bug is); warn once about topics the emitter did not declare."""
        topic = params.topic
        if topic not in emitter.emits and (emitter.name, topic) not in self._undeclared:
            self._undeclared.add((emitter.name, topic))
            self.logs.log(
                "warn",
                f"emits {topic!r}, which config.emits does not declare"
                " (add it, so flows and types show it)",
                step=emitter.name,
            )
        refused = self._input_issues(topic, params.data)
        if refused is not None:
            subscriber, issues = refused
            raise refused_params(
                f"emit {topic!r}: data does not match the input schema of"
                f" {subscriber.name} ({subscriber.file.relative})",
                issues,
                subscriber=subscriber.name,
            )

    def _input_issues(self, topic: str, raw: msgspec.Raw) -> tuple[Step, list[Issue]] | None:
        """The first subscriber of ``topic`` whose ``input`` schema rejects the
        data, with the problems; ``None`` when every subscriber accepts it."""
        data: Any = msgspec.UNSET
        for subscriber in self.registry.subscribers(topic):
            if subscriber.input_schema is None:
                continue
            if data is msgspec.UNSET:
                data = msgspec.json.decode(raw)
            issues = subscriber.input_schema.issues(data, root="data")
            if issues:
                return subscriber, list(issues)
        return None

    async def emit_event(
        self, topic: str, data: msgspec.Raw, message_group_id: str | None = None
    ) -> Event:
        """Emit an event from outside any step (the workbench), in a new trace.

        Raises :class:`InvalidInput` when no step subscribes to ``topic`` or a
        subscriber's ``input`` schema rejects ``data``."""
        targets = self.registry.targets(topic)
        if not targets:
            raise InvalidInput(f"no step subscribes to {topic!r}", [("topic", "no subscriber")])
        refused = self._input_issues(topic, data)
        if refused is not None:
            subscriber, issues = refused
            raise InvalidInput(f"data does not match the input schema of {subscriber.name}", issues)
        event = Event(new_id(), topic, data, new_id(), message_group_id, time.time())
        await durable(self.store.publish(event, targets))
        self.emits.publish(EmitSpan(event.id, topic, event.trace_id, event.created_at, None, None))
        self.logs.log("info", f"emitted {topic} (event {event.id})", trace_id=event.trace_id)
        return event

    # --- state --------------------------------------------------------------

    async def state_get(self, params: StateKeyParams) -> msgspec.Raw | None:
        """``state.get``: the value, or ``None``."""
        invocation = self._invocations.get(params.invocation_id)
        return await invocation.storage_call(self.store.state_get(params.group_id, params.key))

    async def state_set(self, params: StateSetParams) -> msgspec.Raw:
        """``state.set``: answers the value stored."""
        invocation = self._invocations.get(params.invocation_id)
        store = self.store
        watched = bool(self.registry.targets(STATE_TOPIC))
        old = None
        if watched:
            old = await invocation.storage_call(store.state_get(params.group_id, params.key))
        await invocation.storage_call(store.state_set(params.group_id, params.key, params.value))
        if watched:
            change = state_change(params.group_id, params.key, old, params.value)
            await self._react(invocation, STATE_TOPIC, change)
        return params.value

    async def state_delete(self, params: StateKeyParams) -> msgspec.Raw | None:
        """``state.delete``: the value removed, or ``None``."""
        invocation = self._invocations.get(params.invocation_id)
        deleted = self.store.state_delete(params.group_id, params.key)
        old = await invocation.storage_call(deleted)
        if old is not None and self.registry.targets(STATE_TOPIC):
            change = state_change(params.group_id, params.key, old, None)
            await self._react(invocation, STATE_TOPIC, change)
        return old

    async def state_update(self, params: StateUpdateParams) -> StateUpdateResult:
        """``state.update`` (SPEC ``state.update-atomic``): the ops applied in one step."""
        invocation = self._invocations.get(params.invocation_id)
        updated = self.store.state_update(params.group_id, params.key, change_of(params.ops))
        old, new = await invocation.storage_call(updated)
        if self.registry.targets(STATE_TOPIC):
            await self._react(
                invocation, STATE_TOPIC, state_change(params.group_id, params.key, old, new)
            )
        return StateUpdateResult(new, msgspec.UNSET if old is None else old)

    async def state_list_groups(self, params: InvocationParams) -> list[str]:
        """``state.listGroups``: every group that holds a value."""
        invocation = self._invocations.get(params.invocation_id)
        groups = await invocation.storage_call(self.store.state_groups())
        return [group.group_id for group in groups]

    async def _react(self, invocation: Invocation, topic: str, data: bytes) -> None:
        """Publish a state or stream change for the Motia 1.x triggers watching it,
        in the trace of the invocation that made it; durable before the change's answer."""
        event = Event(new_id(), topic, msgspec.Raw(data), invocation.trace_id, None, time.time())
        targets = self.registry.targets(topic)
        await durable(invocation.storage_write(partial(self.store.publish, event, targets)))

    async def _react_to_stream(self, invocation: Invocation, change: StreamChange) -> None:
        topic = STREAM_TOPIC_PREFIX + change.stream
        if self.registry.targets(topic):
            data = bytes(change.data)
            input_ = stream_change(
                change.stream, change.group_id, change.id, change.type, data, change.timestamp
            )
            await self._react(invocation, topic, input_)

    async def state_get_group(self, params: StateGroupParams) -> list[msgspec.Raw]:
        """``state.getGroup``: every value of the group."""
        invocation = self._invocations.get(params.invocation_id)
        return await invocation.storage_call(self.store.state_group(params.group_id))

    async def state_clear(self, params: StateGroupParams) -> None:
        """``state.clear``: remove every value of the group."""
        invocation = self._invocations.get(params.invocation_id)
        await invocation.storage_call(self.store.state_clear(params.group_id))

    # --- streams ------------------------------------------------------------

    async def stream_get(self, params: StreamItemParams) -> msgspec.Raw | None:
        """``stream.get``: the item, or ``None``."""
        invocation = self._invocations.get(params.invocation_id)
        self.registry.streams.get(params.stream)
        stored = self.store.stream_get(params.stream, params.group_id, params.id)
        return await invocation.storage_call(stored)

    async def stream_set(self, params: StreamSetParams) -> msgspec.Raw:
        """``stream.set``: the item as stored (checked against the stream's schema)."""
        invocation = self._invocations.get(params.invocation_id)
        item = self.registry.streams.item(params.stream, params.id, params.data)
        stored = self.store.stream_set(params.stream, params.group_id, params.id, item)
        change = await invocation.storage_call(stored)
        await self._react_to_stream(invocation, change)
        return change.data

    async def stream_delete(self, params: StreamItemParams) -> msgspec.Raw | None:
        """``stream.delete``: the item removed, or ``None``."""
        invocation = self._invocations.get(params.invocation_id)
        self.registry.streams.get(params.stream)
        deleted = self.store.stream_delete(params.stream, params.group_id, params.id)
        change = await invocation.storage_call(deleted)
        if change is not None:
            await self._react_to_stream(invocation, change)
        return None if change is None else change.data

    async def stream_update(self, params: StreamUpdateParams) -> StateUpdateResult:
        """``stream.update``: read, change, validate and store one item in one
        step of the store (SPEC ``stream.update-atomic``): no other write of the
        item, from this broker or another sharing the storage, comes between."""
        invocation = self._invocations.get(params.invocation_id)
        streams = self.registry.streams
        streams.get(params.stream)
        ops = change_of(params.ops)
        refused: list[RemoteError] = []

        def change(old: bytes | None) -> bytes | None:
            # the store may run this again (another broker wrote the item meanwhile)
            refused.clear()
            try:
                return bytes(streams.item(params.stream, params.id, msgspec.Raw(ops(old))))
            except RemoteError as exc:  # the schema refused it: nothing is written
                refused.append(exc)
                return None

        # One at a time per item within this broker: the store's transaction is
        # what makes it atomic, this only spares Redis's WATCH the retries of
        # this broker's own updates racing each other.
        async with self._item_locks.hold((params.stream, params.group_id, params.id)):
            updated = self.store.stream_update(params.stream, params.group_id, params.id, change)
            old, stored = await invocation.storage_call(updated)
        if refused:
            raise refused[0]
        assert stored is not None
        await self._react_to_stream(invocation, stored)
        return StateUpdateResult(stored.data, msgspec.UNSET if old is None else old)

    async def stream_list_groups(self, params: StreamNameParams) -> list[str]:
        """``stream.listGroups``: the stream's groups."""
        invocation = self._invocations.get(params.invocation_id)
        self.registry.streams.get(params.stream)
        return await invocation.storage_call(self.store.stream_groups(params.stream))

    # --- http ---------------------------------------------------------------

    async def http_write(self, params: HttpWriteParams) -> None:
        """``http.write`` (SPEC ``http.stream``): a chunk of the api invocation's
        response, answered once the connection took it."""
        invocation = self._invocations.get(params.invocation_id)
        sink = invocation.sink
        if sink is None or not self._invocations.running(params.invocation_id):
            raise RemoteError(
                ErrorCode.INVALID_PARAMS,
                "http.write: the invocation answers no HTTP request, or has answered it",
                {"path": "$.params.invocationId"},
            )
        raw = params.chunk
        chunk = base64.b64decode(raw) if params.encoding == "base64" else raw.encode()
        if not sink.started:
            await sink.start(params.status or 200, params.headers or {})
        await sink.write(chunk)

    async def http_read(self, params: HttpReadParams) -> HttpReadResult:
        """``http.read`` (SPEC ``http.body-stream``): the next chunk of the api
        invocation's request body, taken from the connection only now."""
        invocation = self._invocations.get(params.invocation_id)
        body = invocation.body
        if body is None or not self._invocations.running(params.invocation_id):
            raise RemoteError(
                ErrorCode.INVALID_PARAMS,
                "http.read: the invocation has no request body to stream (its step has no"
                " streamBody), or has answered",
                {"path": "$.params.invocationId"},
            )
        try:
            chunk, done = await body.read()
        except BodyCut as exc:
            return HttpReadResult("", True, str(exc))
        return HttpReadResult(base64.b64encode(chunk).decode("ascii"), done)

    async def stream_get_group(self, params: StreamGroupParams) -> list[msgspec.Raw]:
        """``stream.getGroup``: every item of the group."""
        invocation = self._invocations.get(params.invocation_id)
        self.registry.streams.get(params.stream)
        return await invocation.storage_call(
            self.store.stream_group(params.stream, params.group_id)
        )

    async def stream_send(self, params: StreamSendParams) -> None:
        """``stream.send``: an ephemeral event to the group's (or item's) subscribers."""
        invocation = self._invocations.get(params.invocation_id)
        self.registry.streams.get(params.stream)
        event = msgspec.Raw(_encode_event(_StreamEvent(params.type, params.data)))
        sent = self.store.stream_send(params.stream, params.group_id, params.id, event)
        change = await invocation.storage_call(sent)
        # reactive-triggers.mdx: a custom event reaches stream triggers as {type: 'event', data}
        await self._react_to_stream(invocation, change)

    # --- log ----------------------------------------------------------------

    async def log(self, params: LogParams) -> None:
        """The ``log`` notification: a record under the invocation's step and trace."""
        invocation = self._invocations.find(params.invocation_id or "")
        self.logs.log(
            params.level,
            params.message,
            step=invocation.step.name if invocation else None,
            trace_id=invocation.trace_id if invocation else None,
            invocation_id=params.invocation_id,
            fields=params.fields,
        )
