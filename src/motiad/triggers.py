"""Motia 1.x step configs (``triggers``) in the broker's step model.

A file is read as Motia 0.17 or 1.x by its shape: a config with ``triggers`` is
1.x (Motia's ``StepConfig``, frameworks/motia/motia-js/packages/motia/src/types.ts).
Each of its ``http``, ``queue`` and ``cron`` triggers becomes an api, event or
cron step of its own, as Motia 1.x registers one engine function per trigger
(new/build/utils.ts ``Motia.addStep``); ``enqueues`` are its ``emits``, so a
0.17 ``emit`` and a 1.x ``enqueue`` of one topic reach the same subscribers.
The step's child is told which trigger fired (``trigger.index``, SPEC
``invoke.trigger-index``) and runs the trigger's condition itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from .config import (
    ApiStepConfig,
    CronStepConfig,
    Emit,
    EventStepConfig,
    Infrastructure,
    QueueSettings,
    StepConfig,
    check_step,
    config_error,
    parse_step_config,
)
from .errors import ConfigError
from .protocol.messages import Trigger


class Origin(msgspec.Struct, frozen=True, rename="camel"):
    """Which trigger of which Motia 1.x step a broker step serves."""

    step: str
    """The 1.x step's ``name``."""
    index: int
    """The trigger's position in ``triggers``."""


class _Trigger(
    msgspec.Struct, tag_field="type", rename="camel", forbid_unknown_fields=True, kw_only=True
):
    has_condition: bool = False
    """The file gave a ``condition`` function (the child evaluates it)."""


class QueueTriggerSettings(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """``queue(topic, {config})``: Motia 1.x's ``QueueConfig`` (seconds)."""

    type: Literal["standard", "fifo"] = "standard"
    max_retries: int | None = None
    visibility_timeout: float | None = None
    delay_seconds: float = 0
    concurrency: int | None = None
    backoff_type: str | None = None
    backoff_delay_ms: int | None = None


class HttpTrigger(_Trigger, tag="http"):
    """``http(method, path, {bodySchema, responseSchema, queryParams, middleware})``."""

    method: str
    path: str
    body_schema: dict[str, Any] | None = None
    response_schema: dict[str, dict[str, Any]] | None = None
    query_params: list[dict[str, Any]] = []
    middleware: list[Any] = []
    stream_body: bool = False
    """motiad's addition: ``request.requestBody.stream`` reads the body as the
    client sends it (see :attr:`motiad.config.ApiStepConfig.stream_body`)."""


class QueueTrigger(_Trigger, tag="queue"):
    """``queue(topic, {input, config})``."""

    topic: str
    input: dict[str, Any] | None = None
    config: QueueTriggerSettings | None = None


class CronTrigger(_Trigger, tag="cron"):
    """``cron(expression)``: 5 fields, or 6 with seconds first as Motia 1.x writes them."""

    expression: str


class StateTrigger(_Trigger, tag="state"):
    """``state(condition)``: fires on a change of any state item."""


class StreamTrigger(_Trigger, tag="stream"):
    """``stream(streamName, {groupId, itemId, condition})``."""

    stream_name: str
    group_id: str | None = None
    item_id: str | None = None


AnyTrigger = HttpTrigger | QueueTrigger | CronTrigger | StateTrigger | StreamTrigger


class Motia1xConfig(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """A Motia 1.x ``StepConfig``."""

    name: str
    description: str | None = None
    triggers: list[AnyTrigger]
    enqueues: list[Emit] = []
    virtual_enqueues: list[Emit] = []
    virtual_subscribes: list[str] = []
    flows: list[str] = []
    include_files: list[str] = []


class ApiTriggerConfig(ApiStepConfig, tag="api", kw_only=True):
    """An ``http`` trigger of a Motia 1.x step, served as an api step."""

    origin: Origin


class EventTriggerConfig(EventStepConfig, tag="event", kw_only=True):
    """A ``queue`` trigger of a Motia 1.x step, served as an event step."""

    origin: Origin


class CronTriggerConfig(CronStepConfig, tag="cron", kw_only=True):
    """A ``cron`` trigger of a Motia 1.x step, served as a cron step."""

    origin: Origin


def is_motia1x(raw: Mapping[str, Any]) -> bool:
    """Whether a reported config is Motia 1.x's (it has ``triggers``)."""
    return "triggers" in raw


def parse_step_configs(raw: Mapping[str, Any], source: Path | str) -> list[StepConfig]:
    """The broker steps of one reported config: the config itself for Motia
    0.17, one per trigger for Motia 1.x.

    Raises :class:`ConfigError` naming the file and the field.
    """
    if not isinstance(raw, Mapping) or not is_motia1x(raw):
        return [parse_step_config(raw, source)]
    raw = dict(raw)
    triggers = raw.get("triggers")
    if isinstance(triggers, list):
        raw["triggers"] = [_upper_method(t) for t in triggers]
    try:
        config = msgspec.convert(raw, Motia1xConfig)
    except msgspec.ValidationError as exc:
        raise config_error(
            exc,
            source,
            target=Motia1xConfig,
            root="config",
            missing="missing (required in a Motia 1.x step)",
            unknown="unknown field of Motia 1.x steps",
        ) from None
    if not config.triggers:
        raise ConfigError(source, "must name at least one trigger", field="config.triggers")
    names = _trigger_names(config)
    steps: list[StepConfig] = []
    for index, trigger in enumerate(config.triggers):
        field = f"config.triggers[{index}]"
        step = _broker_step(config, index, trigger, names[index])
        try:
            check_step(step, source)
        except ConfigError as exc:
            raise ConfigError(source, exc.message, field=_field_in(exc.field, field)) from None
        steps.append(step)
    return steps


def with_index(config: StepConfig, trigger: Trigger) -> Trigger:
    """``trigger`` with the index of the 1.x trigger ``config`` serves
    (unchanged for a 0.17 step)."""
    origin = getattr(config, "origin", None)
    if not isinstance(origin, Origin):
        return trigger
    return msgspec.structs.replace(trigger, index=origin.index)


def _upper_method(trigger: Any) -> Any:
    if isinstance(trigger, Mapping) and isinstance(trigger.get("method"), str):
        return {**trigger, "method": trigger["method"].upper()}
    return trigger


def _trigger_names(config: Motia1xConfig) -> list[str]:
    """The broker name of each trigger: the step's own for a step with one
    trigger, else Motia's function suffix (``CreateUser::http(POST /users)``,
    utils.ts ``getTriggerSuffix``; a repeated one gets ``-index``)."""
    if len(config.triggers) == 1:
        return [config.name]
    seen: set[str] = set()
    names = []
    for index, trigger in enumerate(config.triggers):
        suffix = _suffix(trigger)
        if suffix in seen:
            suffix = f"{suffix}-{index}"
        seen.add(suffix)
        names.append(f"{config.name}::{suffix}")
    return names


def _suffix(trigger: AnyTrigger) -> str:
    if isinstance(trigger, HttpTrigger):
        return f"http({trigger.method} {trigger.path})"
    if isinstance(trigger, CronTrigger):
        return f"cron({trigger.expression})"
    if isinstance(trigger, QueueTrigger):
        return f"queue({trigger.topic})"
    if isinstance(trigger, StreamTrigger):
        return f"stream({trigger.stream_name})"
    return "state"


def _broker_step(config: Motia1xConfig, index: int, trigger: AnyTrigger, name: str) -> StepConfig:
    common: dict[str, Any] = {
        "name": name,
        "description": config.description,
        "emits": config.enqueues,
        "virtual_emits": config.virtual_enqueues,
        "virtual_subscribes": config.virtual_subscribes,
        "flows": config.flows,
        "include_files": config.include_files,
        "origin": Origin(config.name, index),
    }
    if isinstance(trigger, HttpTrigger):
        return ApiTriggerConfig(
            **common,
            path=trigger.path,
            method=trigger.method,
            body_schema=trigger.body_schema,
            response_schema=trigger.response_schema,
            query_params=trigger.query_params,
            middleware=trigger.middleware,
            stream_body=trigger.stream_body,
        )
    if isinstance(trigger, QueueTrigger):
        settings = trigger.config or QueueTriggerSettings()
        infrastructure = Infrastructure(
            queue=QueueSettings(
                type=settings.type,
                max_retries=settings.max_retries,
                visibility_timeout=settings.visibility_timeout,
                delay_seconds=settings.delay_seconds,
            )
        )
        return EventTriggerConfig(
            **common, subscribes=[trigger.topic], input=trigger.input, infrastructure=infrastructure
        )
    if isinstance(trigger, StateTrigger | StreamTrigger):
        # Served as a subscriber of the internal topic the broker publishes the
        # changes on (durable, retried, in the trace of the handler that changed it).
        return EventTriggerConfig(**common, subscribes=[change_topic(trigger)])
    return CronTriggerConfig(**common, cron=_without_year(trigger.expression))


STATE_TOPIC = "motia::state"
"""Where the broker publishes every change of a state value, for state triggers."""
STREAM_TOPIC_PREFIX = "motia::stream::"
"""Followed by a stream's name: where its item changes go, for stream triggers."""


def change_trigger_text(topic: str) -> str:
    """A topic for people: ``state changes`` and ``stream NAME changes`` for the
    internal topics of state and stream triggers, else the topic."""
    if topic == STATE_TOPIC:
        return "state changes"
    if topic.startswith(STREAM_TOPIC_PREFIX):
        return f"stream {topic.removeprefix(STREAM_TOPIC_PREFIX)} changes"
    return topic


def change_topic(trigger: StateTrigger | StreamTrigger) -> str:
    """The internal topic a state or stream trigger subscribes to."""
    if isinstance(trigger, StateTrigger):
        return STATE_TOPIC
    return STREAM_TOPIC_PREFIX + trigger.stream_name


def state_change(
    group_id: str, key: str, old: msgspec.Raw | None, new: msgspec.Raw | None
) -> bytes:
    """A state trigger's input, Motia's ``StateTriggerInput`` (types.ts):
    ``{type: 'state', group_id, item_id, old_value?, new_value?}``."""
    parts = [b'{"type":"state","group_id":', msgspec.json.encode(group_id)]
    parts += [b',"item_id":', msgspec.json.encode(key)]
    if old is not None:
        parts += [b',"old_value":', bytes(old)]
    if new is not None:
        parts += [b',"new_value":', bytes(new)]
    return b"".join([*parts, b"}"])


def stream_change(
    stream: str, group_id: str, item_id: str | None, kind: str, data: bytes, timestamp: int
) -> bytes:
    """A stream trigger's input, Motia's ``StreamTriggerInput`` (types.ts):
    ``{type: 'stream', timestamp, streamName, groupId, id, event: {type, data}}``
    (``kind``: ``create``, ``update`` or ``delete``)."""
    head = msgspec.json.encode(
        {
            "type": "stream",
            "timestamp": timestamp,
            "streamName": stream,
            "groupId": group_id,
            "id": item_id,
        }
    )
    event = b'{"type":' + msgspec.json.encode(kind) + b',"data":' + data + b"}"
    return head[:-1] + b',"event":' + event + b"}"


def _without_year(expression: str) -> str:
    """Motia 1.x's docs write 7 fields, seconds first and a year last
    (``0 0 0 * * * *``, the iii engine's cron crate); a year of ``*`` changes
    nothing and is dropped (another year is refused by the schedule parser)."""
    fields = expression.split()
    return " ".join(fields[:6]) if len(fields) == 7 and fields[6] == "*" else expression


def _field_in(field: str | None, trigger_field: str) -> str:
    """``config.path`` of a broker step as the 1.x file's field: ``config.triggers[0].path``."""
    if field is None:
        return trigger_field
    return trigger_field + field.removeprefix("config")
