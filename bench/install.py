"""What ``bench/run`` installs into ``bench/.cache/`` (git-ignored) before it measures:
tsx for motiad's TypeScript steps, and Motia 0.17 with its Python venv and Debian's
``redis-server``. Each function is idempotent and fast once installed; each raises
``RuntimeError`` with the failing command's output, so the driver can report why a
system is missing and go on with the others.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .systems import MOTIA_CONFIG, motia_env

MOTIA_VERSION = "0.17.6-beta.187"
"""The Motia release issue 7 compares with (its latest 0.17 build)."""

TSX_VERSION = "^4.20.0"
"""As in examples/quickstart/package.json."""

NPM_TIMEOUT_S = 600.0
"""A cold ``npm install motia`` fetches ~640 packages (~500 MB): a minute here."""


def _run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    """Run a setup command; raise with its output's tail when it fails."""
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{' '.join(argv)} (in {cwd}): {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(argv)} (in {cwd}) exited {done.returncode}:\n{tail}")
    return done.stdout


def _npm_project(folder: Path, name: str, dependencies: dict[str, str]) -> None:
    """``npm install`` in ``folder`` unless its ``package.json`` already lists exactly
    ``dependencies`` and they are installed."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"name": name, "private": True, "dependencies": dependencies}
    path = folder / "package.json"
    current = json.loads(path.read_text()) if path.exists() else None
    installed = all(
        (folder / "node_modules" / dep / "package.json").exists() for dep in dependencies
    )
    if current == manifest and installed:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH: install Node.js 20+")
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"bench: npm install in {folder} ({', '.join(dependencies)})")
    env = {**os.environ, **motia_env()}
    _run([npm, "install", "--no-audit", "--no-fund"], folder, env, NPM_TIMEOUT_S)


def ensure_tsx(cache: Path) -> Path:
    """``bench/.cache/tsx/node_modules`` with tsx: motiad runs TypeScript steps through
    the project's tsx; every bench project links this folder."""
    folder = cache / "tsx"
    _npm_project(folder, "motiad-bench-tsx", {"tsx": TSX_VERSION})
    return folder / "node_modules"


def ensure_redis_server() -> str:
    """Debian's ``redis-server`` (Motia's bundled Redis would download a build)."""
    found = shutil.which("redis-server")
    if found:
        return found
    print("bench: redis-server is missing; installing it with apt-get")
    install = ["apt-get", "install", "-y", "-q", "redis-server"]
    try:
        _run(install, Path("/"))
    except RuntimeError:  # a fresh machine has no package lists yet
        _run(["apt-get", "update", "-q"], Path("/"))
        _run(install, Path("/"))
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("apt-get installed redis-server but it is not on PATH")
    return found


SETUP_STEP = """\
config = {"name": "Setup", "type": "event", "subscribes": ["setup"], "emits": []}


async def handler(input, context):
    pass
"""


def ensure_motia(cache: Path) -> Path:
    """``bench/.cache/motia``: ``node_modules`` with motia@0.17 and ``python_modules``,
    the venv ``npx motia install`` makes for Python steps (made once, in a scratch
    project, then moved here; every Motia project copy links both)."""
    ensure_redis_server()
    folder = cache / "motia"
    _npm_project(folder, "motiad-bench-motia", {"motia": MOTIA_VERSION})
    venv = folder / "python_modules"
    if (venv / "bin" / "python").exists():
        return folder
    print("bench: npx motia install (Motia's Python venv) into bench/.cache/motia")
    with tempfile.TemporaryDirectory(prefix="motiad-bench-motia-install-") as scratch:
        project = Path(scratch)
        (project / "steps").mkdir()
        (project / "steps" / "setup_step.py").write_text(SETUP_STEP, encoding="utf-8")
        (project / "package.json").write_text('{"name": "setup", "private": true}\n')
        (project / "motia.config.ts").write_text(MOTIA_CONFIG, encoding="utf-8")
        (project / "node_modules").symlink_to(folder / "node_modules", target_is_directory=True)
        cli = folder / "node_modules" / "motia" / "dist" / "cli.mjs"
        node = shutil.which("node") or "node"
        _run([node, str(cli), "install"], project, {**os.environ, **motia_env()})
        if not (project / "python_modules" / "bin" / "python").exists():
            raise RuntimeError("npx motia install made no python_modules/bin/python")
        shutil.move(str(project / "python_modules"), str(venv))
    return folder
