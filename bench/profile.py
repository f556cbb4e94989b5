"""Where a Python server's time goes under load: py-spy samples its threads during
the measured run; we fold the samples into the top functions per thread.

py-spy lives in its own venv under ``bench/.cache/`` (installed on first use).
"""

from __future__ import annotations

import subprocess
import venv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
TOOLS = CACHE / "tools"

RATE_HZ = 200
"""Samples per second and thread: 2000 per thread in a 10 s run, enough for 0.1 %."""

_IDLE_LEAVES = (
    "select (selectors.py",  # the event loop waiting for I/O
    "Condition.wait (threading.py",  # a worker thread waiting for work
    "_do_waitpid (asyncio/unix_events.py",  # asyncio's child watcher threads
)


def ensure_py_spy() -> Path:
    """``bench/.cache/tools/bin/py-spy``, installed with pip on first use."""
    exe = TOOLS / "bin" / "py-spy"
    if not exe.exists():
        print("bench: installing py-spy into bench/.cache/tools")
        venv.create(TOOLS, with_pip=True, clear=True)
        pip = [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "-q", "py-spy"]
        subprocess.run(pip, check=True)
    return exe


def record(py_spy: Path, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` (idle samples kept, one stack per thread)
    into ``out`` in collapsed-stack form; wait on the returned process.

    ``--nonblocking``: py-spy reads the stacks without stopping the process. Stopping
    it 200 times a second halved motiad's requests/s on a 2-core machine and inflated
    the share of syscalls (the thread is stopped inside them); without stopping, the
    server keeps ~90 % of its unprofiled rate, at the price of a rare torn stack.
    """
    argv = [
        str(py_spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(RATE_HZ),
        "--format",
        "raw",
        "--idle",
        "--nonblocking",
        "--threads",
        "--output",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@dataclass(slots=True)
class ThreadProfile:
    """One thread's samples: how many, how many idle, and per function the samples
    where it was running (self) or anywhere on the stack (inclusive)."""

    name: str
    samples: int = 0
    idle: int = 0
    self_samples: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    packages: Counter[str] = field(default_factory=Counter)
    """Self samples by where the running function lives: the top-level package
    (``asyncio``, ``hypercorn``…) or, for motiad, its module (``motiad/rpc.py``)."""

    @property
    def busy_pct(self) -> float:
        """Share of samples where the thread was not waiting."""
        return 100 * (self.samples - self.idle) / self.samples if self.samples else 0.0

    def top_self(self, count: int) -> list[tuple[str, float]]:
        """Functions that were running, as percent of all this thread's samples (wall time)."""
        return [(name, self._pct(n)) for name, n in self.self_samples.most_common(count)]

    def top_inclusive(self, count: int) -> list[tuple[str, float]]:
        """Functions on the stack (below the event loop's callback runner), as percent of
        wall time; frames on nearly every busy stack (a thread's bootstrap) are left out."""
        busy = self.samples - self.idle
        inner = [(name, n) for name, n in self.inclusive.most_common() if n < 0.97 * busy]
        return [(name, self._pct(n)) for name, n in inner[:count]]

    def top_packages(self, count: int) -> list[tuple[str, float]]:
        """Packages (motiad: modules) by the time their own code ran, percent of wall time."""
        return [(name, self._pct(n)) for name, n in self.packages.most_common(count)]

    def _pct(self, samples: int) -> float:
        return round(100 * samples / self.samples, 1) if self.samples else 0.0


def _function(frame: str) -> str:
    """``Handle._run (asyncio/events.py:80)`` → ``Handle._run (asyncio/events.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})" if where else name


def _package(frame: str) -> str:
    """``Handle._run (asyncio/events.py:80)`` → ``asyncio``; motiad keeps its module."""
    where = frame.partition(" (")[2].rsplit(":", 1)[0]
    parts = where.split("/")
    if parts[0] == "motiad":
        return where
    if len(parts) == 1:  # a module of the standard library's top level: threading.py
        return parts[0].removesuffix(".py")
    return parts[0]


_CALLBACK = "Handle._run (asyncio/events.py"


def _callback_frames(frames: list[str]) -> list[str]:
    """The frames below the event loop's callback runner: the work of a task step or
    a callback. The loop's outer frames (cli, anyio.run, run_forever…) are dropped,
    since with ``--nonblocking`` some samples lose them and their share means nothing."""
    for index in range(len(frames) - 1, -1, -1):
        if frames[index].startswith(_CALLBACK):
            return frames[index + 1 :]
    return frames


def _process_label(frame: str) -> str:
    """``process 12:"python -m motiad_sdk"`` → ``motiad_sdk`` (pid when unnamed)."""
    head, _, command = frame.partition(":")
    words = command.strip('"').split()
    if len(words) > 2 and words[1] == "-m":
        return words[2]
    return Path(words[0]).name if words else head.removeprefix("process ")


def analyse(collapsed: Path) -> list[ThreadProfile]:
    """Fold py-spy's collapsed stacks, busiest thread first; idle threads left out."""
    threads: dict[str, ThreadProfile] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        process = ""
        while frames and frames[0].startswith("process "):  # py-spy --subprocesses
            process = _process_label(frames.pop(0))
        if not frames:
            continue
        key = frames[0] if frames[0].startswith("thread ") else "thread (?): ?"
        frames = frames[1:] if frames[0].startswith("thread ") else frames
        name = key.split(": ", 1)[-1]
        thread = threads.setdefault(
            process + key, ThreadProfile(f"{process}: {name}" if process else name)
        )
        thread.samples += count
        if not frames or any(marker in frames[-1] for marker in _IDLE_LEAVES):
            thread.idle += count
            continue
        thread.self_samples[_function(frames[-1])] += count
        thread.packages[_package(frames[-1])] += count
        for function in {_function(frame) for frame in _callback_frames(frames)}:
            thread.inclusive[function] += count
    busy = [thread for thread in threads.values() if thread.idle < thread.samples]
    return sorted(busy, key=lambda thread: thread.samples - thread.idle, reverse=True)
