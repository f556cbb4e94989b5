"""Wire messages of the step protocol as msgspec Structs.

The envelope (request, notification, response) is decoded first; ``params``
stay raw until the method is known, so an unknown method still gets ``-32601``
with the request's id (two-stage decoding, as msgspec recommends).
Field names are the wire's camelCase via ``rename="camel"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

PROTOCOL_VERSION = "1.0"
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
"""16 MiB: large enough for any sane payload, small enough that one bad line
cannot exhaust the broker's memory."""
MAX_ERROR_MESSAGE_CHARS = 1024
"""SPEC ``framing.max-line.send``: an error response too long for the line limit
is sent without its ``data`` and with its message cut to this many characters,
short enough to fit any sane limit and long enough to say what failed."""
SHUTDOWN_GRACE_MS = 10_000
"""SPEC ``lifecycle.shutdown``: how long a child lets running handlers finish
after ``shutdown`` before it cancels them; the broker's own stop stages
(``lifecycle.stop``) give it no more."""

RequestId = int | str
LogLevel = Literal["debug", "info", "warn", "error"]
Version = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+\.[0-9]+$")]
"""``MAJOR.MINOR`` (SPEC ``lifecycle.version``)."""
JsonObject = Annotated[Any, msgspec.Meta(extra_json_schema={"type": "object"})]
"""Any JSON object: kept untyped in Python (``params`` of the envelope)."""


class _Wire(msgspec.Struct, rename="camel", omit_defaults=True):
    """Base of every params/result Struct: camelCase on the wire."""


def _json_null() -> msgspec.Raw:
    """The default of a raw JSON field: ``null`` (a factory, as a Raw default
    cannot be rendered into the JSON Schema)."""
    return msgspec.Raw(b"null")


# --- envelope ---------------------------------------------------------------


class ErrorObject(msgspec.Struct, omit_defaults=True):
    """The `error` member of an error response."""

    code: int
    message: str
    data: Any = None


class Request(msgspec.Struct, tag_field="jsonrpc", tag="2.0"):
    """A request: it must be answered. Absent `params` mean `{}`."""

    id: RequestId
    method: str
    params: JsonObject | msgspec.UnsetType = msgspec.UNSET


class Notification(msgspec.Struct, tag_field="jsonrpc", tag="2.0"):
    """A notification: it is never answered. Absent `params` mean `{}`."""

    method: str
    params: JsonObject | msgspec.UnsetType = msgspec.UNSET


class Response(msgspec.Struct, tag_field="jsonrpc", tag="2.0", omit_defaults=True):
    """A success response: the request's `id` and its `result` (always present)."""

    id: RequestId
    result: Any


class ErrorResponse(msgspec.Struct, tag_field="jsonrpc", tag="2.0"):
    """An error response; `id` is `null` when the line it answers had no readable id."""

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


class InvalidParamsData(_Wire):
    """The ``data`` of a ``-32602`` error."""

    path: str
    """JSON path of the offending field, from the message root: ``$.params.trigger.topic``."""


class Empty(_Wire):
    """``{}``: the params of ``ping`` and ``shutdown``, the result of ``ping``."""


class SdkInfo(_Wire):
    """Who answered ``initialize``."""

    name: str
    version: str
    language: str


# --- broker -> child --------------------------------------------------------


class InitializeParams(_Wire, omit_defaults=False):
    """``initialize``: the files the child must load, and the line limit of
    both directions (always sent)."""

    protocol_version: Version
    project: str
    steps: list[str]
    max_line_bytes: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_MAX_LINE_BYTES
    streams: list[str] | msgspec.UnsetType = msgspec.UNSET
    """Stream definition files to load (SPEC ``lifecycle.streams``); sent only
    when there are some, so a child that does not know the field never sees it."""
    stream_auth: str | msgspec.UnsetType = msgspec.UNSET
    """The project's ``motia.config.ts`` (or ``.js``) that exports
    ``authenticateStream`` (SPEC ``stream.hooks``); sent with ``streams``, only
    when there is one."""


class LoadedStep(_Wire):
    """One step (or stream) file's outcome: its config, or the error that stopped
    it (for a step, possibly with the config that could be read)."""

    path: str
    config: dict[str, Any] | None = None
    error: ErrorInfo | None = None


_ONE_OUTCOME = {"oneOf": [{"required": ["config"]}, {"required": ["error"]}]}
_STEP_OUTCOME = {"anyOf": [{"required": ["config"]}, {"required": ["error"]}]}
"""A step entry may carry its config beside its error (SPEC ``lifecycle.initialize``)."""


class InitializeResult(_Wire):
    """The child's answer to ``initialize``."""

    protocol_version: Version
    sdk: SdkInfo
    steps: list[Annotated[LoadedStep, msgspec.Meta(extra_json_schema=_STEP_OUTCOME)]]
    """One entry per path of ``initialize``, in the same order."""
    streams: (
        list[Annotated[LoadedStep, msgspec.Meta(extra_json_schema=_ONE_OUTCOME)]]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    """One entry per path of ``initialize.streams``, in order; absent when the
    child does not load stream files."""
    stream_auth: (
        Annotated[LoadedStep, msgspec.Meta(extra_json_schema=_ONE_OUTCOME)] | msgspec.UnsetType
    ) = msgspec.UNSET
    """The outcome of ``initialize.streamAuth`` (its ``config`` is ``{}``);
    absent when the child does not load it."""


TriggerIndex = Annotated[int, msgspec.Meta(ge=0)]
"""SPEC ``invoke.trigger-index``: which of a Motia 1.x step's ``triggers`` fired;
absent for a step with one trigger kind (every Motia 0.17 step)."""


class ApiTrigger(_Wire, tag_field="type", tag="api", kw_only=True):
    """The invocation answers an HTTP request."""

    index: TriggerIndex | None = None
    refusal: ApiResult | None = None
    """The response to give in place of the handler's (the body failed the
    step's ``bodySchema``): the step's middleware runs first, as in Motia, and
    when the chain calls ``next()`` it gets this response, not the handler's."""


class EventTrigger(_Wire, tag_field="type", tag="event"):
    """The invocation handles one event delivery."""

    topic: str
    event_id: str
    message_group_id: str | None = None
    index: TriggerIndex | None = None


class CronTrigger(_Wire, tag_field="type", tag="cron", kw_only=True):
    """The invocation is a cron tick."""

    index: TriggerIndex | None = None


class StreamHookTrigger(_Wire, tag_field="type", tag="streamHook"):
    """The invocation runs a stream file's hook (SPEC ``stream.hooks``): ``join``
    (Motia 1.x ``onJoin``, 0.17 ``canAccess``) or ``leave`` (``onLeave``) when a
    WebSocket client subscribes or unsubscribes, or ``authenticate``
    (``authenticateStream`` of ``motia.config.ts``) when one connects."""

    hook: Literal["join", "leave", "authenticate"]
    index: TriggerIndex | None = None
    """Never sent: a hook is no trigger of a step (every trigger has the field)."""


Trigger = ApiTrigger | EventTrigger | CronTrigger | StreamHookTrigger


class ApiRequest(_Wire):
    """The ``input`` of an api invocation (Motia's request shape)."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    path_params: dict[str, str]
    query_params: dict[str, str | list[str]]
    body_encoding: Literal["base64"] | None = None
    """``base64``: ``body`` is bytes (a body of no JSON, form or text type),
    sent as a base64 string; the SDK hands the handler the bytes."""
    body_stream: bool = False
    """``true``: ``body`` is ``null`` and the handler reads the body as a
    stream, chunk by chunk with ``http.read`` (SPEC ``http.body-stream``)."""


class InvokeParams(_Wire, omit_defaults=False):
    """``invoke``: run one handler. Every field is always sent (``timeoutMs: null``
    included), though a receiver defaults a missing ``attempt`` to 1 and a
    missing ``timeoutMs`` to no budget."""

    step: str
    trigger: Trigger
    input: Any
    """Required, ``null`` for cron."""
    trace_id: str
    invocation_id: str
    attempt: Annotated[int, msgspec.Meta(ge=1)] = 1
    timeout_ms: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """The handler's budget in milliseconds; ``null``: none."""
    traceparent: str | None = None
    """The invocation's W3C ``traceparent`` (its trace, its own span), for the
    handler to pass on in its outgoing calls; ``null`` or absent from an older broker."""


class ApiResult(_Wire):
    """What an api handler returns: an integer `status`, any JSON `body`, and
    `headers` (values are sent as text)."""

    status: int
    body: msgspec.Raw = msgspec.field(default_factory=_json_null)
    """Kept raw: the broker sends it on without decoding it."""
    headers: dict[str, str | int | float | bool] = {}
    body_encoding: Literal["base64"] | None = None
    """``base64``: ``body`` is a base64 string of bytes to send as they are."""


class CancelParams(_Wire):
    """``$/cancel``: stop the invocation whose ``invoke`` had this id."""

    id: RequestId


class TitleParams(_Wire):
    """``$/title``: the process title the child should show in ``ps`` (SPEC
    ``lifecycle.title``): motiad, its language and the steps it hosts, already
    short enough for the child's argument area."""

    title: str


# --- child -> broker --------------------------------------------------------


class EmitParams(_Wire):
    """``emit``: publish an event; answered once it is durable."""

    invocation_id: str
    topic: str
    data: msgspec.Raw = msgspec.field(default_factory=_json_null)
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


class UpdateSet(_Wire, tag_field="type", tag="set"):
    """Set the top-level field ``path`` to ``value`` (``""``: the whole value)."""

    path: str
    value: Any = None


class UpdateMerge(_Wire, tag_field="type", tag="merge"):
    """Merge the object ``value`` into the value (at the root: ``path`` ``""`` or absent)."""

    value: Any
    path: str | None = None


class UpdateIncrement(_Wire, tag_field="type", tag="increment"):
    """Add ``by`` to the integer field ``path`` (absent: it becomes ``by``)."""

    path: str
    by: int


class UpdateDecrement(_Wire, tag_field="type", tag="decrement"):
    """Subtract ``by`` from the integer field ``path`` (absent: it becomes ``-by``)."""

    path: str
    by: int


class UpdateRemove(_Wire, tag_field="type", tag="remove"):
    """Remove the field ``path``."""

    path: str


UpdateOp = UpdateSet | UpdateMerge | UpdateIncrement | UpdateDecrement | UpdateRemove
"""Motia 1.x's ``UpdateOp`` (iii-sdk stream.ts), applied as the iii engine does (builtins/kv.rs)."""


class StateUpdateParams(_Wire):
    """``state.update``: apply ``ops`` to one value in the store, in one step."""

    invocation_id: str
    group_id: str
    key: str
    ops: list[UpdateOp]


class StateUpdateResult(_Wire):
    """The value after ``state.update``, and before it (absent when there was none)."""

    new_value: Any
    old_value: Any = msgspec.UNSET


class StreamUpdateParams(_Wire):
    """``stream.update``: apply ``ops`` to one item (validated as ``stream.set``)."""

    invocation_id: str
    stream: str
    group_id: str
    id: str
    ops: list[UpdateOp]


class StreamNameParams(_Wire):
    """``stream.listGroups``: the groups of one stream."""

    invocation_id: str
    stream: str


class HttpWriteParams(_Wire):
    """``http.write``: a chunk of the streamed response of the api invocation
    (SPEC ``http.stream``); the first one also sends ``status`` and ``headers``."""

    invocation_id: str
    chunk: str
    """The bytes: UTF-8 text, or base64 with ``encoding: "base64"``."""
    encoding: Literal["base64"] | None = None
    status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None = None
    headers: dict[str, str] | None = None


class HttpReadParams(_Wire):
    """``http.read``: the next chunk of the streamed request body of the api
    invocation (SPEC ``http.body-stream``)."""

    invocation_id: str


class HttpReadResult(_Wire):
    """A chunk of the request body: ``chunk`` base64 (``""`` at the end);
    ``done`` once the body has ended; ``error`` when it was cut short."""

    chunk: str
    done: bool
    error: str | None = None
    """Why the body ended before its end (the client went away, the body
    limit): the handler's stream fails with it."""


class InvocationParams(_Wire):
    """``state.listGroups``: only the invocation."""

    invocation_id: str


class StateGroupParams(_Wire):
    """``state.getGroup`` and ``state.clear``."""

    invocation_id: str
    group_id: str


class StreamItemParams(_Wire):
    """``stream.get`` and ``stream.delete``: one item."""

    invocation_id: str
    stream: str
    group_id: str
    id: str


class StreamSetParams(_Wire):
    """``stream.set``: store an item (validated against the stream's schema)."""

    invocation_id: str
    stream: str
    group_id: str
    id: str
    data: Annotated[msgspec.Raw, msgspec.Meta(extra_json_schema={"type": "object"})]
    """A JSON object, kept raw until the broker validates it."""


class StreamGroupParams(_Wire):
    """``stream.getGroup``: every item of a group."""

    invocation_id: str
    stream: str
    group_id: str


class StreamSendParams(_Wire):
    """``stream.send``: an ephemeral event for the group's (or one item's)
    subscribers; nothing is stored."""

    invocation_id: str
    stream: str
    group_id: str
    type: str
    data: msgspec.Raw = msgspec.field(default_factory=_json_null)
    id: str | None = None


class LogParams(_Wire):
    """``log`` notification: one structured record from user code."""

    level: LogLevel
    message: str
    invocation_id: str | None = None
    fields: dict[str, Any] | None = None


Direction = Literal["broker-to-child", "child-to-broker"]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One method of the protocol: who sends it, how, and its shapes."""

    name: str
    direction: Direction
    kind: Literal["request", "notification"]
    params: type[_Wire]
    result: Any = None
    """The type of the result (``None``: JSON ``null``); unused for notifications."""


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("initialize", "broker-to-child", "request", InitializeParams, InitializeResult),
        MethodSpec("invoke", "broker-to-child", "request", InvokeParams, ApiResult | None),
        MethodSpec("$/cancel", "broker-to-child", "notification", CancelParams),
        MethodSpec("$/title", "broker-to-child", "notification", TitleParams),
        MethodSpec("ping", "broker-to-child", "request", Empty, Empty),
        MethodSpec("shutdown", "broker-to-child", "request", Empty, None),
        MethodSpec("emit", "child-to-broker", "request", EmitParams, EmitResult),
        MethodSpec("state.get", "child-to-broker", "request", StateKeyParams, Any),
        MethodSpec("state.set", "child-to-broker", "request", StateSetParams, Any),
        MethodSpec("state.delete", "child-to-broker", "request", StateKeyParams, Any),
        MethodSpec("state.getGroup", "child-to-broker", "request", StateGroupParams, list[Any]),
        MethodSpec("state.clear", "child-to-broker", "request", StateGroupParams, None),
        MethodSpec(
            "state.update", "child-to-broker", "request", StateUpdateParams, StateUpdateResult
        ),
        MethodSpec("state.listGroups", "child-to-broker", "request", InvocationParams, list[str]),
        MethodSpec("http.write", "child-to-broker", "request", HttpWriteParams, None),
        MethodSpec("http.read", "child-to-broker", "request", HttpReadParams, HttpReadResult),
        MethodSpec(
            "stream.update", "child-to-broker", "request", StreamUpdateParams, StateUpdateResult
        ),
        MethodSpec("stream.listGroups", "child-to-broker", "request", StreamNameParams, list[str]),
        MethodSpec("stream.get", "child-to-broker", "request", StreamItemParams, JsonObject | None),
        MethodSpec("stream.set", "child-to-broker", "request", StreamSetParams, JsonObject),
        MethodSpec(
            "stream.delete", "child-to-broker", "request", StreamItemParams, JsonObject | None
        ),
        MethodSpec(
            "stream.getGroup", "child-to-broker", "request", StreamGroupParams, list[JsonObject]
        ),
        MethodSpec("stream.send", "child-to-broker", "request", StreamSendParams, None),
        MethodSpec("log", "child-to-broker", "notification", LogParams),
    )
}
"""Every method of protocol version 1 (SPEC §3)."""

BROKER_TO_CHILD: dict[str, type[_Wire]] = {
    name: spec.params for name, spec in METHODS.items() if spec.direction == "broker-to-child"
}
"""Params type of every method the broker sends."""

CHILD_TO_BROKER: dict[str, type[_Wire]] = {
    name: spec.params for name, spec in METHODS.items() if spec.direction == "child-to-broker"
}
"""Params type of every method a child sends."""
