"""What a Motia project's ``motia.config.ts`` asks for that motiad does not use.

Motia 0.17 loads ``motia.config.ts`` (or ``.js``) from the project root with
jiti: Express customisation (``app``), workbench ``plugins``, ``adapters`` for
state, streams, events and cron, ``redis`` and ``streamAuth``. motiad never
runs it (it is TypeScript with arbitrary imports); it reads its text, so a
project that relies on it learns at start what motiad does instead. Reading it
never fails: an unreadable or unusual file gives fewer warnings, not an error.
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG_FILES = ("motia.config.ts", "motia.config.js")
"""Where Motia looks, in its order (snap's load-motia-config.ts)."""

_WORKBENCH = "the workbench (/__motiad/) is motiad's own and has no plugins"
PLUGINS: dict[str, str] = {
    "@motiadev/plugin-observability": f"{_WORKBENCH}; its Traces view and `motiad traces`"
    " are built in",
    "@motiadev/plugin-logs": f"{_WORKBENCH}; its Logs view and `motiad logs` are built in",
    "@motiadev/plugin-states": f"{_WORKBENCH}; its State view is built in",
    "@motiadev/plugin-endpoint": f"{_WORKBENCH}; its Tester view calls API steps",
    "@motiadev/plugin-bullmq": "motiad's durable queue is built in (no BullMQ); see [queue]"
    " in motiad.toml, and dead letters in the workbench or `motiad dlq`",
    "@motiadev/plugin-cron": "cron steps run on motiad's own scheduler, shown in the workbench",
    "@motiadev/plugin-ws": "streams are served over motiad's own WebSocket",
    "@motiadev/plugin-streams": f"{_WORKBENCH}; its Streams view is built in",
}
"""Motia's own plugins (packages/… and plugins/… of MotiaDev/motia), by package."""
OTHER_PLUGIN = (
    "motiad does not load Motia plugins (workbench components, plugin steps); a step it"
    " needs goes in a step folder"
)
_QUEUE = "motiad's durable queue is built in; see [queue] in motiad.toml"
_STORAGE = 'motiad keeps {what} in its storage; set storage = "redis://HOST:PORT/DB" in motiad.toml'
ADAPTERS: dict[str, tuple[str, str]] = {
    "@motiadev/adapter-bullmq-events": ("BullMQ adapter", _QUEUE),
    "@motiadev/adapter-rabbitmq-events": ("RabbitMQ adapter", _QUEUE),
    "@motiadev/adapter-redis-state": ("Redis state adapter", _STORAGE.format(what="state")),
    "@motiadev/adapter-redis-streams": (
        "Redis streams adapter",
        _STORAGE.format(what="streams"),
    ),
    "@motiadev/adapter-redis-cron": (
        "Redis cron adapter",
        "motiad's cron fires each tick once across the brokers sharing a Redis storage",
    ),
}
"""Motia's adapters, by package: what to call each, what motiad does instead."""
ADAPTER_KINDS: dict[str, str] = {
    "events": _QUEUE,
    "state": _STORAGE.format(what="state"),
    "streams": _STORAGE.format(what="streams"),
    "cron": "cron steps run on motiad's own scheduler",
}
"""What motiad uses instead of an adapter it does not know, by the ``adapters`` key."""
SETTINGS: dict[str, str] = {
    "redis": "motiad does not start or use Motia's Redis; for Redis storage set"
    ' storage = "redis://HOST:PORT/DB" in motiad.toml',
    "app": "motiad has no Express app to customise; use API step middleware",
    "streamAuth": "Motia 0.17's streamAuth is not run; export Motia 1.x's authenticateStream"
    " from motia.config.ts instead, which motiad runs (README, Streams)",
}
"""Top-level keys of the config besides ``plugins`` and ``adapters``."""

_DEFAULT_IMPORT = re.compile(
    r"""import\s+(?:type\s+)?([A-Za-z_$][\w$]*)\s*(?:,\s*\{[^}]*\}\s*)?from\s*['"]([^'"]+)['"]"""
)
_NAMED_IMPORT = re.compile(
    r"""import\s+(?:type\s+)?(?:[A-Za-z_$][\w$]*\s*,\s*)?\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]"""
)
_REQUIRE = re.compile(
    r"""(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*require\(\s*['"]([^'"]+)['"]\s*\)"""
)
_REQUIRED = re.compile(r"""\s*(?:require|import)\(\s*['"]([^'"]+)['"]""")
_IDENTIFIER = re.compile(r"\s*(?:new\s+)?([A-Za-z_$][\w$]*)")
_COMMENT = re.compile(r"/\*.*?\*/|(?<![:'\"])//[^\n]*", re.S)


def find_config(project: Path) -> Path | None:
    """The project's ``motia.config.ts`` (or ``.js``), if it has one."""
    for name in CONFIG_FILES:
        if (project / name).is_file():
            return project / name
    return None


_AUTHENTICATE_STREAM = re.compile(
    r"export\s+(?:const|let|var|(?:async\s+)?function)\s+authenticateStream\b"
)


def stream_auth_file(project: Path) -> Path | None:
    """The project's config when it exports Motia 1.x's ``authenticateStream``
    (Motia's own build looks for ``export const authenticateStream`` in its
    text, new/build/generate-index.ts); motiad runs that function, in a Node
    child, when a stream client connects (SPEC ``stream.hooks``)."""
    path = find_config(project)
    if path is None:
        return None
    try:
        text = _COMMENT.sub("", path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return path if _AUTHENTICATE_STREAM.search(text) else None


def unused_parts(project: Path) -> list[str]:
    """One line per plugin, adapter or setting of the project's Motia config
    that motiad does not use, each saying what motiad does instead; empty
    without a config. Never raises for what the file holds."""
    path = find_config(project)
    if path is None:
        return []
    try:
        text = _COMMENT.sub("", path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []
    packages = _imports(text)
    settings = _config_object(text)
    found: list[str] = []
    for name in _array_items(settings, "plugins"):
        package = packages.get(name)
        instead = PLUGINS.get(package or "", OTHER_PLUGIN)
        found.append(f"plugin {name}{f' ({package})' if package else ''}: not used; {instead}")
    for kind, name in _object_entries(settings, "adapters"):
        label, instead = ADAPTERS.get(
            packages.get(name, ""), ("adapter", ADAPTER_KINDS.get(kind, "motiad has no adapters"))
        )
        found.append(f"{label} (adapters.{kind}: {name}): not used; {instead}")
    keys = {element.partition(":")[0].strip() for element in _top_level_split(settings)}
    for key, instead in SETTINGS.items():
        if key in keys:
            found.append(f"{key}: not used; {instead}")
    return [f"{path.name}: {line}" for line in found]


def _imports(text: str) -> dict[str, str]:
    """Local name -> package, for the config's imports and requires."""
    names: dict[str, str] = {}
    for match in [*_DEFAULT_IMPORT.finditer(text), *_REQUIRE.finditer(text)]:
        names[match.group(1)] = _package(match.group(2))
    for match in _NAMED_IMPORT.finditer(text):
        for part in match.group(1).split(","):
            local = part.split(" as ")[-1].removeprefix("type ").strip()
            if local:
                names[local] = _package(match.group(2))
    return names


def _package(specifier: str) -> str:
    """The package an import names (``@motiadev/plugin-bullmq`` for
    ``@motiadev/plugin-bullmq/plugin``)."""
    parts = specifier.split("/")
    return "/".join(parts[:2] if specifier.startswith("@") else parts[:1])


def _config_object(text: str) -> str:
    """The inside of the object given to ``defineConfig``/``config`` (or exported
    as it is); the whole text when there is no such object."""
    match = re.search(r"(?:\b(?:defineConfig|config)\s*\(|export\s+default)\s*\{", text)
    if match is None:
        return text
    body = _matching(text, match.end())
    return text if body is None else body


def _array_items(text: str, key: str) -> list[str]:
    """The leading identifier of each element of ``key: [ ... ]`` (``myPlugin``
    for ``myPlugin({...})``; the module for ``require('./plugin')``)."""
    body = _bracketed(text, key, "[", "]")
    if body is None:
        return []
    items = []
    for element in _top_level_split(body):
        required = _REQUIRED.match(element)
        match = required or _IDENTIFIER.match(element)
        if match:
            items.append(match.group(1))
    return items


def _object_entries(text: str, key: str) -> list[tuple[str, str]]:
    """``(entry key, leading identifier of its value)`` of ``key: { ... }``
    (``("events", "BullMQEventAdapter")`` for ``events: new BullMQEventAdapter(...)``)."""
    body = _bracketed(text, key, "{", "}")
    if body is None:
        return []
    entries = []
    for element in _top_level_split(body):
        name, colon, value = element.partition(":")
        match = _IDENTIFIER.match(value)
        if colon and match and name.strip().isidentifier():
            entries.append((name.strip(), match.group(1)))
    return entries


def _bracketed(text: str, key: str, opening: str, closing: str) -> str | None:
    """What lies between ``key: <opening>`` and its matching ``closing``."""
    match = re.search(rf"(?<![\w$.]){key}\s*:\s*" + re.escape(opening), text)
    return None if match is None else _matching(text, match.end(), closing)


def _matching(text: str, start: int, closing: str = "}") -> str | None:
    """From ``start`` (just after an opening bracket) to its matching ``closing``."""
    depth = 1
    for index in range(start, len(text)):
        if text[index] in "([{":
            depth += 1
        elif text[index] in ")]}":
            depth -= 1
            if depth == 0:
                return text[start:index] if text[index] == closing else None
    return None


def _top_level_split(body: str) -> list[str]:
    """``body`` split at the commas that are not inside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in body:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]
