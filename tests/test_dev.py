"""``motiad dev``: a changed file reloads only its step; files come and go;
a broken file shows its error while the rest serve; responses are checked."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from .harness import FIXTURES, make_project, motiad, serving_child

pytestmark = pytest.mark.anyio

HELLO = """export const config = {{ name: 'Hello', type: 'api', path: '/hello', method: 'GET',
  responseSchema: {{ 200: {{ type: 'object', required: ['hello'] }} }} }}
export const handler = async () => ({{ status: 200, body: {body} }})
"""


async def test_dev_reloads_what_changed_and_keeps_the_rest_serving(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "dev")
    steps = project / "steps"
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        untouched = await serving_child(broker.process.pid, "python")
        assert (await http.get("/hello")).json() == {"hello": "world"}

        mark = len(broker.lines)
        (steps / "hello.step.ts").write_text(HELLO.format(body="{ hello: 'again' }"))
        await broker.wait_for(r"steps/hello.step.ts changed; reloading it", start=mark)
        await broker.wait_for(r"Hello\s+ready: api step, GET /hello", start=mark)
        assert (await http.get("/hello")).json() == {"hello": "again"}
        assert await serving_child(broker.process.pid, "python") == untouched

        mark = len(broker.lines)
        (steps / "hello.step.ts").write_text(HELLO.format(body="{ bye: 1 }"))
        await broker.wait_for(r"Hello\s+ready", start=mark)
        assert (await http.get("/hello")).json() == {"bye": 1}
        await broker.wait_for(
            r"Hello \w+ response 200 does not match config.responseSchema.200: body.hello",
            start=mark,
        )

        mark = len(broker.lines)
        (steps / "new.step.js").write_text(
            "export const config = { name: 'New', type: 'api', path: '/new', method: 'GET' }\n"
            "export const handler = async () => ({ status: 200, body: { fresh: true } })\n"
        )
        await broker.wait_for(r"steps/new.step.js added; reloading it", start=mark)
        await broker.wait_for(r"New\s+ready: api step, GET /new", start=mark)
        assert (await http.get("/new")).json() == {"fresh": True}

        mark = len(broker.lines)
        (steps / "new.step.js").write_text("export const config = {\n")
        await broker.wait_for(r"steps/new.step.js(:\d+)?: failed to load", start=mark)
        assert (await http.get("/new")).status_code == 503  # its last known route names why
        assert (await http.get("/hello")).status_code == 200

        mark = len(broker.lines)
        (steps / "new.step.js").unlink()
        await broker.wait_for(r"steps/new.step.js removed; reloading it", start=mark)
        await broker.wait_for(r"Hello\s+ready", start=mark)  # the reload is done
        assert (await http.get("/hello")).status_code == 200
        assert (await http.get("/new")).status_code == 404  # gone, not broken


async def test_dev_picks_up_a_new_or_changed_stream_file(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", FIXTURES / "dev")
    steps = project / "steps"
    (steps / "notes.step.js").write_text(
        "export const config = { name: 'Notes', type: 'api', path: '/notes', method: 'POST' }\n"
        "export const handler = async (req, { streams }) => {\n"
        "  try { return { status: 200, body: await streams.notes.set('g', 'n', req.body) } }\n"
        "  catch (err) { return { status: 422, body: { error: err.message } } }\n"
        "}\n"
    )
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await http.post("/notes", json={"text": 1})).status_code == 422  # no stream yet
        mark = len(broker.lines)
        (steps / "notes.stream.js").write_text(
            "export const config = { name: 'notes', schema: { type: 'object',"
            " properties: { text: { type: 'string' } } } }\n"
        )
        await broker.wait_for(r"ready: stream 'notes' \(steps/notes.stream.js\)", start=mark)
        refused = await http.post("/notes", json={"text": 1})
        assert "data.text" in refused.json()["error"]
        assert (await http.post("/notes", json={"text": "hi"})).json() == {"text": "hi", "id": "n"}

        mark = len(broker.lines)
        (steps / "notes.stream.js").write_text("export const config = { name: 'notes' }\n")
        await broker.wait_for(r"ready: stream 'notes'", start=mark)
        assert (await http.post("/notes", json={"text": 1})).status_code == 200


WRITER = """from pathlib import Path

LATE = Path(__file__).with_name("late.step.js")
if not LATE.exists():  # written while the broker loads the project
    LATE.write_text(
        "export const config = { name: 'Late', type: 'api', path: '/late', method: 'GET' }\\n"
        "export const handler = async () => ({ status: 200, body: { late: true } })\\n"
    )

config = {"name": "Writer", "type": "event", "subscribes": ["never"], "emits": []}


async def handler(input, context):
    pass
"""


async def test_a_file_written_while_the_project_loads_is_not_missed(tmp_path: Path) -> None:
    """Issue #15: the watcher took its first look at the files only after
    `serving` (the tests' cue to write), so a file written between the load and
    that look was taken as already there and never loaded. Here a step writes
    one while it loads: `motiad dev` must load it once it serves."""
    project = make_project(tmp_path / "p", FIXTURES / "dev")
    (project / "steps" / "writer_step.py").write_text(WRITER)
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        await broker.wait_for(r"steps/late.step.js added; reloading it")
        await broker.wait_for(r"Late\s+ready: api step, GET /late")
        assert (await http.get("/late")).json() == {"late": True}


async def test_dev_watches_src_as_motia_does(tmp_path: Path) -> None:
    """Motia 0.17 discovers steps under src/ as well as steps/ (snap's
    generate-locked-data.ts): a Motia project keeps them in src/ only."""
    project = make_project(tmp_path / "p", folder="src/hello")
    (project / "src" / "hello" / "hello.step.ts").write_text(HELLO.format(body="{ hello: 'src' }"))
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await http.get("/hello")).json() == {"hello": "src"}
        mark = len(broker.lines)
        (project / "src" / "hello" / "hello.step.ts").write_text(
            HELLO.format(body="{ hello: 'changed' }")
        )
        await broker.wait_for(r"src/hello/hello.step.ts changed; reloading it", start=mark)
        await broker.wait_for(r"Hello\s+ready: api step, GET /hello", start=mark)
        assert (await http.get("/hello")).json() == {"hello": "changed"}

        mark = len(broker.lines)
        shutil.rmtree(project / "src")
        await broker.wait_for(r"src/ went away: its steps stop", start=mark)
        await broker.wait_for(r"src/hello/hello.step.ts removed; reloading it", start=mark)
        assert (await http.get("/hello")).status_code == 404
