"""The ``motia`` module of Motia 1.x, as motiad provides it inside a step child.

``from motia import FlowContext, http, queue, enqueue, logger, stateManager``
resolves here: sdk-python is on the child's ``PYTHONPATH``, ahead of a Motia
package the project may have installed (whose functions would try to reach the
iii engine). Standard library only. The trigger helpers build the plain dicts
Motia's pydantic models dump to (frameworks/motia/motia-py/packages/motia/src/
motia/triggers.py); ``enqueue``, ``logger`` and ``stateManager`` block as
Motia's do and act for the invocation running them (motiad_sdk.motia1x.CURRENT).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from motiad_sdk.context import Context
from motiad_sdk.motia1x import (
    CURRENT,
    FlowContext,
    MotiaHttpArgs,
    MotiaHttpRequest,
    MotiaHttpResponse,
    TriggerInfo,
)
from motiad_sdk.tables import Method

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "ApiRouteMethod",
    "FlowContext",
    "MotiaHttpArgs",
    "MotiaHttpRequest",
    "MotiaHttpResponse",
    "StateManager",
    "StateTriggerInput",
    "StepBuilder",
    "StepConfig",
    "StepDefinition",
    "Stream",
    "StreamTriggerInput",
    "TriggerCondition",
    "TriggerConfig",
    "TriggerInfo",
    "api",
    "cron",
    "enqueue",
    "http",
    "is_api_trigger",
    "is_cron_trigger",
    "is_queue_trigger",
    "is_state_trigger",
    "is_stream_trigger",
    "logger",
    "multi_trigger_step",
    "queue",
    "state",
    "stateManager",
    "step",
    "stream",
]

ApiRouteMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
StepConfig = dict[str, Any]
TriggerConfig = dict[str, Any]
TriggerCondition = Callable[[Any, FlowContext[Any]], Any]
ApiRequest = MotiaHttpRequest
StateTriggerInput = Any
"""``{type, group_id, item_id, old_value, new_value}``, keys read as attributes too."""
StreamTriggerInput = Any
"""``{type, timestamp, streamName, groupId, id, event: {type, data}}``."""


T = TypeVar("T")


@dataclass
class ApiResponse(Generic[T]):
    """What an HTTP handler may return: ``status``, ``body``, ``headers``."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None


def _current(what: str) -> Context:
    context = CURRENT.get()
    if context is None:
        raise RuntimeError(
            f"motia: {what} was called outside a step handler"
            " (motiad binds it to the invocation running)"
        )
    return context


def _call(what: str, method: str, params: dict[str, Any]) -> Any:
    return _current(what).channel.call_blocking(method, params)


# --- trigger helpers ----------------------------------------------------------------


def http(
    method: ApiRouteMethod,
    path: str,
    *,
    body_schema: Any | None = None,
    response_schema: dict[int, Any] | None = None,
    query_params: list[Any] | None = None,
    middleware: list[Any] | None = None,
    condition: TriggerCondition | None = None,
    stream_body: bool | None = None,
) -> TriggerConfig:
    """An HTTP trigger. ``stream_body=True`` (motiad's): ``request.request_body.stream``
    reads the body as the client sends it, and ``request.body`` is ``None``."""
    return {
        "stream_body": stream_body,
        "type": "http",
        "method": method,
        "path": path,
        "body_schema": body_schema,
        "response_schema": response_schema,
        "query_params": query_params,
        "middleware": middleware,
        "condition": condition,
    }


def api(method: ApiRouteMethod, path: str, **options: Any) -> TriggerConfig:
    """Deprecated in Motia 1.x: :func:`http`."""
    warnings.warn("api() is deprecated, use http() instead", DeprecationWarning, stacklevel=2)
    return http(method, path, **options)


def queue(
    topic: str,
    *,
    input: Any | None = None,
    config: Any | None = None,
    condition: TriggerCondition | None = None,
) -> TriggerConfig:
    """A queue trigger: runs for each message enqueued on ``topic``."""
    return {
        "type": "queue",
        "topic": topic,
        "input": input,
        "config": config,
        "condition": condition,
    }


def cron(expression: str, *, condition: TriggerCondition | None = None) -> TriggerConfig:
    """A cron trigger (6 fields, seconds first, or 5)."""
    return {"type": "cron", "expression": expression, "condition": condition}


def state(*, condition: TriggerCondition | None = None) -> TriggerConfig:
    """A state trigger."""
    return {"type": "state", "condition": condition}


def stream(
    stream_name: str,
    *,
    group_id: str | None = None,
    item_id: str | None = None,
    condition: TriggerCondition | None = None,
) -> TriggerConfig:
    """A stream trigger."""
    return {
        "type": "stream",
        "stream_name": stream_name,
        "group_id": group_id,
        "item_id": item_id,
        "condition": condition,
    }


def is_api_trigger(trigger: Mapping[str, Any]) -> bool:
    """The trigger is ``http``."""
    return trigger.get("type") == "http"


def is_queue_trigger(trigger: Mapping[str, Any]) -> bool:
    """The trigger is ``queue``."""
    return trigger.get("type") == "queue"


def is_cron_trigger(trigger: Mapping[str, Any]) -> bool:
    """The trigger is ``cron``."""
    return trigger.get("type") == "cron"


def is_state_trigger(trigger: Mapping[str, Any]) -> bool:
    """The trigger is ``state``."""
    return trigger.get("type") == "state"


def is_stream_trigger(trigger: Mapping[str, Any]) -> bool:
    """The trigger is ``stream``."""
    return trigger.get("type") == "stream"


# --- step builders ------------------------------------------------------------------


@dataclass
class StepDefinition:
    """A config and its handler."""

    config: StepConfig
    handler: Callable[..., Any]


class StepBuilder:
    """``step(config).handle(handler)``."""

    def __init__(self, config: StepConfig) -> None:
        self.config = config

    def handle(self, handler: Callable[..., Any]) -> StepDefinition:
        """The step with its handler."""
        return StepDefinition(self.config, handler)


def step(
    config: StepConfig, handler: Callable[..., Any] | None = None
) -> StepDefinition | StepBuilder:
    """``step(config, handler)``, or ``step(config)`` to ``.handle(handler)`` later."""
    return StepDefinition(config, handler) if handler is not None else StepBuilder(config)


class _MultiTrigger:
    def __init__(self, config: StepConfig) -> None:
        self.config = config
        self._handlers: dict[str, Callable[..., Any]] = {}

    def _on(self, kind: str, handler: Callable[..., Any]) -> _MultiTrigger:
        self._handlers[kind] = handler
        return self

    def on_queue(self, handler: Callable[..., Any]) -> _MultiTrigger:
        """The handler of queue triggers."""
        return self._on("queue", handler)

    def on_http(self, handler: Callable[..., Any]) -> _MultiTrigger:
        """The handler of HTTP triggers."""
        return self._on("http", handler)

    def on_cron(self, handler: Callable[..., Any]) -> _MultiTrigger:
        """The handler of cron triggers (it gets the context only)."""
        return self._on("cron", handler)

    def handlers(self) -> StepDefinition:
        """The step, dispatching on the trigger type."""

        async def unified(input_data: Any, ctx: FlowContext[Any]) -> Any:
            kind = ctx.trigger["type"]
            handler = self._handlers.get(kind)
            if handler is None:
                raise RuntimeError(
                    f"No handler defined for trigger type: {kind}."
                    f" Available handlers: {', '.join(self._handlers)}"
                )
            result = handler(ctx) if kind == "cron" else handler(input_data, ctx)
            return await result if hasattr(result, "__await__") else result

        return StepDefinition(self.config, unified)


def multi_trigger_step(config: StepConfig) -> _MultiTrigger:
    """``multi_trigger_step(config).on_queue(...).on_http(...).handlers()``."""
    return _MultiTrigger(config)


# --- services bound to the invocation ---------------------------------------------


def enqueue(event: Mapping[str, Any]) -> None:
    """Enqueue ``{"topic", "data", "messageGroupId"?}``; returns once it is durable."""
    if not isinstance(event, Mapping) or not isinstance(event.get("topic"), str):
        raise TypeError('enqueue expects {"topic": str, "data": ..., "messageGroupId"?: str}')
    params: dict[str, Any] = {"topic": event["topic"], "data": event.get("data")}
    group = event.get("messageGroupId", event.get("message_group_id"))
    if group is not None:
        params["messageGroupId"] = group
    _call("enqueue", Method.EMIT, params)


class _Logger:
    """``logger.info(message, fields)`` and the other levels: to the trace of
    the invocation running, or stderr outside one."""

    def _log(self, level: str, message: object, fields: Mapping[str, Any] | None) -> None:
        context = CURRENT.get()
        if context is not None:
            context.logger.log(level, message, fields)
        else:
            sys.stderr.write(f"[{level}] {message}{'' if fields is None else f' {dict(fields)}'}\n")

    def debug(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """A debug record."""
        self._log("debug", message, fields)

    def info(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """An info record."""
        self._log("info", message, fields)

    def warn(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """A warning."""
        self._log("warn", message, fields)

    warning = warn

    def error(self, message: object, fields: Mapping[str, Any] | None = None) -> None:
        """An error record."""
        self._log("error", message, fields)


logger = _Logger()


class StateManager:
    """Motia 1.x's ``stateManager`` (state.py): blocking calls by scope and key."""

    def get(self, scope: str, key: str) -> Any:
        """The value, or ``None``."""
        return _call("stateManager.get", Method.STATE_GET, {"groupId": scope, "key": key})

    def set(self, scope: str, key: str, value: Any) -> Any:
        """Store ``value``; ``{"new_value", "old_value"?}`` as Motia's StreamSetResult."""
        old = self.get(scope, key)
        stored = _call(
            "stateManager.set", Method.STATE_SET, {"groupId": scope, "key": key, "value": value}
        )
        return {"new_value": stored} if old is None else {"old_value": old, "new_value": stored}

    def update(self, scope: str, key: str, ops: list[dict[str, Any]]) -> Any:
        """Apply ``ops`` (set, merge, increment, decrement, remove) in the store in
        one step; ``{"new_value", "old_value"?}``."""
        params = {"groupId": scope, "key": key, "ops": ops}
        result = _call("stateManager.update", Method.STATE_UPDATE, params)
        out = {"new_value": result["newValue"]}
        if "oldValue" in result:
            out["old_value"] = result["oldValue"]
        return out

    def delete(self, scope: str, key: str) -> Any:
        """Remove and return the value."""
        return _call("stateManager.delete", Method.STATE_DELETE, {"groupId": scope, "key": key})

    def list(self, scope: str) -> Any:
        """Every value of the scope."""
        return _call("stateManager.list", Method.STATE_GET_GROUP, {"groupId": scope})

    def list_groups(self) -> Any:
        """Every scope that holds a value."""
        return _call("stateManager.list_groups", Method.STATE_LIST_GROUPS, {})

    def clear(self, scope: str) -> None:
        """Remove every value of the scope."""
        _call("stateManager.clear", Method.STATE_CLEAR, {"groupId": scope})


stateManager = StateManager()
state_manager = stateManager


class Stream(Generic[T]):
    """``Stream(config)`` or ``Stream("name")``: a stream's items by group and id
    (Motia's streams.py)."""

    def __init__(self, config: Mapping[str, Any] | str | Any) -> None:
        self.config = config
        if isinstance(config, str):
            self.name = config
        elif isinstance(config, Mapping):
            self.name = str(config["name"])
        else:
            self.name = str(config.name)
        self.stream_name = self.name

    def get(self, group_id: str, item_id: str) -> Any:
        """The item, or ``None``."""
        return _call(
            "Stream.get",
            Method.STREAM_GET,
            {"stream": self.name, "groupId": group_id, "id": item_id},
        )

    def set(self, group_id: str, item_id: str, data: Any) -> Any:
        """Store the item; ``{"new_value", "old_value"?}`` as Motia's StreamSetResult."""
        old = self.get(group_id, item_id)
        stored = _call(
            "Stream.set",
            Method.STREAM_SET,
            {"stream": self.name, "groupId": group_id, "id": item_id, "data": data},
        )
        return {"new_value": stored} if old is None else {"old_value": old, "new_value": stored}

    def delete(self, group_id: str, item_id: str) -> Any:
        """Remove the item."""
        return _call(
            "Stream.delete",
            Method.STREAM_DELETE,
            {"stream": self.name, "groupId": group_id, "id": item_id},
        )

    def get_group(self, group_id: str) -> Any:
        """Every item of the group."""
        return self.list(group_id)

    def list(self, group_id: str) -> Any:
        """Every item of the group."""
        return _call(
            "Stream.list", Method.STREAM_GET_GROUP, {"stream": self.name, "groupId": group_id}
        )

    def update(self, group_id: str, item_id: str, ops: Sequence[Mapping[str, Any]]) -> Any:
        """Apply update operations to the item; ``{"new_value", "old_value"?}``."""
        params = {"stream": self.name, "groupId": group_id, "id": item_id, "ops": ops}
        result = _call("Stream.update", Method.STREAM_UPDATE, params)
        out = {"new_value": result["newValue"]}
        if "oldValue" in result:
            out["old_value"] = result["oldValue"]
        return out

    def list_groups(self) -> Any:
        """Every group of the stream."""
        return _call("Stream.list_groups", Method.STREAM_LIST_GROUPS, {"stream": self.name})
