"""Loading step files: import each by path, read its ``config`` and ``handler``.

One broken file never stops the others (SPEC `lifecycle.initialize`): each
yields either a :class:`Step` or an ErrorInfo.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import error_info
from .middleware import Middleware, middleware_name, middleware_of
from .motia1x import STREAM_HOOKS, is_motia1x, stream_hooks, trigger_list
from .motia1x import json_config as motia1x_json_config
from .protocol import JsonObject, encode_message

_SCHEMA_KEYS = ("bodySchema", "input")
"""Config keys whose value may be a pydantic model (Motia's Python convention);
``responseSchema`` maps status codes to such models and is handled beside them."""


@dataclass(frozen=True, slots=True)
class Step:
    """A loaded step file."""

    path: str
    config: JsonObject
    handler: Callable[..., Any] | None  # None only for noop steps, which never run
    middleware: tuple[Middleware, ...] = ()
    """Runs around an API handler, first one outermost."""
    triggers: list[Mapping[str, Any]] | None = None
    """A Motia 1.x step's triggers as the file wrote them; ``None`` for a 0.17 step."""


def add_import_root(directory: str, *, first: bool) -> None:
    """Make modules in ``directory`` importable by step files.

    The project root goes first so ``import steps.shared`` resolves to the
    project; a step's own folder goes last so sibling helpers import without
    shadowing the standard library.
    """
    directory = os.path.abspath(directory)
    if directory in sys.path:
        return
    if first:
        sys.path.insert(0, directory)
    else:
        sys.path.append(directory)


def load_steps(paths: list[str]) -> tuple[dict[str, Step], list[JsonObject]]:
    """Load every step file; return the loaded steps by path and the ``initialize`` entries."""
    steps: dict[str, Step] = {}
    entries: list[JsonObject] = []
    for index, path in enumerate(paths):
        try:
            step = load_step(path, index)
        except Unrunnable as exc:  # SPEC lifecycle.initialize: the config, and why it cannot run
            error = error_info(exc.error, retryable=False)
            entries.append({"path": path, "config": exc.config, "error": error})
            continue
        except (Exception, SystemExit) as exc:  # SystemExit: a file calling exit() on import
            entries.append({"path": path, "error": error_info(exc, retryable=False)})
            continue
        steps[path] = step
        entries.append({"path": path, "config": step.config})
    return steps, entries


def load_step(path: str, index: int) -> Step:
    """Import the file at ``path`` under a unique module name and check its exports."""
    module = _import_file(path, _module_name(path, index))
    raw_config = getattr(module, "config", None)
    if raw_config is None:
        raise AttributeError(f"{path} does not define `config`")
    if not isinstance(raw_config, Mapping):
        raise TypeError(f"`config` in {path} must be a dict, not {type(raw_config).__name__}")
    if is_motia1x(raw_config):
        return _load_motia1x(module, raw_config, path)
    middleware = middleware_of(raw_config, path)
    config = json_config(raw_config)
    if "middleware" in config:
        # The functions stay here; the broker's copy of the config names them.
        config["middleware"] = [middleware_name(entry) for entry in middleware]
    try:
        encode_message(config, sys.maxsize)  # fail here, naming the file, not in the broker
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`config` in {path} is not JSON-serialisable: {exc}") from exc
    handler = getattr(module, "handler", None)
    try:
        if handler is None and config.get("type") != "noop":
            raise AttributeError(f"{path} does not define `handler`")
        if handler is not None and not callable(handler):
            raise TypeError(f"`handler` in {path} must be callable, not {type(handler).__name__}")
    except (AttributeError, TypeError) as exc:
        raise Unrunnable(exc, config) from exc
    return Step(path, config, handler, middleware)


class Unrunnable(Exception):
    """A step whose config was read but that cannot run (no handler): the broker
    gets the config beside the error, so it can name the step's routes (they
    answer 503 with ``error``) instead of knowing nothing of the file."""

    def __init__(self, error: Exception, config: JsonObject) -> None:
        super().__init__(str(error))
        self.error = error
        self.config = config


def _load_motia1x(module: ModuleType, raw_config: Mapping[str, Any], path: str) -> Step:
    """A Motia 1.x step file: ``config`` with ``triggers`` and ``handler``
    (``step(config, handler)`` exports both as well)."""
    triggers = trigger_list(raw_config, path)
    config = motia1x_json_config(raw_config, triggers, _schema)
    try:
        encode_message(config, sys.maxsize)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`config` in {path} is not JSON-serialisable: {exc}") from exc
    handler = getattr(module, "handler", None)
    if not callable(handler):
        try:
            raise AttributeError(
                f"{path} does not define `handler` (async def handler(input, ctx): ...)"
            )
        except AttributeError as exc:
            raise Unrunnable(exc, config) from exc
    return Step(path, config, handler, (), triggers)


def load_streams(
    paths: list[str],
) -> tuple[list[JsonObject], dict[str, dict[str, Callable[..., Any]]]]:
    """Load every stream definition file (SPEC ``lifecycle.streams``); one entry
    per path, and the hooks of those that define some (SPEC ``stream.hooks``), by path."""
    entries: list[JsonObject] = []
    hooks: dict[str, dict[str, Callable[..., Any]]] = {}
    for index, path in enumerate(paths):
        try:
            config, found = load_stream(path, index)
        except (Exception, SystemExit) as exc:
            entries.append({"path": path, "error": error_info(exc, retryable=False)})
            continue
        entries.append({"path": path, "config": config})
        if found:
            hooks[path] = found
    return entries, hooks


def load_stream(path: str, index: int) -> tuple[JsonObject, dict[str, Callable[..., Any]]]:
    """Import a ``*_stream.py`` file and return its ``config``, the schema as JSON
    Schema and each hook reported as ``true`` under its Motia name, and the hooks."""
    module = _import_file(path, _module_name(path, index, prefix="_motiad_stream"))
    raw_config = getattr(module, "config", None)
    if raw_config is None:
        raise AttributeError(f"{path} does not define `config`")
    if not isinstance(raw_config, Mapping):
        raise TypeError(f"`config` in {path} must be a dict, not {type(raw_config).__name__}")
    config: JsonObject = dict(raw_config)
    if "schema" in config:
        config["schema"] = _schema(config["schema"])
    hooks = stream_hooks(config)
    for name, spellings in STREAM_HOOKS.items():
        for spelling in spellings:
            config.pop(spelling, None)
        if name in hooks:
            config[name] = True
    try:
        encode_message(config, sys.maxsize)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`config` in {path} is not JSON-serialisable: {exc}") from exc
    return config, hooks


def json_config(config: Mapping[str, Any]) -> JsonObject:
    """A copy of ``config`` with pydantic-style models replaced by their JSON Schema.

    Duck-typed on ``model_json_schema()`` (a model class or instance) so
    pydantic stays an optional user dependency.
    """
    converted: JsonObject = dict(config)
    for key in _SCHEMA_KEYS:
        if key in converted:
            converted[key] = _schema(converted[key])
    responses = converted.get("responseSchema")
    if isinstance(responses, Mapping):
        converted["responseSchema"] = {
            status: _schema(schema) for status, schema in responses.items()
        }
    elif responses is not None:
        converted["responseSchema"] = _schema(responses)
    return converted


def _schema(value: Any) -> Any:
    to_schema = getattr(value, "model_json_schema", None)
    return to_schema() if callable(to_schema) else value


def _module_name(path: str, index: int, *, prefix: str = "_motiad_step") -> str:
    """A name no other module uses: step files are not packages, and two may share a stem."""
    stem = re.sub(r"\W", "_", os.path.basename(path).partition(".")[0])
    return f"{prefix}_{index}_{stem}"


def _import_file(path: str, name: str) -> ModuleType:
    # An explicit source loader imports the file whatever its extension.
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before running so dataclasses, pickling and typing.get_type_hints
    # can find the module by name, as they do for a normal import.
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
