"""Wire messages of the step protocol as msgspec Structs.

The envelope (request, notification, response) is decoded first; ``params``
stay raw until the method is known, so an unknown method still gets ``-32601``
with the request's id (two-stage decoding, as msgspec recommends).
Field names are the wire's camelCase via ``rename="camel"``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

PROTOCOL_VERSION = "1.0"
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
"""16 MiB: large enough for any sane payload, small enough that one bad line
cannot exhaust the broker's memory."""

RequestId = int | str
LogLevel = Literal["debug", "info", "warn", "error"]


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every params/result Struct: camelCase on the wire."""


# --- envelope ---------------------------------------------------------------


class ErrorObject(msgspec.Struct, omit_defaults=True):
    """JSON-RPC ``error`` member."""

    code: int
    message: str
    data: Any = None


class Request(msgspec.Struct, tag_field="jsonrpc", tag="2.0"):
    """An outgoing request (params already typed)."""

    id: RequestId
    method: str
    params: Any = None


class Notification(msgspec.Struct, tag_field="jsonrpc", tag="2.0"):
    """An outgoing notification."""

    method: str
    params: Any = None


class Response(msgspec.Struct, tag_field="jsonrpc", tag="2.0", omit_defaults=True):
    """An outgoing success response. ``result`` is always present on the wire."""

    id: RequestId | None
    result: Any


class ErrorResponse(msgspec.Struct, tag_field="jsonrpc", tag="2.0"):
    """An outgoing error response."""

    id: RequestId | None
    error: ErrorObject


class Envelope(msgspec.Struct):
    """Any incoming message, before its kind is known.

    A request has ``id`` and ``method``; a notification only ``method``; a
    response ``id`` and ``result`` or ``error``. ``params`` and ``result`` stay
    raw for the second decoding stage.
    """

    jsonrpc: str | msgspec.UnsetType = msgspec.UNSET
    id: RequestId | msgspec.UnsetType | None = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: ErrorObject | msgspec.UnsetType = msgspec.UNSET


# --- shared shapes ----------------------------------------------------------


class ErrorInfo(_Wire):
    """A failure of user code (a handler or a step file that failed to load)."""

    type: str
    message: str
    stack: str = ""
    retryable: bool = True


class SdkInfo(_Wire):
    """Who answered ``initialize``."""

    name: str
    version: str
    language: str


# --- broker -> child --------------------------------------------------------


class InitializeParams(_Wire):
    """``initialize``: the files the child must load."""

    protocol_version: str
    project: str
    steps: list[str]
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES


class LoadedStep(_Wire):
    """One step file's outcome: its config, or the error that stopped it."""

    path: str
    config: dict[str, Any] | None = None
    error: ErrorInfo | None = None


class InitializeResult(_Wire):
    """The child's answer to ``initialize``."""

    protocol_version: str
    sdk: SdkInfo
    steps: list[LoadedStep]


class ApiTrigger(_Wire, tag_field="type", tag="api"):
    """The invocation answers an HTTP request."""


class EventTrigger(_Wire, tag_field="type", tag="event"):
    """The invocation handles one event delivery."""

    topic: str
    event_id: str
    message_group_id: str | None = None


class CronTrigger(_Wire, tag_field="type", tag="cron"):
    """The invocation is a cron tick."""


Trigger = ApiTrigger | EventTrigger | CronTrigger


class ApiRequest(_Wire):
    """The ``input`` of an api invocation (Motia's request shape)."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    path_params: dict[str, str]
    query_params: dict[str, str | list[str]]


class InvokeParams(_Wire):
    """``invoke``: run one handler."""

    step: str
    trigger: Trigger
    input: Any
    trace_id: str
    invocation_id: str
    attempt: int
    timeout_ms: int


class ApiResult(_Wire):
    """What an api handler must return. ``body`` stays raw JSON so the broker
    sends it on without decoding it."""

    status: int
    body: msgspec.Raw = msgspec.Raw(b"null")
    headers: dict[str, str | int | float | bool] = {}


class CancelParams(_Wire):
    """``$/cancel``: stop the invocation whose ``invoke`` had this id."""

    id: RequestId


# --- child -> broker --------------------------------------------------------


class EmitParams(_Wire):
    """``emit``: publish an event; answered once it is durable."""

    invocation_id: str
    topic: str
    data: msgspec.Raw = msgspec.Raw(b"null")
    """Kept as raw JSON: the broker stores and forwards it without re-encoding."""
    message_group_id: str | None = None


class EmitResult(_Wire):
    """The id the committed event got."""

    event_id: str


class StateKeyParams(_Wire):
    """``state.get`` and ``state.delete``."""

    invocation_id: str
    group_id: str
    key: str


class StateSetParams(_Wire):
    """``state.set``."""

    invocation_id: str
    group_id: str
    key: str
    value: msgspec.Raw
    """Kept as raw JSON, stored as is."""


class StateGroupParams(_Wire):
    """``state.getGroup`` and ``state.clear``."""

    invocation_id: str
    group_id: str


class LogParams(_Wire):
    """``log`` notification: one structured record from user code."""

    level: LogLevel
    message: str
    invocation_id: str | None = None
    fields: dict[str, Any] | None = None


BROKER_TO_CHILD: dict[str, type[_Wire] | None] = {
    "initialize": InitializeParams,
    "invoke": InvokeParams,
    "$/cancel": CancelParams,
    "ping": None,
    "shutdown": None,
}
"""Params type of every method the broker sends (``None``: empty object)."""

CHILD_TO_BROKER: dict[str, type[_Wire]] = {
    "emit": EmitParams,
    "state.get": StateKeyParams,
    "state.set": StateSetParams,
    "state.delete": StateKeyParams,
    "state.getGroup": StateGroupParams,
    "state.clear": StateGroupParams,
    "log": LogParams,
}
"""Params type of every method a child sends."""
