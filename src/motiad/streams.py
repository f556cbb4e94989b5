"""Stream definitions (``*.stream.ts``, ``*_stream.py``) and the checks every
``stream.set`` passes: the stream exists, the data is a JSON object that its
schema accepts. The item stored is the data with its ``id``.

Storage and the change feed live behind :class:`~motiad.storage.StreamStore`;
pushing changes to WebSocket clients is the HTTP layer's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from .config import config_error
from .errors import ConfigError, RemoteError
from .protocol import ErrorCode
from .schemas import Schema, SchemaError, refused_params


class StreamBaseConfig(
    msgspec.Struct, rename="camel", forbid_unknown_fields=True, omit_defaults=True
):
    """``baseConfig`` of a stream: only Motia's ``default`` storage exists here
    (the project's storage, SQLite or Redis)."""

    storage_type: Literal["default"] = "default"


class StreamConfig(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A stream file's ``config`` (Motia's shape), its schema already JSON Schema."""

    name: str
    schema: dict[str, Any] | bool | None = None
    base_config: StreamBaseConfig = msgspec.field(default_factory=StreamBaseConfig)
    # The hooks the file defines (SPEC ``stream.hooks``): the child reports
    # each function as ``true`` and runs it when the broker asks.
    on_join: bool = False
    """Motia 1.x ``onJoin(subscription, context, authContext)``: may refuse a join."""
    on_leave: bool = False
    """Motia 1.x ``onLeave(subscription, context, authContext)``."""
    can_access: bool = False
    """Motia 0.17 ``canAccess(subscription, authContext)``: false refuses a join."""


@dataclass(frozen=True, slots=True)
class StreamDefinition:
    """A loaded stream: its name, where it is declared and its compiled schema."""

    name: str
    file: str
    """The declaring file, relative to the project."""
    raw_schema: dict[str, Any] | bool | None
    schema: Schema | None
    joins: bool = False
    """A hook runs when a client subscribes (``onJoin`` or ``canAccess``)."""
    leaves: bool = False
    """A hook runs when a client unsubscribes (``onLeave``)."""


def parse_stream_config(raw: Mapping[str, Any], source: str) -> StreamDefinition:
    """Validate what a child reported for a stream file; errors name the file and field."""
    base = raw.get("baseConfig")
    if isinstance(base, Mapping) and base.get("storageType", "default") != "default":
        raise ConfigError(
            source,
            f"only 'default' (the project's storage) is supported, got {base['storageType']!r}",
            field="config.baseConfig.storageType",
        )
    try:
        config = msgspec.convert(raw, StreamConfig)
    except msgspec.ValidationError as exc:
        raise config_error(
            exc,
            source,
            target=StreamConfig,
            root="config",
            missing="missing (a stream config needs a name)",
            unknown="unknown field of stream configs",
        ) from None
    if not config.name or not config.name.strip():
        raise ConfigError(source, "must be a non-empty string", field="config.name")
    compiled = None
    if config.schema is not None:
        try:
            compiled = Schema.compile(config.schema)
        except SchemaError as exc:
            raise ConfigError(source, exc.message, field="config.schema") from None
    return StreamDefinition(
        config.name,
        source,
        config.schema,
        compiled,
        joins=config.on_join or config.can_access,
        leaves=config.on_leave,
    )


_decode_object = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


class StreamRegistry:
    """The streams a project declares, by name."""

    def __init__(self) -> None:
        self.definitions: dict[str, StreamDefinition] = {}

    def add(self, definition: StreamDefinition) -> None:
        """Register a stream; a name declared twice is the second file's error."""
        other = self.definitions.get(definition.name)
        if other is not None and other.file != definition.file:
            raise ConfigError(
                definition.file,
                f"stream name {definition.name!r} is already declared by {other.file}",
                field="config.name",
            )
        self.definitions[definition.name] = definition

    def remove_file(self, file: str) -> None:
        """Forget the streams ``file`` declared (``motiad dev``: it changed or went away)."""
        for name in [n for n, d in self.definitions.items() if d.file == file]:
            del self.definitions[name]

    def get(self, name: str) -> StreamDefinition:
        """The stream called ``name``; an unknown name is the caller's bad params."""
        definition = self.definitions.get(name)
        if definition is None:
            known = ", ".join(sorted(self.definitions)) or "none are declared"
            raise RemoteError(
                ErrorCode.INVALID_PARAMS,
                f"unknown stream {name!r} (declared streams: {known}); declare it in a"
                " *.stream.ts or *_stream.py file under steps/",
                {"path": "$.params.stream"},
            )
        return definition

    def item(self, name: str, id: str, data: msgspec.Raw) -> msgspec.Raw:
        """The item ``stream.set`` stores: ``data`` (an object) with ``id``, if the
        stream's schema accepts the data as written (with ``id`` when the schema
        declares it: Motia checks nothing and stores ``{...data, id}``)."""
        definition = self.get(name)
        try:
            value = _decode_object(data)
        except msgspec.ValidationError:
            raise RemoteError(
                ErrorCode.INVALID_PARAMS,
                f"stream {name!r}: data must be a JSON object",
                {"path": "$.params.data"},
            ) from None
        if definition.schema is not None:
            # The data as the user wrote it; with its id only when the schema
            # declares one, as the item type of many Motia streams does.
            checked = {**value, "id": id} if _declares_id(definition.raw_schema) else value
            issues = definition.schema.issues(checked, root="data")
            if issues:
                raise refused_params(
                    f"stream {name!r}: data does not match the schema of {definition.file}",
                    issues,
                    stream=name,
                )
        # Stored and sent with its id, which wins over one in the data (Motia's `{...data, id}`).
        value["id"] = id
        return msgspec.Raw(_encode(value))


def _declares_id(schema: dict[str, Any] | bool | None) -> bool:
    """Whether a stream schema names ``id`` among its top-level properties."""
    if not isinstance(schema, dict):
        return False
    properties = schema.get("properties")
    return isinstance(properties, dict) and "id" in properties
