"""The step protocol's tables: error codes, method names, version and limits.

Generated from protocol/schema/index.json by ``python -m motiad.protocol.tables``: do not
edit; regenerate after changing the broker's protocol module.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

PROTOCOL_VERSION: Final = "1.0"
DEFAULT_MAX_LINE_BYTES: Final = 16777216
MAX_ERROR_MESSAGE_CHARS: Final = 1024
SHUTDOWN_GRACE_MS: Final = 10000


class ErrorCode(IntEnum):
    """Every error code of SPEC §5."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    HANDLER_FAILED = -32000
    TIMED_OUT = -32001
    CANCELLED = -32002
    UNKNOWN_STEP = -32003
    VERSION_MISMATCH = -32004
    LINE_TOO_LONG = -32005
    UNKNOWN_INVOCATION = -32006
    SHUTTING_DOWN = -32007


class Method:
    """The name of every method of SPEC §3."""

    INITIALIZE: Final = "initialize"
    INVOKE: Final = "invoke"
    CANCEL: Final = "$/cancel"
    TITLE: Final = "$/title"
    PING: Final = "ping"
    SHUTDOWN: Final = "shutdown"
    EMIT: Final = "emit"
    STATE_GET: Final = "state.get"
    STATE_SET: Final = "state.set"
    STATE_DELETE: Final = "state.delete"
    STATE_GET_GROUP: Final = "state.getGroup"
    STATE_CLEAR: Final = "state.clear"
    STATE_UPDATE: Final = "state.update"
    STATE_LIST_GROUPS: Final = "state.listGroups"
    HTTP_WRITE: Final = "http.write"
    HTTP_READ: Final = "http.read"
    STREAM_UPDATE: Final = "stream.update"
    STREAM_LIST_GROUPS: Final = "stream.listGroups"
    STREAM_GET: Final = "stream.get"
    STREAM_SET: Final = "stream.set"
    STREAM_DELETE: Final = "stream.delete"
    STREAM_GET_GROUP: Final = "stream.getGroup"
    STREAM_SEND: Final = "stream.send"
    LOG: Final = "log"
