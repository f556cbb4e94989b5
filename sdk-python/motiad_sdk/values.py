"""Shaping values between the wire and user code: attribute dicts going in,
JSON-safe values going out."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, Final

_MAX_DEPTH = 64
"""How deep :func:`to_jsonable` descends before giving up with ``repr``: deep
enough for any sane log field, shallow enough to stop runaway recursion."""


class AttrDict(dict[str, Any]):
    """A ``dict`` whose keys can also be read as attributes: ``req.body.text``.

    Motia's Python handlers are written both ways, so the request and the event
    data support both. Dict methods win over keys of the same name (use
    ``req["items"]`` for a key called ``items``). A missing key raises
    ``AttributeError`` so ``getattr(req, "x", default)`` and ``hasattr`` work.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            message = f"{type(self).__name__!r} object has no key or attribute {name!r}"
            raise AttributeError(message, name=name, obj=self) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


BASE64: Final = "base64"
"""``bodyEncoding`` of a body that is bytes, sent as a base64 string (SPEC
``invoke.input`` and ``invoke.result``): JSON cannot hold bytes."""


def api_request(request: Any) -> Any:
    """The api ``input`` as the handler gets it: a base64 body is bytes."""
    if (
        isinstance(request, dict)
        and request.get("bodyEncoding") == BASE64
        and isinstance(request.get("body"), str)
    ):
        request = {key: value for key, value in request.items() if key != "bodyEncoding"}
        request["body"] = base64.b64decode(request["body"])
    return request


def api_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """An api handler's response for the wire: a ``bytes`` body goes as base64."""
    shaped = dict(response)
    body = shaped.get("body")
    if isinstance(body, (bytes, bytearray, memoryview)):
        shaped["body"] = base64.b64encode(body).decode("ascii")
        shaped["bodyEncoding"] = BASE64
    return shaped


def wrap(value: Any) -> Any:
    """Turn every JSON object inside ``value`` into an :class:`AttrDict`.

    Iterative, not recursive: whatever nesting the JSON decoder accepted (an
    API body of a thousand ``[``), wrapping it cannot hit the recursion limit
    (SPEC `invoke.sdk-failure`).
    """
    if not isinstance(value, (dict, list)):
        return value
    top = _container(value)
    pending: list[tuple[Any, Any]] = [(value, top)]
    while pending:
        source, target = pending.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                target[key] = _adopt(item, pending)
        else:
            target.extend(_adopt(item, pending) for item in source)
    return top


def _container(value: dict[str, Any] | list[Any]) -> AttrDict | list[Any]:
    return AttrDict() if isinstance(value, dict) else []


def _adopt(item: Any, pending: list[tuple[Any, Any]]) -> Any:
    """``item`` itself, or an empty container that ``wrap`` fills later."""
    if not isinstance(item, (dict, list)):
        return item
    copy = _container(item)
    pending.append((item, copy))
    return copy


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-safe copy of ``value`` that never fails: unknown objects become ``repr``.

    Used for log fields, where losing a field to a serialisation error would
    hide the very thing the user wanted to see.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # SPEC `log.notification`
    if _depth >= _MAX_DEPTH:
        return _safe_repr(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item, _depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item, _depth + 1) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return to_jsonable(dump(), _depth + 1)
        except Exception:  # a broken model still deserves a log line
            return _safe_repr(value)
    return _safe_repr(value)


def _safe_repr(value: object) -> str:
    """``repr(value)``, or a placeholder when the object's ``__repr__`` itself fails."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
