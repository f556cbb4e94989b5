"""A Motia 0.17-style project runs unchanged (issue 18): no tsx in it, zod 3 (and
zod 4 through ``zod/v4``), pydantic and JSON Schema bodies, a stream whose schema
does not declare ``id``, middleware factories and an import/export ``.js`` step.

``fixtures/motia_compat`` installs zod 3.25 from the npm registry
(``npm ci`` there, as scripts/test does); its node_modules holds nothing else.
Each test names the Motia 0.17 behaviour it pins (MotiaDev/motia, packages/core
at v0.17.6-beta.187).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from .harness import FIXTURES, motiad

pytestmark = pytest.mark.anyio

FIXTURE = FIXTURES / "motia_compat"


def compat_project(root: Path) -> Path:
    """A copy of the fixture whose node_modules holds zod 3 and nothing else."""
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("node_modules"))
    (root / "node_modules").symlink_to(FIXTURE / "node_modules")
    return root


async def steps_json(project: Path) -> Any:
    """What ``motiad steps PROJECT --json`` prints."""
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "motiad", "steps", str(project), "--json"], check=False
        )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout)


def test_the_fixture_has_no_tsx() -> None:
    """Guard: the tests below prove nothing if tsx can be found from the project."""
    found = subprocess.run(
        ["node", "-e", "require.resolve('tsx')"], cwd=FIXTURE, capture_output=True, check=False
    )
    assert found.returncode != 0


async def test_every_step_loads_without_tsx_in_the_project(tmp_path: Path) -> None:
    """Motia compiles TypeScript steps with its own esbuild (ts-compiler.ts) and runs
    `.js` steps with its own tsx (language-runner.ts): a project needs neither.
    Middleware made by factories show as the calls the step writes."""
    listed = await steps_json(compat_project(tmp_path / "p"))
    assert listed["errors"] == []
    steps = {step["name"]: step for step in listed["steps"]}
    assert {name: step["language"] for name, step in steps.items()} == {
        "CreatePet": "node",
        "StrictPet": "node",
        "V4Pet": "node",
        "SendMessage": "node",
        "WhereAmI": "node",
        "PythonCreatePet": "python",
    }
    assert steps["WhereAmI"]["config"]["middleware"] == [
        "requireRole('admin')",
        "rateLimit({ perMinute: 60 })",
    ]


async def test_bodies_mean_what_zod_and_pydantic_mean(tmp_path: Path) -> None:
    """zod's and pydantic's own semantics (issue 18 item 4): z.object() and a pydantic
    model with the default extra='ignore' accept unknown keys and drop them;
    .strict() refuses them; .passthrough() and z.looseObject() keep them. (Motia
    itself validates no body; its docs' handlers call `bodySchema.parse(req.body)`.)"""
    project = compat_project(tmp_path / "p")
    owner = {"email": "ada@example.com"}
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        # zod 3 strip mode: accepted, the handler sees no unknown key at any depth.
        sent = {"name": "Rex", "kind": "dog", "owner": {**owner, "phone": "1"}, "color": "red"}
        created = await http.post("/pets", json=sent)
        assert created.status_code == 201, created.text
        assert created.json() == {"name": "Rex", "kind": "dog", "owner": owner}

        # zod 3 .strict() refuses an unknown key, naming it; its .passthrough() part keeps them.
        refused = await http.post(
            "/pets/strict", json={"name": "Rex", "tags": {"color": "red"}, "extra": 1}
        )
        assert refused.status_code == 400
        assert "extra" in refused.text
        kept = {"name": "Rex", "tags": {"color": "red", "size": "L"}}
        assert (await http.post("/pets/strict", json=kept)).json() == kept

        # zod 4 (zod/v4): z.object() strips, z.looseObject() keeps.
        v4 = await http.post(
            "/pets/v4", json={"name": "Rex", "extras": {"size": 3, "fur": "long"}, "junk": True}
        )
        assert v4.status_code == 200, v4.text
        assert v4.json() == {"name": "Rex", "extras": {"size": 3, "fur": "long"}}

        # pydantic's default extra='ignore': accepted, and the model drops the key.
        python = await http.post("/python/pets", json={"name": "Rex", "owner": owner, "x": 1})
        assert python.status_code == 201, python.text
        assert python.json() == {"name": "Rex", "owner": owner}

        # Plain JSON Schema without additionalProperties: unknown keys allowed and kept.
        where = await http.post(
            "/admin/where", json={"note": "hi", "x": 1}, headers={"x-role": "admin"}
        )
        assert where.status_code == 200, where.text
        assert where.json()["body"] == {"note": "hi", "x": 1}


async def test_a_js_step_written_with_import_export_has_commonjs_globals(tmp_path: Path) -> None:
    """Motia runs `.js` steps under its tsx (language-runner.ts), which compiles a file
    written with import/export in a package without "type": "module" to CommonJS:
    `require`, `__dirname` and `__filename` exist. Its factory middleware run."""
    project = compat_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        forbidden = await http.post("/admin/where", json={"note": "hi"})
        assert forbidden.status_code == 403
        assert forbidden.json() == {"error": "needs role admin"}
        where = await http.post("/admin/where", json={"note": "hi"}, headers={"x-role": "admin"})
        assert where.json() == {
            "dirname": "admin",
            "filename": "where.step.js",
            "require": "function",
            "body": {"note": "hi"},
        }


async def test_a_stream_schema_without_id_accepts_sets_and_items_carry_their_id(
    tmp_path: Path,
) -> None:
    """Motia's `set` checks no schema and stores `{...data, id}` (server.ts wraps the
    adapter's set; file-stream-adapter.ts returns `{ ...value, id }`): a chat stream
    whose zod 3 schema has no `id` takes every set, and items come back with it."""
    project = compat_project(tmp_path / "p")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        sent = await http.post("/rooms/r1/messages/m1", json={"text": "hello", "author": "ada"})
        assert sent.status_code == 200, sent.text
        item = {"text": "hello", "author": "ada", "id": "m1"}
        assert sent.json() == {"stored": item, "read": item}
