"""JSON Schema validation: every problem with its path, drafts, invalid schemas."""

from __future__ import annotations

from typing import Any

import pytest

from motiad.schemas import Issue, Schema, SchemaError

USER = {
    "type": "object",
    "properties": {
        "user": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "age": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            },
            "required": ["email", "name"],
            "additionalProperties": False,
        },
        "first name": {"type": "string", "minLength": 1},
    },
    "required": ["user"],
}


def test_a_valid_value_has_no_issues() -> None:
    schema = Schema.compile(USER)

    assert schema.is_valid({"user": {"email": "a@b.c", "name": "x"}}) is False  # name: extra
    assert schema.issues({"user": {"email": "a@b.c", "age": 3}}) == [
        Issue("$.user.name", "is required")
    ]
    assert Schema.compile({"type": "object"}).issues({"any": 1}) == []


def test_every_issue_is_reported_with_its_path() -> None:
    value = {
        "user": {"email": "not-an-email", "age": -1, "tags": ["a", 2, "c"], "extra": True},
        "first name": "",
    }

    issues = Schema.compile(USER).issues(value)

    assert sorted(issues) == sorted(
        [
            Issue("$.user.email", "must be a valid email"),
            Issue("$.user.age", "must be >= 0"),
            Issue("$.user.tags", "must have at most 2 items"),
            Issue("$.user.tags[1]", "expected string, got integer"),
            Issue("$.user.name", "is required"),
            Issue("$.user.extra", "is not an allowed property"),
            Issue('$["first name"]', "must have at least 1 character"),
        ]
    )


def test_the_caller_names_the_root_of_the_paths() -> None:
    issues = Schema.compile(USER).issues({"user": {}}, root="body")

    assert issues == [
        Issue("body.user.email", "is required"),
        Issue("body.user.name", "is required"),
    ]
    assert Schema.compile({"type": "string"}).issues(3, root="input") == [
        Issue("input", "expected string, got integer")
    ]


def test_messages_say_what_was_expected_without_quoting_the_value() -> None:
    schema = Schema.compile(
        {
            "type": "object",
            "properties": {
                "password": {"type": "string", "minLength": 12, "pattern": "^[a-z]+$"},
                "role": {"enum": ["admin", "user"]},
                "kind": {"const": "x"},
                "n": {"type": ["integer", "null"]},
            },
        }
    )

    issues = schema.issues({"password": "Hunter2", "role": "root", "kind": "y", "n": "7"})

    assert sorted(issues) == [
        Issue("$.kind", 'must be "x"'),
        Issue("$.n", "expected integer or null, got string"),
        Issue("$.password", "must have at least 12 characters"),
        Issue("$.password", 'must match the pattern "^[a-z]+$"'),
        Issue("$.role", 'must be one of "admin", "user"'),
    ]
    assert not any("Hunter2" in message for _, message in issues)


def test_the_draft_comes_from_dollar_schema_else_2020_12() -> None:
    # zod-to-json-schema (zod v3) output: draft-07, where `items` may be a tuple.
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "array",
        "items": [{"type": "string"}, {"type": "number"}],
    }
    assert Schema.compile(draft7).draft == "draft-07"
    assert Schema.compile(draft7).issues(["a", "b"]) == [
        Issue("$[1]", "expected number, got string")
    ]
    # zod v4 output: 2020-12, tuples in `prefixItems`.
    zod4 = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "array",
        "prefixItems": [{"type": "string"}],
    }
    assert Schema.compile(zod4).draft == "2020-12"
    assert Schema.compile({"type": "string"}).draft == "2020-12"


def test_pydantic_refs_to_defs_resolve() -> None:
    pydantic_like = {
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Address"}},
        "required": ["home"],
    }

    issues = Schema.compile(pydantic_like).issues({"home": {"city": 3}})

    assert issues == [Issue("$.home.city", "expected string, got integer")]


def test_an_optional_model_reports_the_fields_inside_it() -> None:
    # pydantic's `foodOrder: Optional[FoodOrder] = None` (Motia's Python templates)
    pydantic_like = {
        "$defs": {
            "FoodOrder": {
                "type": "object",
                "properties": {"quantity": {"type": "integer"}},
                "required": ["quantity"],
            }
        },
        "type": "object",
        "properties": {
            "foodOrder": {"anyOf": [{"$ref": "#/$defs/FoodOrder"}, {"type": "null"}]},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]},
            "shape": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
    }
    schema = Schema.compile(pydantic_like)

    assert schema.issues({"foodOrder": {"quantity": "x"}, "either": -1}, root="body") == [
        Issue("body.foodOrder.quantity", "expected integer, got string"),
        Issue("body.either", "must be >= 0"),
    ]
    assert schema.issues({"foodOrder": {}}) == [Issue("$.foodOrder.quantity", "is required")]
    assert schema.issues({"foodOrder": None, "either": 1}) == []
    # No branch, or more than one, written for the value's type: the shapes are named.
    assert schema.issues({"foodOrder": 3, "shape": True}) == [
        Issue("$.foodOrder", "does not match any of the allowed shapes"),
        Issue("$.shape", "does not match any of the allowed shapes"),
    ]


def test_date_time_strings_are_checked_as_zod_checks_them() -> None:
    schema = Schema.compile({"type": "string", "format": "date-time"})

    assert schema.is_valid("2024-05-01T12:00:00Z")
    assert schema.is_valid("2024-05-01T12:00:00.123+02:00")
    assert schema.issues("2024-05-01") == [Issue("$", "must be a valid date-time")]
    assert not schema.is_valid("2024-05-01T12:00:00")  # no offset


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "strin"}, "not a valid JSON Schema (2020-12): type:"),
        (
            {"properties": {"age": {"minimum": "0"}}},
            "properties.age.minimum: '0' is not of type 'number'",
        ),
        ({"$schema": "https://example.com/my-schema"}, "unknown $schema"),
        ([{"type": "string"}], "a JSON Schema is an object (or true/false), got array"),
    ],
)
def test_an_invalid_schema_is_a_clear_error(schema: Any, expected: str) -> None:
    with pytest.raises(SchemaError) as caught:
        Schema.compile(schema)

    assert expected in caught.value.message


def test_each_problem_in_a_schema_is_named_once() -> None:
    # From Motia's event step docs (Python tab): `properties` maps names to schemas.
    with pytest.raises(SchemaError) as caught:
        Schema.compile({"type": "object", "properties": {"type": "string"}})

    assert caught.value.message == (
        "not a valid JSON Schema (2020-12): "
        "properties.type: 'string' is not of type 'object', 'boolean'"
    )


def test_boolean_schemas_accept_everything_or_nothing() -> None:
    assert Schema.compile(True).issues({"a": 1}) == []
    assert Schema.compile(False).issues(1)[0].path == "$"
