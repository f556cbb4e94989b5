"""The wire contract between the broker and step children: Structs, codes and
codec. Pure: no I/O and no anyio, so any layer may depend on it."""

from .codec import (
    Incoming,
    IncomingNotification,
    IncomingRequest,
    IncomingResponse,
    InvalidParams,
    Malformed,
    decode_line,
    decode_params,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from .codes import ErrorCode
from .messages import *  # noqa: F403  (the Structs are this package's API)

__all__ = [
    "ErrorCode",
    "Incoming",
    "IncomingNotification",
    "IncomingRequest",
    "IncomingResponse",
    "InvalidParams",
    "Malformed",
    "decode_line",
    "decode_params",
    "encode_error",
    "encode_notification",
    "encode_request",
    "encode_result",
]
