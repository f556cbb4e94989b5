"""The broker's services (``emit``, ``state.*``, ``stream.*``) served from memory,
as the broker would answer them, for the child under test (SPEC §4)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ..errors import RemoteError
from ..protocol.messages import (
    CHILD_TO_BROKER,
    EmitParams,
    EmitResult,
    StateGroupParams,
    StateKeyParams,
    StateSetParams,
    StreamGroupParams,
    StreamItemParams,
    StreamSendParams,
    StreamSetParams,
)
from ..rpc import Method


class Services:
    """``emit`` and ``state.*`` served from memory, as the broker would answer them.

    ``hold`` makes matching requests wait until the checker releases them, so
    a case can answer them late or out of order.
    """

    def __init__(self) -> None:
        self.state: dict[str, dict[str, msgspec.Raw]] = {}
        self.events: list[EmitParams] = []
        self.streams: dict[tuple[str, str], dict[str, msgspec.Raw]] = {}
        self.stream_events: list[StreamSendParams] = []
        self._ids = itertools.count(1)

    def answer(self, method: str, params: Any) -> Any:
        """The result of one service request (params already decoded)."""
        if isinstance(params, EmitParams):
            self.events.append(params)
            return EmitResult(f"conformance-event-{next(self._ids)}")
        if isinstance(params, StateSetParams):
            self.state.setdefault(params.group_id, {})[params.key] = params.value
            return params.value
        if isinstance(params, StateKeyParams):
            group = self.state.get(params.group_id, {})
            return (
                group.pop(params.key, None) if method == "state.delete" else group.get(params.key)
            )
        if isinstance(params, StateGroupParams):
            if method == "state.clear":
                self.state.pop(params.group_id, None)
                return None
            group = self.state.get(params.group_id, {})
            return [group[key] for key in sorted(group)]
        return self._answer_stream(method, params)

    def _answer_stream(self, method: str, params: Any) -> Any:
        """``stream.*`` without schemas: every stream exists, any object is an item."""
        if isinstance(params, StreamSendParams):
            self.stream_events.append(params)
            return None
        if not isinstance(params, StreamItemParams | StreamSetParams | StreamGroupParams):
            raise RemoteError(-32601, f"no service for {method}")
        items = self.streams.setdefault((params.stream, params.group_id), {})
        if isinstance(params, StreamGroupParams):
            return [items[id] for id in sorted(items)]
        if isinstance(params, StreamSetParams):
            data = msgspec.json.decode(params.data)
            if not isinstance(data, dict):
                raise RemoteError(-32602, "data must be a JSON object", {"path": "$.params.data"})
            items[params.id] = msgspec.Raw(msgspec.json.encode({**data, "id": params.id}))
            return items[params.id]
        if method == "stream.delete":
            return items.pop(params.id, None)
        return items.get(params.id)

    def methods(
        self, gate: Callable[[str, Any], Awaitable[None]] | None = None
    ) -> dict[str, Method]:
        """The services as broker methods (for the supervisor); ``gate`` may delay each."""

        def serve(method: str) -> Callable[[Any], Awaitable[Any]]:
            async def handler(params: Any) -> Any:
                if gate is not None:
                    await gate(method, params)
                return self.answer(method, params)

            return handler

        return {
            name: Method(kind, serve(name))
            for name, kind in CHILD_TO_BROKER.items()
            if name != "log"
        }
