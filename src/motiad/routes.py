"""API route table: ``:param`` paths, conflict detection, and matching.
Pure (no HTTP library): the HTTP layer asks it which step serves a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def route_shape(path: str) -> tuple[str, ...]:
    """The path with every parameter replaced by ``:``, so ``/a/:id`` and
    ``/a/:name`` have the same shape (and so conflict)."""
    return tuple(":" if s.startswith(":") else s for s in _segments(path))


@dataclass(slots=True)
class _Node(Generic[T]):
    static: dict[str, _Node[T]] = field(default_factory=dict)
    param: _Node[T] | None = None
    targets: dict[str, tuple[T, tuple[str, ...]]] = field(default_factory=dict)
    """method -> (target, the names its route gives the parameters, in order)"""


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    """A matched route: its target and the values of its path parameters."""

    target: T
    path_params: dict[str, str]


class RouteConflict(Exception):
    """Two targets claim the same method and path shape."""

    def __init__(self, existing: object) -> None:
        super().__init__(existing)
        self.existing = existing


STATIC_MATCHES_KEPT = 1024
"""Paths of routes without parameters remembered with their target: most API
traffic asks for the same few paths (``GET /ping``). Bounded, as a client may
spell one route many ways (``/ping/``, ``//ping``)."""


class RouteTable(Generic[T]):
    """A segment trie: static segments win over parameters, as users expect
    (``/users/me`` before ``/users/:id``)."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._static: dict[tuple[str, str], T] = {}
        """(method, path) -> target of a matched route without parameters: hot
        path, one lookup instead of a walk of the trie. Emptied on every change."""

    def add(self, method: str, path: str, target: T) -> None:
        """Register ``target``; raises :class:`RouteConflict` naming the holder."""
        node = self._root
        names: list[str] = []
        for segment in _segments(path):
            if segment.startswith(":"):
                if node.param is None:
                    node.param = _Node()
                names.append(segment[1:])
                node = node.param
            else:
                node = node.static.setdefault(segment, _Node())
        if method in node.targets:
            raise RouteConflict(node.targets[method][0])
        node.targets[method] = (target, tuple(names))
        self._static.clear()

    def remove(self, method: str, path: str) -> None:
        """Forget the route (``motiad dev`` reloads); unknown routes are ignored."""
        node: _Node[T] | None = self._root
        for segment in _segments(path):
            if node is None:
                return
            node = node.param if segment.startswith(":") else node.static.get(segment)
        if node is not None:
            node.targets.pop(method, None)
        self._static.clear()

    def match(self, method: str, path: str) -> Match[T] | list[str] | None:
        """The match; ``None`` when no path fits; the allowed methods when the
        path fits but the method does not (for a 405)."""
        static = self._static.get((method, path))
        if static is not None:
            return Match(static, {})
        found = self._find(self._root, _segments(path), 0, [])
        if found is None:
            return None
        node, values = found
        entry = node.targets.get(method)
        if entry is None and method == "HEAD":
            entry = node.targets.get("GET")
        if entry is None:
            return sorted(node.targets)
        target, names = entry
        if not names and len(self._static) < STATIC_MATCHES_KEPT:
            self._static[(method, path)] = target
        return Match(target, dict(zip(names, values, strict=True)))

    def _find(
        self, node: _Node[T], segments: tuple[str, ...], index: int, values: list[str]
    ) -> tuple[_Node[T], list[str]] | None:
        if index == len(segments):
            return (node, values) if node.targets else None
        child = node.static.get(segments[index])
        if child is not None:
            found = self._find(child, segments, index + 1, values)
            if found is not None:
                return found
        if node.param is not None:
            # Routes of one shape share a node but may name their parameters
            # differently; values are kept in order and named per target.
            return self._find(node.param, segments, index + 1, [*values, segments[index]])
        return None
