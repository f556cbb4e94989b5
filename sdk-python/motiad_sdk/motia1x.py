"""Motia 1.x steps (``config["triggers"]``) in a motiad child.

The config the broker sees, and one invocation of a trigger as Motia 1.x's
Python runtime makes it (frameworks/motia/motia-py/packages/motia/src/motia/
runtime.py: ``Motia.add_step``, ``_flow_context``, ``_compose_middleware``).
The broker serves each trigger as an api, event or cron step of its own and
says in ``invoke`` which one fired (``trigger.index``, SPEC ``invoke.trigger-index``).
The ``motia`` module (sdk-python/motia) reads the invocation running from
:data:`CURRENT`, as Motia's reads its engine connection from a module global.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from .context import Context
from .http_streams import BodyStream
from .middleware import middleware_name
from .tables import Method

CURRENT: ContextVar[Context | None] = ContextVar("motia_invocation", default=None)
"""The motiad context of the invocation this code runs for (set by the runner)."""

T = TypeVar("T")
_SNAKE = re.compile(r"_([a-z])")
_TRIGGER_TYPES = {
    "api": "http",
    "event": "queue",
    "cron": "cron",
    "state": "state",
    "stream": "stream",
}


def is_motia1x(config: Mapping[str, Any]) -> bool:
    """Whether a step config is Motia 1.x's (it has ``triggers``)."""
    return "triggers" in config


def trigger_list(config: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    """The triggers as mappings, each checked to be one."""
    triggers = config.get("triggers")
    if not isinstance(triggers, list | tuple):
        raise TypeError(
            f"`config['triggers']` in {path} must be a list of triggers"
            " (http(...), queue(...), ...)"
        )
    out = []
    for index, trigger in enumerate(triggers):
        as_dict = getattr(trigger, "model_dump", None)
        value = as_dict() if callable(as_dict) else trigger
        if not isinstance(value, Mapping):
            raise TypeError(
                f"`config['triggers'][{index}]` in {path} must be a trigger"
                " such as http('GET', '/path')"
            )
        out.append(value)
    return out


def json_config(
    config: Mapping[str, Any], triggers: list[Mapping[str, Any]], schema: Callable[[Any], Any]
) -> dict[str, Any]:
    """The JSON the broker reads: camelCase keys (Motia's Python helpers take
    snake_case), schemas as JSON Schema, middleware by name, a condition said
    as ``hasCondition`` (the child evaluates it)."""
    out: dict[str, Any] = {_camel(k): v for k, v in config.items()}
    shaped = []
    for trigger in triggers:
        item: dict[str, Any] = {}
        for key, value in trigger.items():
            if value is None:
                continue
            name = _camel(key)
            if name == "condition":
                item["hasCondition"] = True
            elif name == "middleware":
                item["middleware"] = [middleware_name(m) for m in value]
            elif name in ("bodySchema", "input"):
                item[name] = schema(value)
            elif name == "responseSchema" and isinstance(value, Mapping):
                item[name] = {str(status): schema(s) for status, s in value.items()}
            elif name == "config" and isinstance(value, Mapping):
                item[name] = {_camel(k): v for k, v in value.items() if v is not None}
            else:
                item[name] = value
        shaped.append(item)
    out["triggers"] = shaped
    return out


def _camel(key: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


class TriggerInfo(dict[str, Any]):
    """Which trigger fired (Motia's ``TriggerInfo``): ``type``, ``index``, and
    ``method``/``path``, ``topic`` or ``expression``; keys read as attributes too."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


class FlowContext(Generic[T]):
    """Motia 1.x's ``FlowContext`` (types.py): ``trace_id``, ``trigger``,
    ``is_queue()``/``is_api()``/``is_cron()``/``is_state()``/``is_stream()``,
    ``get_data()`` and ``match(handlers)``."""

    def __init__(self, trace_id: str, trigger: TriggerInfo, input_value: Any) -> None:
        self.trace_id = trace_id
        self.trigger = trigger
        self.input_value = input_value

    def is_queue(self) -> bool:
        """The trigger is a queue trigger."""
        return bool(self.trigger["type"] == "queue")

    def is_api(self) -> bool:
        """The trigger is an HTTP request."""
        return bool(self.trigger["type"] == "http")

    def is_cron(self) -> bool:
        """The trigger is a cron tick."""
        return bool(self.trigger["type"] == "cron")

    def is_state(self) -> bool:
        """The trigger is a state change."""
        return bool(self.trigger["type"] == "state")

    def is_stream(self) -> bool:
        """The trigger is a stream event."""
        return bool(self.trigger["type"] == "stream")

    def get_data(self) -> Any:
        """The payload whatever the trigger: the request body, the queue data, ``None`` for cron."""
        if self.is_cron():
            return None
        if isinstance(self.input_value, MotiaHttpArgs):
            return self.input_value.request.body
        return self.input_value

    async def match(self, handlers: Mapping[str, Any]) -> Any:
        """Run the handler of the trigger type that fired (``http`` or ``api``
        for HTTP), else ``default``; Motia raises when none matches."""
        keys = {
            "queue": ["queue"],
            "http": ["http", "api"],
            "cron": ["cron"],
            "state": ["state"],
            "stream": ["stream"],
        }
        kind = self.trigger["type"]
        handler = next((handlers[k] for k in keys[kind] if k in handlers), None)
        if handler is not None:
            return await _maybe_await(handler() if kind == "cron" else handler(self.input_value))
        if "default" in handlers:
            return await _maybe_await(handlers["default"](self.input_value))
        available = ", ".join(k for k in handlers if k != "default")
        raise RuntimeError(
            f"No handler matched for trigger type: {kind}. Available handlers: {available}"
        )


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class RequestBody:
    """Motia's ``ChannelReader`` of the request body: ``stream`` iterates the
    bytes as the client sent them (``async for`` as Motia's docs read it, or
    ``for`` as its playground's sse_step.py does). A trigger with
    ``stream_body=True`` reads them from the broker as the client sends them
    (SPEC ``http.body-stream``); otherwise the body came whole and parsed, and
    JSON and form bodies are written back in their own encoding."""

    def __init__(self, body: Any, content_type: str, streamed: bool = False) -> None:
        context = CURRENT.get()
        if streamed and context is not None:
            self.stream = BodyStream(context.channel)
            return
        if isinstance(body, bytes | bytearray):
            raw = bytes(body)
        elif isinstance(body, str):
            raw = body.encode()
        elif content_type.startswith("application/x-www-form-urlencoded") and isinstance(
            body, Mapping
        ):
            raw = urlencode(list(_form_pairs(body))).encode()
        else:
            raw = json.dumps(body, separators=(",", ":")).encode()
        self.stream = BodyStream(None, raw)


def _form_pairs(body: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in body.items():
        for one in value if isinstance(value, list) else [value]:
            yield key, str(one)


class MotiaHttpRequest(Generic[T]):
    """``args.request``: ``path_params``, ``query_params``, ``body``, ``headers``,
    ``method`` and ``request_body``."""

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.path_params = wire.get("pathParams") or {}
        self.query_params = wire.get("queryParams") or {}
        self.body = wire.get("body")
        self.headers = wire.get("headers") or {}
        self.method = wire.get("method", "")
        self.request_body = RequestBody(
            self.body, str(self.headers.get("content-type", "")), bool(wire.get("bodyStream"))
        )


class _Chunks:
    """``response.writer.stream``: each ``write`` is an ``http.write`` to the
    broker (SPEC ``http.stream``), the first with the status and headers set so
    far; it blocks until the client's connection took the chunk (backpressure),
    as the handler runs in a thread of its own."""

    def __init__(self, response: MotiaHttpResponse) -> None:
        self._response = response
        self.started = False

    def write(self, data: bytes | str) -> int:
        """Send ``data`` (text is sent as UTF-8)."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        params: dict[str, Any] = {"chunk": base64.b64encode(raw).decode(), "encoding": "base64"}
        if not self.started:
            self.started = True
            params["status"] = self._response.status_code or 200
            params["headers"] = self._response.header_values
        context = CURRENT.get()
        if context is None:
            raise RuntimeError("response.writer.stream.write was called outside its handler")
        context.channel.call_blocking(Method.HTTP_WRITE, params)
        return len(raw)


class _Writer:
    def __init__(self, response: MotiaHttpResponse) -> None:
        self.stream = _Chunks(response)


class MotiaHttpResponse:
    """``args.response``: ``await status(code)``, ``await headers({...})``,
    ``writer.stream.write(bytes)`` (sent as written), ``close()``."""

    def __init__(self) -> None:
        self.status_code: int | None = None
        self.header_values: dict[str, str] = {}
        self.writer = _Writer(self)

    async def status(self, status_code: int) -> None:
        """Set the status."""
        self.status_code = status_code

    async def headers(self, headers: Mapping[str, str]) -> None:
        """Add headers."""
        self.header_values.update(headers)

    def close(self) -> None:
        """The body is complete (it ends when the handler returns)."""

    def result(self) -> dict[str, Any]:
        """The api result of what was set (the body, if any, was streamed)."""
        return {"status": self.status_code or 200, "headers": self.header_values, "body": None}


class MotiaHttpArgs(Generic[T]):
    """What an HTTP trigger's handler gets: ``request`` and ``response``
    (``path_params``, ``body``, ... read through as Motia's do)."""

    def __init__(self, request: MotiaHttpRequest[Any], response: MotiaHttpResponse) -> None:
        self.request = request
        self.response = response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.request, name)


async def invoke(
    handler: Callable[..., Any],
    triggers: list[Mapping[str, Any]],
    wire_trigger: Mapping[str, Any],
    payload: Any,
    trace_id: str,
) -> Any:
    """Run a 1.x step's handler for the trigger that fired, as Motia's runtime
    does: its condition first (only an explicit ``False`` skips, as the iii
    engine's check_condition; a skipped HTTP request is answered 422 as its
    rest_api module does), then middleware and handler for HTTP."""
    index = wire_trigger.get("index") or 0
    config = triggers[index] if index < len(triggers) else {}
    kind = _TRIGGER_TYPES.get(str(wire_trigger.get("type")), "")
    if kind == "queue" and config.get("type") in ("state", "stream"):
        kind = str(config["type"])  # changes come as events of the broker's internal topics
    if config.get("type") != kind:
        raise TypeError(
            f"trigger {index} of this step is not a {kind} trigger (reload the project)"
        )
    info = TriggerInfo(type=kind, index=index)
    for key in ("method", "path", "topic", "expression"):
        if config.get(key) is not None:
            info[key] = config[key]
    condition = config.get("condition")
    if kind == "http":
        request: MotiaHttpRequest[Any] = MotiaHttpRequest(payload)
        if condition is not None:
            plain = {
                "path_params": request.path_params,
                "query_params": request.query_params,
                "body": request.body,
                "headers": request.headers,
            }
            if await _maybe_await(condition(plain, FlowContext(trace_id, info, plain))) is False:
                return {
                    "status": 422,
                    "body": {"error": "Request condition not met", "skipped": True},
                }
        response = MotiaHttpResponse()
        args: MotiaHttpArgs[Any] = MotiaHttpArgs(request, response)
        ctx: FlowContext[Any] = FlowContext(trace_id, info, args)
        refusal = wire_trigger.get("refusal")  # SPEC invoke.refusal: next() gives the 400
        run: Callable[[], Any] = (
            (lambda: dict(refusal)) if refusal is not None else (lambda: _call(handler, args, ctx))
        )
        for middleware in reversed(list(config.get("middleware") or [])):
            run = _link(middleware, args, ctx, run)
        result = _as_result(await _maybe_await(run()))
        return result if result is not None else response.result()
    value = None if kind == "cron" else payload
    if kind == "state" and isinstance(value, dict):
        # Motia's StateTriggerInput: both values always there, None when absent
        value.setdefault("old_value", None)
        value.setdefault("new_value", None)
    if kind == "stream" and not _in_scope(config, value):
        return None
    ctx = FlowContext[Any](trace_id, info, value)
    if condition is not None and await _maybe_await(condition(value, ctx)) is False:
        return None
    await _maybe_await(_call(handler, value, ctx))
    return None


def _in_scope(config: Mapping[str, Any], change: Any) -> bool:
    """``stream(name, group_id=..., item_id=...)`` watches one group, or one item of it."""
    group = config.get("group_id", config.get("groupId"))
    item = config.get("item_id", config.get("itemId"))
    if group is not None and group != change.get("groupId"):
        return False
    return item is None or item == change.get("id")


def _link(
    middleware: Callable[..., Any], args: Any, ctx: FlowContext[Any], nxt: Callable[[], Any]
) -> Callable[[], Any]:
    async def next_handler() -> Any:
        return await _maybe_await(nxt())

    return lambda: middleware(args, ctx, next_handler)


def _call(handler: Callable[..., Any], value: Any, ctx: FlowContext[Any]) -> Any:
    """``handler(input, ctx)``, or ``handler(input)`` for one written with one parameter."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return handler(value, ctx)
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == 1 and not any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return handler(value)
    return handler(value, ctx)


def _as_result(value: Any) -> dict[str, Any] | None:
    """An HTTP handler's answer as ``{status, body, headers}``: a dict, or an
    object with ``model_dump`` or the same attributes (Motia's ApiResponse)."""
    if value is None:
        return None
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump()
    if not isinstance(value, Mapping) and hasattr(value, "status"):
        value = {
            "status": value.status,
            "body": getattr(value, "body", None),
            "headers": getattr(value, "headers", None) or {},
        }
    if isinstance(value, Mapping):
        out = dict(value)
        if "status_code" in out and "status" not in out:
            out["status"] = out.pop("status_code")
        if out.get("headers") is None:
            out.pop("headers", None)
        return out
    return {"status": value}  # refused by the runner with its own message


# --- stream hooks (SPEC stream.hooks) -------------------------------------------

STREAM_HOOKS: dict[str, tuple[str, ...]] = {
    "onJoin": ("on_join", "onJoin"),
    "onLeave": ("on_leave", "onLeave"),
    "canAccess": ("can_access", "canAccess"),
}
"""Each hook a stream config may define, by the name the broker reads, with the
names a Python stream file may give it (Motia's types_stream.py: ``on_join``,
``on_leave``; 0.17's ``canAccess``)."""


class StreamSubscription:
    """Motia's ``StreamSubscription`` (types_stream.py): ``group_id`` and ``id``."""

    def __init__(self, group_id: str, id: str | None) -> None:
        self.group_id = group_id
        self.id = id

    def __repr__(self) -> str:
        return f"StreamSubscription(group_id={self.group_id!r}, id={self.id!r})"


def stream_hooks(config: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """The hooks a stream config defines, by the broker's name."""
    found: dict[str, Callable[..., Any]] = {}
    for name, spellings in STREAM_HOOKS.items():
        for spelling in spellings:
            if callable(config.get(spelling)):
                found[name] = config[spelling]
    return found


async def run_stream_hook(
    hooks: Mapping[str, Callable[..., Any]], hook: str, payload: Any, trace_id: str
) -> Any:
    """A join or leave hook as Motia's Python runtime runs it (runtime.py
    ``initialize``): ``on_join(subscription, context, auth_context)`` answers
    ``{"unauthorized": bool}`` (0.17's ``canAccess(subscription, auth_context)``
    first: falsy refuses), ``on_leave`` answers nothing. The context's trigger
    is a queue one, as Motia's."""
    data = payload if isinstance(payload, Mapping) else {}
    subscription = StreamSubscription(str(data.get("groupId", "")), data.get("id"))
    auth_context = data.get("authContext")
    ctx: FlowContext[Any] = FlowContext(trace_id, TriggerInfo(type="queue", index=0), None)
    if hook == "leave":
        if "onLeave" in hooks:
            await _maybe_await(hooks["onLeave"](subscription, ctx, auth_context))
        return None
    can_access = hooks.get("canAccess")
    if can_access is not None and not await _maybe_await(can_access(subscription, auth_context)):
        return {"unauthorized": True}
    if "onJoin" not in hooks:
        return {"unauthorized": False}
    result = await _maybe_await(hooks["onJoin"](subscription, ctx, auth_context))
    if isinstance(result, Mapping):
        return {"unauthorized": result.get("unauthorized") is True}
    return {"unauthorized": getattr(result, "unauthorized", False) is True}
