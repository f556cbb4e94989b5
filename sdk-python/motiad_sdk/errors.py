"""Exceptions user code sees, and the one function that turns any exception into
an ErrorInfo (SPEC §4)."""

from __future__ import annotations

import os
import traceback
from types import TracebackType
from typing import Any, Final

from .protocol import JsonObject

_SDK_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep


class NonRetryableError(Exception):
    """Raise this from a handler to mark the failure as permanent.

    The broker then moves an event straight to the dead-letter queue instead of
    retrying it. Any exception with a ``retryable = False`` attribute has the
    same effect.
    """

    retryable = False


class BrokerError(Exception):
    """The broker answered a context call (``emit``, ``state.*``) with an error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class BrokerGoneError(ConnectionError):
    """The broker closed the pipe while a context call waited for its answer."""


def error_info(exc: BaseException, *, retryable: bool | None = None) -> JsonObject:
    """The ErrorInfo of ``exc``: ``{type, message, stack, retryable}``.

    ``retryable`` defaults to the exception's own ``retryable`` attribute, and to
    ``True`` when it has none (SPEC `invoke.handler-error`: only the user marks
    a failure as permanent).
    """
    if retryable is None:
        retryable = bool(getattr(exc, "retryable", True))
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, _user_frames(exc))),
        "retryable": retryable,
    }


def _user_frames(exc: BaseException) -> TracebackType | None:
    """The traceback from the first frame that is not the SDK's or the import machinery's.

    A user reads the stack to find their own mistake; the runner and importlib
    frames in front of it are noise.
    """
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith(_SDK_DIR) or filename.startswith("<frozen importlib")):
            break
        tb = tb.tb_next
    return tb
