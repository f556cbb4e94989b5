"""JSON Schema validation of request bodies and event data.

A step's ``bodySchema`` or ``input`` is compiled once, when the step loads
(:meth:`Schema.compile`), and checked on every call (:meth:`Schema.issues`).
The draft comes from the schema's ``$schema``, else 2020-12: zod v4 and
pydantic emit 2020-12, zod-to-json-schema (zod v3) emits draft-07 and says so.

Every problem is reported, not just the first, as an :class:`Issue` — a
``(path, message)`` pair. Paths are JSONPath-like: ``$`` is the value itself,
``$.user.email`` a property, ``$.items[0]`` an array element and
``$["first name"]`` a property whose name is not an identifier. A caller that
validates a request body passes ``root="body"`` and gets ``body.user.email``.
Messages never quote the offending value (it may be a password): they say what
was expected.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from .errors import MotiadError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

DEFAULT_DRAFT: Final = "2020-12"

_DRAFT_URIS: Final = {
    "draft-04": "http://json-schema.org/draft-04/schema#",
    "draft-06": "http://json-schema.org/draft-06/schema#",
    "draft-07": "http://json-schema.org/draft-07/schema#",
    "2019-09": "https://json-schema.org/draft/2019-09/schema",
    "2020-12": "https://json-schema.org/draft/2020-12/schema",
}
"""Each draft by the ``$schema`` URI of its meta-schema (jsonschema's ``META_SCHEMA`` ids)."""


@functools.cache
def _validators() -> dict[str, type[Validator]]:
    """The validator class of each draft. jsonschema is imported on first use: a
    tenth of a second of the broker's start-up, for projects with no schema."""
    import jsonschema

    return {
        "draft-04": jsonschema.Draft4Validator,
        "draft-06": jsonschema.Draft6Validator,
        "draft-07": jsonschema.Draft7Validator,
        "2019-09": jsonschema.Draft201909Validator,
        "2020-12": jsonschema.Draft202012Validator,
    }


def _normalise_uri(uri: str) -> str:
    """``http://json-schema.org/draft-07/schema#`` and its https, ``#``-less
    spellings name the same draft."""
    return uri.strip().rstrip("#").removeprefix("https://").removeprefix("http://")


_BY_URI: Final[dict[str, str]] = {_normalise_uri(uri): name for name, uri in _DRAFT_URIS.items()}
_BY_URI[_normalise_uri("http://json-schema.org/schema#")] = "2020-12"  # "the latest draft"

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_MESSAGE_LIMIT: Final = 200
"""Longest message kept from jsonschema's own wording (used for rare keywords,
which may quote the value): long enough to explain, short enough for a log line."""


class SchemaError(MotiadError):
    """A schema that is not valid JSON Schema. ``message`` names every problem; the
    caller knows the file and the field (``config.bodySchema``) and raises
    ``ConfigError(source, exc.message, field=...)``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Issue(NamedTuple):
    """One way a value fails its schema."""

    path: str
    """Where: ``$.user.email`` (or under the ``root`` the caller chose)."""
    message: str
    """What was expected, for example ``expected string, got number``."""


def _date_time(value: object) -> bool:
    """RFC 3339 date-time (``2024-05-01T12:00:00Z``): what zod's ``.datetime()`` emits.
    jsonschema checks it only with an optional package, so motiad checks it itself."""
    if not isinstance(value, str):
        return True  # formats apply to strings only
    if "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


@dataclass(frozen=True, slots=True, eq=False)
class Schema:
    """A compiled JSON Schema: check values against it as often as needed."""

    source: Mapping[str, Any] | bool
    """The schema as given."""
    draft: str
    """``draft-04``, ``draft-06``, ``draft-07``, ``2019-09`` or ``2020-12``."""
    _validator: Validator

    @classmethod
    def compile(cls, schema: Mapping[str, Any] | bool) -> Schema:
        """Check ``schema`` against its draft's meta-schema and prepare it.

        Raises :class:`SchemaError` listing every problem, each with its place
        in the schema (``properties.age.minimum: expected number, got string``).
        """
        if isinstance(schema, bool):
            draft = DEFAULT_DRAFT
        elif isinstance(schema, Mapping):
            draft = _draft_of(schema)
        else:
            raise SchemaError(
                f"a JSON Schema is an object (or true/false), got {_json_type(schema)}"
            )
        from jsonschema import FormatChecker

        validator_class = _validators()[draft]
        meta = validator_class(validator_class.META_SCHEMA)
        # Schema errors quote the schema, which is the author's, never user data.
        # The 2020-12 meta-schema reaches one place through several vocabularies,
        # so the same problem can come back many times: each is named once.
        problems = list(
            dict.fromkeys(
                f"{_schema_path(error.absolute_path)}: {_shorten(error.message)}"
                for error in meta.iter_errors(schema)
            )
        )
        if problems:
            raise SchemaError(f"not a valid JSON Schema ({draft}): " + "; ".join(problems))
        checker = FormatChecker()
        checker.checkers.update(validator_class.FORMAT_CHECKER.checkers)
        checker.checks("date-time")(_date_time)
        return cls(schema, draft, validator_class(schema, format_checker=checker))

    def is_valid(self, value: Any) -> bool:
        """Whether ``value`` (decoded JSON) satisfies the schema: the fast path."""
        return self._validator.is_valid(value)

    def issues(self, value: Any, *, root: str = "$") -> list[Issue]:
        """Every way ``value`` fails the schema (empty when it is valid).

        Cheap for valid values: the full error search runs only when the fast
        check fails. ``root`` names the value in paths (``body``, ``input``).
        """
        if self._validator.is_valid(value):
            return []
        return list(_issues(self._validator.iter_errors(value), root))


def compile_schema(schema: Mapping[str, Any] | bool) -> Schema:
    """Same as :meth:`Schema.compile`."""
    return Schema.compile(schema)


def _draft_of(schema: Mapping[str, Any]) -> str:
    uri = schema.get("$schema")
    if uri is None:
        return DEFAULT_DRAFT
    if not isinstance(uri, str):
        raise SchemaError(f"$schema must be a string, got {_json_type(uri)}")
    draft = _BY_URI.get(_normalise_uri(uri))
    if draft is None:
        known = ", ".join(sorted(_BY_URI))
        raise SchemaError(f"unknown $schema {uri!r}; motiad knows {known}")
    return draft


def _issues(errors: Iterable[ValidationError], root: str) -> Iterable[Issue]:
    for error in errors:
        path = list(error.absolute_path)
        branch = _fitting_branch(error)
        if branch is not None:
            yield from _issues(branch, root)
            continue
        if error.validator == "required" and isinstance(error.instance, Mapping):
            missing = _named_in_message(error.message, error.validator_value)
            if missing is not None:
                yield Issue(_value_path(root, [*path, missing]), "is required")
                continue
        if (
            error.validator == "additionalProperties"
            and error.validator_value is False
            and isinstance(error.instance, Mapping)
            and isinstance(error.schema, Mapping)
        ):
            for extra in _extra_properties(error.instance, error.schema):
                yield Issue(_value_path(root, [*path, extra]), "is not an allowed property")
            continue
        yield Issue(_value_path(root, path), _describe(error))


def _fitting_branch(error: ValidationError) -> list[ValidationError] | None:
    """For an ``anyOf``/``oneOf`` that no branch matched: the errors of the only
    branch written for the value's type, or ``None`` when that is not one branch.

    pydantic writes ``Optional[Model]`` as ``anyOf: [{$ref: Model}, {type: null}]``
    (zod's ``.nullable()`` likewise): for an object that fails ``Model``, the
    useful issues are inside it (``body.foodOrder.quantity``), not "does not
    match any of the allowed shapes". A branch whose only error is ``type`` on
    the value itself was written for another type and says nothing more.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return None
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [
        errors
        for errors in branches.values()
        if not all(e.validator == "type" and not e.relative_path for e in errors)
    ]
    return fitting[0] if len(fitting) == 1 else None


def _named_in_message(message: str, names: object) -> str | None:
    """Which of ``names`` a ``required`` error is about (jsonschema reports one
    error per missing name and says which only in its message)."""
    if not isinstance(names, Sequence):
        return None
    for name in names:
        if isinstance(name, str) and message == f"{name!r} is a required property":
            return name
    return None


def _extra_properties(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        key
        for key in instance
        if key not in properties and not any(p.search(key) for p in patterns)
    ]


def _describe(error: ValidationError) -> str:
    """What was expected, in words that do not quote the value."""
    keyword = error.validator
    expected: Any = error.validator_value
    got = _json_type(error.instance)
    if error.schema is False:
        return "no value is allowed here"
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        return f"expected {' or '.join(map(str, types))}, got {got}"
    if keyword == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in expected)
    if keyword == "const":
        return f"must be {json.dumps(expected)}"
    if keyword == "required":
        return error.message
    plural = "" if expected == 1 else "s"
    bounds = {
        "minLength": f"must have at least {expected} character{plural}",
        "maxLength": f"must have at most {expected} character{plural}",
        "minItems": f"must have at least {expected} item{plural}",
        "maxItems": f"must have at most {expected} item{plural}",
        "minProperties": f"must have at least {expected} propert{'y' if expected == 1 else 'ies'}",
        "maxProperties": f"must have at most {expected} propert{'y' if expected == 1 else 'ies'}",
        "minimum": f"must be >= {expected}",
        "maximum": f"must be <= {expected}",
        "exclusiveMinimum": f"must be > {expected}",
        "exclusiveMaximum": f"must be < {expected}",
        "multipleOf": f"must be a multiple of {expected}",
        "pattern": f"must match the pattern {json.dumps(expected)}",
        "format": f"must be a valid {expected}",
        "uniqueItems": "must not contain duplicate items",
        "anyOf": "does not match any of the allowed shapes",
        "oneOf": "must match exactly one of the allowed shapes",
        "not": "matches a shape that is not allowed",
        "additionalProperties": "has a property that is not allowed",
    }
    if isinstance(keyword, str) and keyword in bounds:
        return bounds[keyword]
    return _shorten(error.message)


def _shorten(message: str) -> str:
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def _value_path(root: str, parts: Iterable[str | int]) -> str:
    path = root
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.match(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _schema_path(parts: Iterable[str | int]) -> str:
    """A place in a schema, for schema errors: ``properties.age.minimum``."""
    text = _value_path("", parts).lstrip(".")
    return text or "(the schema itself)"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__
