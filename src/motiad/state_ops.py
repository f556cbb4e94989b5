"""Motia 1.x's atomic update operations on a state value, as the iii engine
applies them (engine/src/builtins/kv.rs ``update``): pure, so every store runs
the same rules inside its own one-step write.

- a missing value starts as ``{}``;
- ``set`` with path ``""`` replaces the whole value, any other path sets that
  top-level field (paths are field names, not dotted paths, as in kv.rs);
- ``merge`` copies the fields of an object into the value, at the root only;
- ``increment``/``decrement`` add or subtract ``by`` on an integer field; a
  missing field becomes ``by`` (``-by``), a non-integer one ``by`` (``0``);
- ``remove`` deletes a field;
- an operation that does not fit the value (a field op on a non-object) is
  skipped, as the engine skips it with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from .protocol.messages import (
    UpdateDecrement,
    UpdateIncrement,
    UpdateMerge,
    UpdateOp,
    UpdateRemove,
    UpdateSet,
)


def apply_ops(old: Any, ops: Sequence[UpdateOp]) -> Any:
    """The value after ``ops``, applied in order to ``old`` (``None``: no value yet)."""
    value: Any = {} if old is None else old
    for op in ops:
        if isinstance(op, UpdateSet) and op.path == "":
            value = op.value
            continue
        if isinstance(op, UpdateMerge):
            if not op.path and isinstance(value, dict) and isinstance(op.value, dict):
                value = {**value, **op.value}
            continue
        if not isinstance(value, dict):
            continue
        value = dict(value)
        if isinstance(op, UpdateSet):
            value[op.path] = op.value
        elif isinstance(op, UpdateIncrement | UpdateDecrement):
            sign = 1 if isinstance(op, UpdateIncrement) else -1
            current = value.get(op.path)
            if op.path not in value:
                value[op.path] = sign * op.by
            elif _is_integer(current):
                value[op.path] = current + sign * op.by
            else:
                value[op.path] = op.by if sign == 1 else 0
        elif isinstance(op, UpdateRemove):
            value.pop(op.path, None)
    return value


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def change_of(ops: Sequence[UpdateOp]) -> Callable[[bytes | None], bytes]:
    """``ops`` as a store's ``state_update`` takes them: stored JSON in, JSON out."""

    def change(old: bytes | None) -> bytes:
        before = None if old is None else msgspec.json.decode(old)
        return msgspec.json.encode(apply_ops(before, ops))

    return change
