"""A Motia 0.17 project as its users lay it out runs unchanged (issue #18):
steps under src/, the shell's environment with .env beneath it, and a
motia.config.ts whose plugins and adapters motiad names and replaces."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from motiad.discovery import discover_steps, discover_streams
from motiad.motia_config import unused_parts

from .harness import FIXTURES, QUICKSTART, motiad, run_cli

pytestmark = pytest.mark.anyio

MOTIA_SRC = FIXTURES / "motia_src"


def motia_project(root: Path) -> Path:
    """A copy of the ``motia_src`` fixture (Motia 0.17's ``src/`` layout, a
    ``.env``, a ``motia.config.ts``), with the quickstart's node_modules (tsx)."""
    shutil.copytree(MOTIA_SRC, root)
    (root / "node_modules").symlink_to(QUICKSTART / "node_modules")
    return root


def test_step_and_stream_files_are_found_under_src_and_steps(tmp_path: Path) -> None:
    """Motia 0.17 (snap's generate-locked-data.ts) globs step and stream files
    under both steps/ and src/; a helper module beside them is not a step."""
    project = motia_project(tmp_path / "p")
    (project / "steps").mkdir()
    (project / "steps" / "ping.step.js").write_text("")
    (project / "src" / "node_modules" / "dep").mkdir(parents=True)
    (project / "src" / "node_modules" / "dep" / "x.step.js").write_text("")
    found = [(f.relative, f.language) for f in discover_steps(project)]
    assert found == [
        ("src/hello/env_api_step.py", "python"),
        ("src/hello/hello-api.step.ts", "node"),
        ("src/hello/process_greeting_step.py", "python"),
        ("steps/ping.step.js", "node"),
    ]
    assert [f.relative for f in discover_streams(project)] == ["src/greetings/greetings.stream.ts"]


def test_the_step_folders_are_configurable(tmp_path: Path) -> None:
    (tmp_path / "backend" / "api").mkdir(parents=True)
    (tmp_path / "backend" / "api" / "a.step.ts").write_text("")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "b.step.ts").write_text("")
    (tmp_path / "motiad.toml").write_text('[project]\nstep_dirs = ["backend"]\n')
    done = run_cli("steps", str(tmp_path), "--json")
    assert "backend/api/a.step.ts" in done.stdout + done.stderr
    assert "src/b.step.ts" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["steps", "flows", "types", "run"])
def test_a_folder_without_step_folders_gets_the_same_clean_message(
    tmp_path: Path, command: str
) -> None:
    """`steps`/`flows` crashed with an ExceptionGroup traceback where `run`
    printed one line."""
    done = run_cli(command, str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: {tmp_path}: no steps/ or src/ folder here; is this a motiad project?"
        " (create one with steps/*.step.ts or steps/*_step.py files)"
    )


async def test_a_motia_project_gets_the_shell_environment_with_dotenv_beneath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Motia 0.17: `import 'dotenv/config'` in its CLI (dotenv never overrides
    a variable already set) and children spawned with `process.env`: a key
    exported in the shell reaches a TypeScript and a Python step, and beats the
    stale one in .env; the rest of .env (with an inline comment) fills in."""
    project = motia_project(tmp_path / "p")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-exported-in-the-shell")
    monkeypatch.delenv("APP_NAME", raising=False)
    monkeypatch.delenv("GREETING_PREFIX", raising=False)
    expected = {
        "appName": "Greeter from .env",
        "prefix": "Hello",
        "openaiKey": "sk-exported-in-the-shell",
    }
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await http.get("/hello")).json() == expected
        assert (await http.get("/hello/python")).json() == expected


async def test_inherit_env_false_keeps_the_shell_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[project] inherit_env = false`: the minimal environment, .env on top."""
    project = motia_project(tmp_path / "p")
    (project / "motiad.toml").write_text("[project]\ninherit_env = false\n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-exported-in-the-shell")
    monkeypatch.setenv("EXPORTED_ONLY", "1")
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        for path in ("/hello", "/hello/python"):
            assert (await http.get(path)).json()["openaiKey"] == "sk-stale-key-in-the-file"


async def test_motia_config_plugins_and_adapters_are_named_once_with_what_motiad_does(
    tmp_path: Path,
) -> None:
    """Motia 0.17 loads motia.config.ts (snap's load-motia-config.ts) for
    plugins, adapters and redis; motiad reads it without running it and warns
    once per part it does not use; the project runs all the same."""
    project = motia_project(tmp_path / "p")
    async with motiad("run", str(project), "--port", "0") as broker:
        text = broker.output()
    expected = [
        "plugin statesPlugin (@motiadev/plugin-states): not used",
        "plugin bullmqPlugin (@motiadev/plugin-bullmq): not used",
        "plugin auditPlugin: not used; motiad does not load Motia plugins",
        "BullMQ adapter (adapters.events: BullMQEventAdapter): not used; motiad's durable"
        " queue is built in; see [queue] in motiad.toml",
        "Redis state adapter (adapters.state: RedisStateAdapter): not used",
        "Redis streams adapter (adapters.streams: RedisStreamAdapterManager): not used",
        "redis: not used",
    ]
    for part in expected:
        assert text.count(part) == 1, part
    assert "serving 3 steps" in text


@pytest.mark.parametrize(
    "config",
    [
        "export default {}\n",
        "export default config({ plugins: [",
        "\x00\xff not typescript at all {{{ ]]] ((",
        "const c = require('@motiadev/core').config\nmodule.exports = c({ adapters: { x: 1 } })\n",
    ],
)
def test_an_odd_motia_config_never_fails(tmp_path: Path, config: str) -> None:
    (tmp_path / "motia.config.ts").write_text(config, encoding="utf-8", errors="surrogateescape")
    assert isinstance(unused_parts(tmp_path), list)


def test_a_local_plugin_and_an_unknown_adapter_are_named(tmp_path: Path) -> None:
    (tmp_path / "motia.config.js").write_text(
        "const { defineConfig } = require('motia')\n"
        "const { KafkaEvents } = require('./kafka') // our own\n"
        "module.exports = defineConfig({\n"
        "  plugins: [myPlugin({ label: 'x, y' }), require('./other')],\n"
        "  adapters: { events: new KafkaEvents({ brokers: ['a:9092'] }) },\n"
        "  app: (app) => { app.use(cors()) },\n"
        "})\n"
    )
    assert unused_parts(tmp_path) == [
        "motia.config.js: plugin myPlugin: not used; motiad does not load Motia plugins"
        " (workbench components, plugin steps); a step it needs goes in a step folder",
        "motia.config.js: plugin ./other: not used; motiad does not load Motia plugins"
        " (workbench components, plugin steps); a step it needs goes in a step folder",
        "motia.config.js: adapter (adapters.events: KafkaEvents): not used; motiad's durable"
        " queue is built in; see [queue] in motiad.toml",
        "motia.config.js: app: not used; motiad has no Express app to customise;"
        " use API step middleware",
    ]
