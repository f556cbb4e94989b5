"""The one error tree of motiad. Every message names what a person needs to fix
it: the file, the step, the field, and what to do next."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path


class MotiadError(Exception):
    """Base of every error motiad raises on purpose. ``str()`` is user-facing."""


class ConfigError(MotiadError):
    """A project or step configuration is invalid."""

    def __init__(self, source: Path | str, message: str, *, field: str | None = None) -> None:
        self.source = str(source)
        self.field = field
        where = f"{self.source}: {field}: " if field else f"{self.source}: "
        super().__init__(where + message)
        self.message = message


class StepLoadError(MotiadError):
    """A step file could not be loaded by its child."""

    def __init__(self, path: Path | str, type_: str, message: str, stack: str = "") -> None:
        self.path = str(path)
        self.type = type_
        self.detail = message
        self.stack = stack
        self.line = _line_in(stack, self.path) or _line_in(message, self.path)
        """The line of the step file the failure points at, when its stack (or
        message: a transpiler's) names one."""
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        hint = _missing_package_hint(self.path, type_, message)
        super().__init__(f"{where}: failed to load: {type_}: {message}{hint}")


def _line_in(stack: str, path: str) -> int | None:
    """The first line of ``path`` a stack names: Python's ``File ".../path", line
    N``, JavaScript's ``.../path:N:C``, or the TypeScript transpiler's
    ``Error transforming .../path: Unexpected token (N:C)``."""
    name = re.escape(path)
    found = re.search(
        rf'{name}", line (\d+)|{name}:(\d+)(?::\d+)?|{name}: [^\n]*\((\d+):\d+\)$', stack, re.M
    )
    if found is None:
        return None
    return int(found.group(1) or found.group(2) or found.group(3))


class ChildError(MotiadError):
    """A child process failed: it would not start, died, or broke the protocol."""


class RemoteError(MotiadError):
    """A JSON-RPC error reply from the peer."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{message} (code {code})")


class InvalidInput(MotiadError):
    """A value does not match its schema: a request body, an event's data."""

    def __init__(self, message: str, issues: Sequence[tuple[str, str]]) -> None:
        self.issues = issues
        """Each ``(path, message)``, e.g. ``("body.email", "expected string, got number")``."""
        detail = "; ".join(f"{path}: {problem}" for path, problem in issues)
        super().__init__(f"{message}: {detail}")
        self.message = message

    def payload(self, trace_id: str) -> dict[str, object]:
        """The body of the 400 that refuses the input: the message, every issue
        and the trace id."""
        issues = [{"path": path, "message": problem} for path, problem in self.issues]
        return {"error": self.message, "issues": issues, "traceId": trace_id}


class StorageError(MotiadError):
    """The storage backend failed or is unreachable."""


class StorageUnavailable(StorageError):
    """The storage server cannot be reached now; the same call may work later."""


def first_motiad_error(error: BaseException) -> MotiadError | None:
    """The :class:`MotiadError` behind ``error``, looking inside exception groups
    (a task group wraps what its tasks raise): what the CLI should show."""
    if isinstance(error, MotiadError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = first_motiad_error(inner)
            if found is not None:
                return found
    return None


def _missing_package_hint(path: str, type_: str, message: str) -> str:
    """What to do when a step imports a package the project has not installed:
    the usual first error of a step someone else wrote."""
    if type_ == "ModuleNotFoundError" and path.endswith(".py"):
        return (
            " (list the package in requirements.txt, then run `motiad install`:"
            " Python steps run on the project's .venv)"
        )
    if "Cannot find module" in message or "Cannot find package" in message:
        return " (add the package to package.json, then run `npm install` in the project)"
    return ""
