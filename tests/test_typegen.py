"""``motiad types``: a typed Handlers map that the TypeScript compiler enforces."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from motiad.config import parse_step_config
from motiad.flows import FlowStep
from motiad.typegen import generate_types, schema_to_ts

from .harness import SDK_NODE_MODULES, run_cli, typed_project

TSC = SDK_NODE_MODULES / ".bin" / "tsc"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"type": "integer"}, "number"),
        ({"type": ["string", "null"]}, "string | null"),
        ({"enum": ["low", "high"]}, "'low' | 'high'"),
        ({"const": "it's"}, "'it\\'s'"),
        ({"const": 3}, "3"),
        ({}, "unknown"),
        (True, "unknown"),
        (False, "never"),
        (
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"}]}},
            "Array<string | number>",
        ),
        ({"type": "array", "prefixItems": [{"type": "string"}], "items": False}, "[string]"),
        ({"type": "array", "items": [{"type": "string"}]}, "[string, ...unknown[]]"),
        ({"type": "object"}, "Record<string, unknown>"),
        ({"type": "object", "additionalProperties": {"type": "number"}}, "Record<string, number>"),
        ({"type": "object", "additionalProperties": False}, "Record<string, never>"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b c": {"type": "boolean"}},
                "required": ["a"],
            },
            "{ a: string; 'b c'?: boolean }",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": True,
            },
            "{ a?: string; [key: string]: unknown }",
        ),
        (
            {"allOf": [{"properties": {"a": {"type": "string"}}}, {"properties": {"b": {}}}]},
            "{ a?: string } & { b?: unknown }",
        ),
        ({"anyOf": [{"type": "string"}, {}]}, "unknown"),
        (
            {
                "oneOf": [
                    {"type": "object", "properties": {"k": {"const": "a"}}, "required": ["k"]},
                    {"type": "null"},
                ]
            },
            "{ k: 'a' } | null",
        ),
        ({"type": "string", "nullable": True}, "string | null"),
        ({"not": {"type": "string"}}, "unknown"),
    ],
)
def test_json_schema_becomes_a_typescript_type(schema: Any, expected: str) -> None:
    assert schema_to_ts(schema) == expected


def test_refs_resolve_and_long_objects_go_one_property_per_line() -> None:
    pydantic_like = {
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "Where */ they live"}},
                "required": ["city"],
            },
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}},
        },
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Address"}, "list": {"$ref": "#/$defs/Node"}},
        "required": ["home"],
    }

    text = schema_to_ts(pydantic_like)

    assert text.startswith("{\n  home: {\n    /** Where * / they live */\n    city: string\n  }\n")
    assert "next?:" in text  # a recursive schema ends in `unknown` instead of looping
    assert text.endswith("}")


def flow_step(file: str, **config: Any) -> FlowStep:
    return FlowStep(file, "node", parse_step_config(config, file))


def test_handlers_get_typed_bodies_emits_and_responses() -> None:
    text = generate_types(
        [
            flow_step(
                "steps/a.step.ts",
                name="Send",
                type="api",
                path="/send",
                method="POST",
                bodySchema={"type": "object", "properties": {"t": {"type": "string"}}},
                responseSchema={"200": {"type": "boolean"}, "404": {"type": "string"}},
                emits=["sent", {"topic": "nobody.listens", "label": "x"}],
            ),
            flow_step(
                "steps/b.step.ts",
                name="One",
                type="event",
                subscribes=["sent"],
                input={"type": "object", "properties": {"t": {"type": "string"}}},
            ),
            flow_step(
                "steps/c.step.ts",
                name="Two",
                type="event",
                subscribes=["sent"],
                input={"type": "object", "properties": {"n": {"type": "number"}}},
            ),
            flow_step("steps/d.step.ts", name="Tick", type="cron", cron="* * * * *"),
            flow_step("steps/e.step.ts", name="Human", type="noop"),
        ]
    )

    assert "declare module 'motia' {" in text
    # No top-level import or export: the file is a script, so the module is ambient.
    assert not [line for line in text.splitlines() if line.startswith(("import ", "export "))]
    assert (
        "    Send: ApiRouteHandler<\n"
        "      { t?: string },\n"
        "      ApiResponse<200, boolean> | ApiResponse<404, string>,\n"
        "      | { topic: 'sent'; data: { t?: string } & { n?: number } }\n"
        "      | { topic: 'nobody.listens'; data: unknown }\n"
        "    >\n"
    ) in text
    assert "    One: EventHandler<{ t?: string }, never>\n" in text
    assert "    Tick: CronHandler<never>\n" in text
    assert "Human" not in text


def type_check(project: Path) -> subprocess.CompletedProcess[str]:
    """``tsc --noEmit`` of the project, with its output."""
    return subprocess.run(
        [str(TSC), "--noEmit", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not TSC.exists(), reason="needs sdk-node's dev dependencies (npm ci)")
def test_the_compiler_accepts_declared_emits_and_refuses_undeclared_ones(tmp_path: Path) -> None:
    project = typed_project(tmp_path / "typed")

    generated = run_cli("types", str(project))
    assert generated.returncode == 0, generated.stderr
    text = (project / "types.d.ts").read_text()
    assert (
        "CreateOrder: ApiRouteHandler<\n      { item: string; quantity: number; note?: string },\n"
        in text
    )
    assert (
        "| { topic: 'order.created'; data: { item: string; quantity: number } & { item: string } }"
        in text
    )

    def tsc() -> subprocess.CompletedProcess[str]:
        return type_check(project)

    accepted = tsc()
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr

    (project / "steps" / "rogue.ts").write_text(
        "import type { Handlers } from 'motia'\n"
        "export const handler: Handlers['ShipOrder'] = async (input, { emit }) => {\n"
        "  await emit({ topic: 'order.lost', data: { item: input.item } })\n"
        "}\n"
    )
    refused = tsc()
    assert refused.returncode != 0
    assert "rogue.ts(3," in refused.stdout
    assert "'\"order.lost\"' is not assignable" in refused.stdout


def test_declared_streams_get_their_item_type() -> None:
    text = generate_types(
        [],
        [
            ("todo", {"type": "object", "properties": {"title": {"type": "string"}}}),
            ("loose", None),
        ],
    )
    streams = "interface Streams {\n    loose: MotiaStream<any>\n"
    assert streams + "    todo: MotiaStream<{ title?: string }>\n  }" in text


@pytest.mark.skipif(not TSC.exists(), reason="needs sdk-node's dev dependencies (npm ci)")
def test_the_compiler_checks_what_a_handler_sets_in_a_stream(tmp_path: Path) -> None:
    project = typed_project(tmp_path / "typed")
    (project / "steps" / "todo.stream.ts").write_text(
        "import { z } from 'zod'\n"
        "export const config = { name: 'todo', schema: z.object({ title: z.string() }) }\n"
    )
    uses = project / "steps" / "uses-todo.ts"

    def tsc_with(data: str) -> subprocess.CompletedProcess[str]:
        uses.write_text(
            "import type { Handlers } from 'motia'\n"
            "export const handler: Handlers['ShipOrder'] = async (_input, { streams }) => {\n"
            f"  const item = await streams.todo.set('g', 'id', {data})\n"
            "  item.id.toUpperCase()\n"
            "}\n"
        )
        return type_check(project)

    generated = run_cli("types", str(project))
    assert generated.returncode == 0, generated.stderr
    accepted = tsc_with("{ title: 'milk' }")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    refused = tsc_with("{ title: 1 }")
    assert refused.returncode != 0
    assert "uses-todo.ts(3," in refused.stdout
