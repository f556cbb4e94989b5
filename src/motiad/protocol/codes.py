"""JSON-RPC error codes of the step protocol (SPEC §3)."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Every error code a broker or child may send."""

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
