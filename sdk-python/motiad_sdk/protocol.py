"""Constants and message encoding of the motiad step protocol (protocol/SPEC.md).

Pure: no I/O. How this SDK encodes the wire lives here so that the reader,
the peer and the runner cannot drift apart; the tables the broker and every SDK
share (codes, methods, version, limits) are generated into :mod:`.tables`.
"""

from __future__ import annotations

import json
import json.encoder
import re
from typing import Any, Final, TypeAlias

SDK_NAME: Final = "motiad-sdk-python"
SDK_VERSION: Final = "0.1.0"
SDK_LANGUAGE: Final = "python"

JsonObject: TypeAlias = dict[str, Any]
RequestId: TypeAlias = int | str


class LineTooLongError(ValueError):
    """An outgoing message would exceed the peer's ``maxLineBytes`` (SPEC `framing.max-line`)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message is {size} bytes encoded, over the {limit}-byte line limit")
        self.size = size
        self.limit = limit


def json_default(value: object) -> Any:
    """Encode the one non-JSON type user code commonly returns: pydantic-style models.

    Duck-typed on ``model_dump`` so pydantic stays an optional user dependency.
    Anything else raises ``TypeError`` as :mod:`json` would.
    """
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return dump(mode="json")
        except TypeError:  # a model_dump without pydantic v2's ``mode`` keyword
            return dump()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder each, built once: the fast path is a plain ``json.dumps`` with
# compact separators. ``allow_nan=False`` because NaN is not JSON and the broker
# would refuse the whole line.
_ENCODER: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=json_default
)
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")

# ``JSONEncoder.encode`` builds its C encoder afresh on every call; one built
# once halves the cost of encoding a small message (every answer is one).
# Its ``markers`` (the circular-reference check) are empty again after each
# successful call and cleared after a failed one. Without the C accelerator
# (another Python implementation) the plain encoder does the work.
_MARKERS: Final[dict[int, Any]] = {}
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)  # private: may be missing
_C_ENCODER: Final = (
    _make_c_encoder(
        _MARKERS,
        json_default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
    if _make_c_encoder is not None
    else None
)


def _encode(message: JsonObject) -> str:
    if _C_ENCODER is None:
        return _ENCODER.encode(message)
    try:
        return "".join(_C_ENCODER(message, 0))
    except BaseException:
        _MARKERS.clear()
        raise


def encode_message(message: JsonObject, max_line_bytes: int) -> bytes:
    """Encode ``message`` once as one NDJSON line (newline included).

    Raises ``TypeError``/``ValueError`` for values JSON cannot hold and
    :class:`LineTooLongError` when the line would exceed ``max_line_bytes``.
    """
    text = _encode(message)
    try:
        data = (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (e.g. from os.fsdecode) are not Unicode text: they can
        # be neither UTF-8 nor, by SPEC `framing.utf8`, escaped. Each becomes
        # U+FFFD, as a decoder would show it.
        data = (_LONE_SURROGATE.sub("\ufffd", text) + "\n").encode("utf-8")
    if len(data) - 1 > max_line_bytes:
        raise LineTooLongError(len(data) - 1, max_line_bytes)
    return data


def parse_version(version: str) -> tuple[int, int] | None:
    """``"MAJOR.MINOR"`` → ``(major, minor)``; ``None`` when it is not that shape."""
    major, sep, minor = version.partition(".")
    if not sep or not all(part.isascii() and part.isdigit() for part in (major, minor)):
        return None
    return int(major), int(minor)
