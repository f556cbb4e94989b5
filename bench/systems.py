"""The systems under test: how to prepare, start and stop each server for a project,
and where it answers. A scenario names the project and the systems it runs against
(``scenarios.py``).

Projects live in ``bench/projects/`` (``ping``, ``chain``, ``events``, ``noop``) or
``examples/`` (``quickstart``): the *same* step files run on motiad and on Motia 0.17.
To add a system: subclass :class:`System`, add an instance in :func:`systems`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository."""

PROJECTS = ROOT / "bench" / "projects"

PYTHON = sys.executable
"""The dev venv's interpreter (``bench/run`` runs us on it)."""

READY_PATHS = {
    "ping": "/ping",
    "many-steps": "/ping",
    "cpu-pool": "/__motiad/ready",
    "chain": "/runs/ready",
    "events": "/probe/ready",
    "quickstart": "/__motiad/ready",
    "streams": "/__motiad/ready",
}
"""A route of each project that answers 200 once its steps are loaded (the
quickstart, the streams and the cpu-pool projects have none without state or
work: motiad's readiness probe; not the health probe, which answers while the
steps still load)."""


def project_dir(project: str) -> Path:
    """``bench/projects/NAME``, else ``examples/NAME``."""
    for base in (PROJECTS, ROOT / "examples"):
        if (base / project / "steps").is_dir():
            return base / project
    raise RuntimeError(f"no project {project!r} under bench/projects/ or examples/")


@dataclass(frozen=True, slots=True)
class Backlog:
    """Background work a system has queued (motiad: event deliveries in its database)."""

    created: int
    """Deliveries ever created (SQLite's AUTOINCREMENT counter)."""
    pending: dict[str, int]
    """Deliveries not yet done, by step."""
    dead: int
    """Deliveries that gave up (dead-letter queue)."""

    @property
    def waiting(self) -> int:
        """Pending deliveries, all steps together."""
        return sum(self.pending.values())


class System:
    """A server under test. Subclasses say how it starts."""

    name: str = ""
    description: str = ""
    shared: bool = False
    """One server serves every project (the HTTP floors): started once, not per project."""
    ready_deadline_s: float = 60.0
    """Longest start we wait for: motiad starts Node children through tsx."""
    stop_grace_s: float = 20.0
    """After SIGINT: motiad lets in-flight work finish (its shutdown grace is 10 s)."""
    unavailable: str | None = None
    """Why this system cannot run on this machine (set by the driver's setup)."""
    fresh: bool = False
    """Started anew for every measurement (its state from earlier ones would skew it)."""

    def prepare(self, workdir: Path, project: str) -> Path:
        """Lay out what the server needs under ``workdir``; return its working folder."""
        return workdir

    def ready_path(self, project: str) -> str:
        """A path that answers 200 once the server serves ``project``."""
        return READY_PATHS[project]

    def command(self, cwd: Path, port: int) -> list[str]:
        """argv that serves on 127.0.0.1:``port``."""
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The server's environment (``None``: ours)."""
        return None

    def backlog(self, cwd: Path) -> Backlog | None:
        """Queued background work, for systems that show it (``None``: none or unknown)."""
        return None


class Peer(System):
    """A floor in ``bench/peers/``: ``python -m bench.peers.MODULE --port N`` from the
    repository root, with a ``/health`` route."""

    module = ""
    stop_grace_s = 10.0

    def command(self, cwd: Path, port: int) -> list[str]:
        """``python -m bench.peers.MODULE --port N``."""
        return [PYTHON, "-m", f"bench.peers.{self.module}", "--port", str(port)]

    def prepare(self, workdir: Path, project: str) -> Path:
        """Runs from the repository root so ``bench.peers`` imports."""
        return ROOT

    def ready_path(self, project: str) -> str:
        """Its own health route (bare quart serves every project's routes at once)."""
        return "/health"


class RawAsgi(Peer):
    """A bare ASGI app on hypercorn with msgspec doing each route's JSON work: the
    floor of every HTTP scenario (the HTTP server and codec motiad's API path uses,
    and nothing else)."""

    name = "raw-asgi"
    description = "bare ASGI + msgspec on hypercorn, 1 worker (bench/peers/raw_asgi.py)"
    shared = True
    module = "raw_asgi"


class BareQuart(Peer):
    """quart on hypercorn, one worker, the same JSON work with stdlib json: a
    reference row (what a Python framework's request pipeline adds to the floor)."""

    name = "bare-quart"
    description = "quart + hypercorn, 1 worker, default config (bench/peers/bare_quart.py)"
    shared = True
    module = "bare_quart"


class WsFloor(Peer):
    """hypercorn and a bare ASGI app speaking the stream WebSocket protocol: the floor
    of fanning a change out to WebSocket clients."""

    name = "ws-floor"
    description = (
        "hypercorn, a bare ASGI stream fan-out, nothing behind it (bench/peers/ws_floor.py)"
    )
    module = "ws_floor"


def _copy_project(source: Path, target: Path) -> None:
    """``steps/`` and the project's small files; never ``node_modules``, ``.motiad``."""
    target.mkdir(parents=True)
    shutil.copytree(source / "steps", target / "steps")
    for name in ("package.json", "motiad.toml", ".env", "requirements.txt"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


class Motiad(System):
    """``motiad run`` on a copy of a project, with a fresh database."""

    def __init__(self, node_modules: Path | None, source: Path | None = None) -> None:
        self.name = "motiad"
        self.node_modules = node_modules
        """A ``node_modules`` with tsx (``bench/.cache/tsx/``) linked into each copy, for
        revisions whose Node SDK has no TypeScript loader of its own (``None``: the
        project runs as the quickstart ships, on the SDK's loader)."""
        self.source = source
        """A checkout (``src/``, ``sdk-*/``) to run instead of the dev venv's motiad."""
        loader = "tsx" if node_modules else "the Node SDK's own TypeScript loader"
        self.description = f"motiad run PROJECT --log-level warn (fresh .motiad/, {loader})" + (
            f", src/ of {source.name}" if source else ""
        )

    def prepare(self, workdir: Path, project: str) -> Path:
        """Copy the project (and link ``node_modules``, if any); no ``.motiad/``."""
        target = workdir / project
        _copy_project(project_dir(project), target)
        if self.node_modules is not None:
            (target / "node_modules").symlink_to(self.node_modules, target_is_directory=True)
        return target

    def command(self, cwd: Path, port: int) -> list[str]:
        """``motiad run PROJECT --port N --log-level warn`` (as ``python -m motiad``)."""
        return [PYTHON, "-m", "motiad", "run", str(cwd), "--port", str(port), "--log-level", "warn"]

    def env(self) -> dict[str, str] | None:
        """With a :attr:`source`, its ``src/`` comes first on the path (before the
        editable install); the SDKs are found beside it."""
        return motiad_env(self.source)

    def backlog(self, cwd: Path) -> Backlog | None:
        """Read (read-only) the deliveries table of the project's SQLite database."""
        return read_backlog(cwd / ".motiad" / "motiad.db")


class MotiadWith(Motiad):
    """``motiad run`` as :class:`Motiad`, with settings added to the copy's
    motiad.toml: the observability rows compare metrics off, on (``motiad``,
    the default) and OTLP export to a local receiver."""

    def __init__(
        self,
        name: str,
        settings: str,
        node_modules: Path | None,
        source: Path | None = None,
        *,
        sink: OtlpSink | None = None,
    ) -> None:
        super().__init__(node_modules, source)
        self.name = name
        self.settings = settings
        self.sink = sink
        """A receiver started before the server: ``{sink}`` in ``settings`` is its URL."""
        self.description += f"; motiad.toml + {settings.strip()!r}"

    def prepare(self, workdir: Path, project: str) -> Path:
        """The copy, with :attr:`settings` appended to its motiad.toml."""
        target = super().prepare(workdir, project)
        settings = self.settings
        if self.sink is not None:
            settings = settings.replace("{sink}", self.sink.url())
        toml = target / "motiad.toml"
        existing = toml.read_text() if toml.exists() else ""
        toml.write_text(existing + "\n" + settings)
        return target


class OtlpSink:
    """``bench/peers/otlp_sink.py``, started on first use and stopped at exit."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def url(self) -> str:
        """The receiver's base URL, starting it when it does not run."""
        if self.proc is None or self.proc.poll() is not None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "bench.peers.otlp_sink", "--port", str(self.port)], cwd=ROOT
            )
            atexit.register(self.proc.kill)
            deadline = time.monotonic() + 10
            while True:  # until it listens (the bench driver polls, as it does servers)
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the OTLP sink did not start") from None
                    time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"


def motiad_env(source: Path | None) -> dict[str, str] | None:
    """The environment that runs motiad from ``source`` (``None``: the dev venv's)."""
    if source is None:
        return None
    paths = [str(source / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def read_backlog(db: Path) -> Backlog | None:
    """Deliveries created, pending by step and dead in a motiad SQLite database."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'").fetchone()
        pending = dict(
            conn.execute(
                "SELECT step, count(*) FROM deliveries WHERE status = 'pending' GROUP BY step"
            ).fetchall()
        )
        (dead,) = conn.execute("SELECT count(*) FROM deliveries WHERE status = 'dead'").fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return None
    finally:
        conn.close()
    return Backlog(int(row[0]) if row else 0, pending, int(dead))


MOTIA_CONFIG = """\
// Written by bench/: no workbench plugins. Without a motia.config.ts, Motia writes
// one that lists its five workbench plugins and runs `npm install` to add them.
export default { plugins: [] }
"""


class Motia(System):
    """Motia 0.17 (``motia start``, no workbench) on a copy of a project: the same step
    files; Redis is Motia's bundled redis-memory-server on Debian's ``redis-server``."""

    name = "motia-0.17"
    fresh = True
    """Motia 0.17 slows with every request it serves (see bench/README.md: its stream
    wrapper wraps the same object again on each use), so each measurement gets a fresh
    server; the ageing scenarios show the slowdown itself."""
    ready_deadline_s = 120.0
    stop_grace_s = 15.0

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        """``bench/.cache/motia``: ``node_modules`` (npm) and ``python_modules`` (its venv)."""
        self.description = (
            "npx motia start -p N -H 127.0.0.1 -v (motia@0.17.6-beta.187; "
            "MOTIA_DOCKER_DISABLE_WORKBENCH, no plugins)"
        )

    def prepare(self, workdir: Path, project: str) -> Path:
        """Copy the project, add a plugin-less ``motia.config.ts``, link the cached
        ``node_modules`` and ``python_modules``."""
        target = workdir / project
        _copy_project(project_dir(project), target)
        (target / "motia.config.ts").write_text(MOTIA_CONFIG, encoding="utf-8")
        for name in ("node_modules", "python_modules"):
            (target / name).symlink_to(self.cache / name, target_is_directory=True)
        return target

    def command(self, cwd: Path, port: int) -> list[str]:
        """``node .../motia/dist/cli.mjs start`` (what ``npx motia start`` runs)."""
        cli = self.cache / "node_modules" / "motia" / "dist" / "cli.mjs"
        node = shutil.which("node") or "node"
        return [node, str(cli), "start", "-p", str(port), "-H", "127.0.0.1", "-v"]

    def env(self) -> dict[str, str] | None:
        """No analytics, no workbench, Debian's ``redis-server`` for its bundled Redis."""
        return {**os.environ, **motia_env()}


def motia_env() -> dict[str, str]:
    """Variables Motia needs here (no network but the package registries)."""
    return {
        "MOTIA_ANALYTICS_DISABLED": "true",
        "MOTIA_DOCKER_DISABLE_WORKBENCH": "true",
        "REDISMS_SYSTEM_BINARY": shutil.which("redis-server") or "/usr/bin/redis-server",
        "REDISMS_DISABLE_POSTINSTALL": "1",
    }


def own_typescript_loader(source: Path | None) -> bool:
    """Whether the Node SDK of ``source`` (``None``: this checkout) loads TypeScript
    steps itself: a project then needs no tsx, as the quickstart has none, and the
    bench measures that default. Older revisions (``--rev``) need tsx."""
    return ((source or ROOT) / "sdk-node" / "src" / "typescript.mjs").is_file()


def snapshot(rev: str, cache: Path) -> Path:
    """``src/`` and the SDKs of git revision ``rev``, unpacked under ``cache``: measure a
    commit while others edit the working tree."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = cache / f"rev-{sha[:12]}"
    if not (target / "src").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        top = subprocess.run(
            ["git", "ls-tree", "--name-only", sha],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        sdks = [name for name in top if name.startswith("sdk-")]  # sdk-go came later
        archive = subprocess.run(
            ["git", "archive", sha, "src", *sdks],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def systems(cache: Path, motiad_source: Path | None = None) -> dict[str, System]:
    """The registry, by name; ``motiad_source``: a snapshot to run as motiad."""
    sink = OtlpSink()
    node_modules = None if own_typescript_loader(motiad_source) else cache / "tsx" / "node_modules"
    found: list[System] = [
        RawAsgi(),
        BareQuart(),
        Motiad(node_modules, motiad_source),
        MotiadWith(
            "motiad-no-metrics", "[metrics]\nenabled = false\n", node_modules, motiad_source
        ),
        MotiadWith(
            "motiad-otlp",
            '[telemetry]\notlp_endpoint = "{sink}"\n',
            node_modules,
            motiad_source,
            sink=sink,
        ),
        MotiadWith(
            "motiad-otlp-sampled",
            '[telemetry]\notlp_endpoint = "{sink}"\nsample_ratio = 0.1\n',
            node_modules,
            motiad_source,
            sink=sink,
        ),
        Motia(cache / "motia"),
        WsFloor(),
    ]
    return {system.name: system for system in found}
