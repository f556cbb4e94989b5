"""The systems under test: how to prepare, start and stop each server, and where it
answers. A scenario names the systems it runs against (``scenarios.py``).

To add one: subclass :class:`System`, add an instance to :data:`SYSTEMS`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository."""

PYTHON = sys.executable
"""The dev venv's interpreter (``bench/run`` runs us on it)."""


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
    ready_path: str = "/"
    """Polled until it answers (any status) before a scenario runs."""
    ready_deadline_s: float = 60.0
    """Longest start we wait for: motiad starts Node children through tsx."""
    stop_grace_s: float = 20.0
    """After SIGINT: motiad lets in-flight work finish (its shutdown grace is 10 s)."""

    def prepare(self, workdir: Path) -> Path:
        """Lay out what the server needs under ``workdir``; return its working folder."""
        return workdir

    def command(self, cwd: Path, port: int) -> list[str]:
        """argv that serves on 127.0.0.1:``port``."""
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        """The server's environment (``None``: ours)."""
        return None

    def backlog(self, cwd: Path) -> Backlog | None:
        """Queued background work, for systems that have some (``None``: none)."""
        return None


class BareQuart(System):
    """quart on hypercorn, one worker, the same JSON work: the floor of a Python HTTP layer."""

    name = "bare-quart"
    description = "quart + hypercorn, 1 worker, default config (bench/peers/bare_quart.py)"
    ready_path = "/health"
    stop_grace_s = 10.0

    def command(self, cwd: Path, port: int) -> list[str]:
        """``python -m bench.peers.bare_quart --port N`` from the repository root."""
        return [PYTHON, "-m", "bench.peers.bare_quart", "--port", str(port)]

    def prepare(self, workdir: Path) -> Path:
        """Runs from the repository root so ``bench.peers`` imports."""
        return ROOT


class Motiad(System):
    """``motiad run`` on a copy of an example project, with a fresh database."""

    ready_path = "/__motiad/health"

    def __init__(self, name: str, example: str, source: Path | None = None) -> None:
        self.name = name
        self.example = ROOT / "examples" / example
        self.source = source
        """A checkout (``src/``, ``sdk-*/``) to run instead of the dev venv's motiad."""
        self.description = f"motiad run examples/{example} --log-level warn (fresh .motiad/)"

    def prepare(self, workdir: Path) -> Path:
        """Copy ``steps/`` (and ``package.json``), link ``node_modules``; no ``.motiad/``."""
        project = workdir / self.example.name
        project.mkdir(parents=True)
        shutil.copytree(self.example / "steps", project / "steps")
        for name in ("package.json", "motiad.toml", ".env"):
            if (self.example / name).exists():
                shutil.copy2(self.example / name, project / name)
        modules = self.example / "node_modules"
        if not modules.is_dir():
            raise RuntimeError(f"{modules} is missing: run 'npm install' in {self.example}")
        (project / "node_modules").symlink_to(modules, target_is_directory=True)
        return project

    def command(self, cwd: Path, port: int) -> list[str]:
        """``motiad run PROJECT --port N --log-level warn`` (as ``python -m motiad``)."""
        return [PYTHON, "-m", "motiad", "run", str(cwd), "--port", str(port), "--log-level", "warn"]

    def env(self) -> dict[str, str] | None:
        """With a :attr:`source`, its ``src/`` comes first on the path (before the
        editable install); the SDKs are found beside it."""
        if self.source is None:
            return None
        paths = [str(self.source / "src"), os.environ.get("PYTHONPATH", "")]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}

    def backlog(self, cwd: Path) -> Backlog | None:
        """Read (read-only) the deliveries table of the project's SQLite database."""
        db = cwd / ".motiad" / "motiad.db"
        if not db.exists():
            return None
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'"
            ).fetchone()
            pending = dict(
                conn.execute(
                    "SELECT step, count(*) FROM deliveries WHERE status = 'pending' GROUP BY step"
                ).fetchall()
            )
            (dead,) = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status = 'dead'"
            ).fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            return None
        finally:
            conn.close()
        return Backlog(int(row[0]) if row else 0, pending, int(dead))


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
        archive = subprocess.run(
            ["git", "archive", sha, "src", "sdk-node", "sdk-python"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def systems(motiad_source: Path | None = None) -> dict[str, System]:
    """The registry, by name; ``motiad_source``: a snapshot to run as motiad."""
    return {
        system.name: system
        for system in (BareQuart(), Motiad("motiad", "quickstart", motiad_source))
    }
