"""Server processes: start in their own session, wait until they answer, stop the
whole tree, and read how much CPU each process of the tree used."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(
    argv: list[str], cwd: Path, log: Path, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (so its whole tree can be signalled), stdout
    and stderr to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    deadline_s: float,
    log: Path,
    *,
    started: float | None = None,
    interval_s: float = 0.1,
) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took (since
    ``started``, a ``time.monotonic()`` reading, if given).

    A benchmark may poll (tests may not): the server has no other way to tell us.
    Raises if the process exits or the deadline passes, with the log's tail.
    """
    started = time.monotonic() if started is None else started
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode} before it was ready:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return time.monotonic() - started
        except OSError:  # not listening yet, or an error status (a step still loading)
            pass
        if time.monotonic() - started > deadline_s:
            raise RuntimeError(f"server not ready at {url} after {deadline_s:g} s:\n{_tail(log)}")
        time.sleep(interval_s)


def stop(proc: subprocess.Popen[bytes], grace_s: float) -> int | None:
    """SIGINT the server (it stops its own children), wait up to ``grace_s``, then
    SIGKILL whatever is left of its process group. Returns its exit code
    (``None`` when it had to be killed)."""
    code: int | None = None
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(timeout=grace_s)
    else:
        code = proc.returncode
    # The session is ours alone (start_new_session): sweep stragglers of this tree only.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait(timeout=5)
    return code


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass(frozen=True, slots=True)
class ProcCpu:
    """CPU seconds (user + system) one process has used so far."""

    pid: int
    label: str
    cpu_s: float
    runq_s: float = 0.0
    """Seconds its main thread was ready to run but waited for a CPU (``schedstat``)."""
    thread_cpu_s: float = 0.0
    """CPU seconds of its main thread alone (motiad: the event loop)."""
    reaped_s: float = 0.0
    """CPU seconds of its children that exited and were waited for (``cutime`` +
    ``cstime``): Motia 0.17 starts a process per invocation, gone by the next reading."""


def _stat(pid: int, path: str = "/proc/{pid}/stat") -> tuple[int, float, float] | None:
    """(parent pid, CPU seconds, CPU seconds of waited-for children) from
    ``/proc/<pid>/stat`` (or a thread's stat)."""
    try:
        text = Path(path.format(pid=pid)).read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    own = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return int(fields[1]), own, (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS


def _label(pid: int) -> str:
    """``python -m motiad_sdk``, ``node runner.mjs``: the program and what it runs;
    ``motiad: node`` for a child that shows its title (SPEC ``lifecycle.title``)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "exiting"
    if argv[0].startswith(b"motiad: "):
        return " ".join(os.fsdecode(argv[0]).split(" ")[:2])
    # A program that rewrites its title (redis-server) has one argument with spaces.
    words = [Path(os.fsdecode(arg).split(" ")[0]).name for arg in argv if arg][:3]
    if len(words) > 2 and words[1] == "-m":
        return words[2]  # python -m motiad_sdk: the module says more than the interpreter
    return words[0] if words else "exiting"


def _family(root: int) -> dict[int, tuple[float, float]]:
    """``root`` and every descendant still alive: pid → (CPU s, reaped children's CPU s)."""
    parents: dict[int, int] = {}
    cpu: dict[int, tuple[float, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                parents[int(entry)] = stat[0]
                cpu[int(entry)] = stat[1], stat[2]
    family = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in family and pid not in family:
                family.add(pid)
                grew = True
    return {pid: cpu[pid] for pid in sorted(family) if pid in cpu}


def tree_cpu(root: int) -> list[ProcCpu]:
    """CPU used so far by ``root`` and every descendant still alive (with what their
    exited children used)."""
    return [
        ProcCpu(pid, _label(pid), own, _runq_s(pid), _thread_cpu_s(pid), reaped)
        for pid, (own, reaped) in _family(root).items()
    ]


def tree_rss_bytes(root: int) -> tuple[int, int]:
    """(resident set size summed over ``root`` and its descendants, how many processes):
    what a project costs in memory, shared pages counted once per process as ``ps`` does."""
    total = count = 0
    for pid in _family(root):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                count += 1
                break
    return total, count


def _thread_cpu_s(pid: int) -> float:
    stat = _stat(pid, "/proc/{pid}/task/{pid}/stat")
    return stat[1] if stat else 0.0


def _runq_s(pid: int) -> float:
    """Seconds the main thread of ``pid`` spent runnable but not running."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_share(
    before: list[ProcCpu], after: list[ProcCpu], root: int, seconds: float
) -> dict[str, float]:
    """Percent of one core each kind of process used between two readings: the root is
    ``main``; children are grouped by label (``node x3``); those under 0.5 % left out.
    ``main thread`` is the root's main thread alone (the event loop); ``main waiting``
    the share of the time it was ready to run but had no CPU (children and wrk had them)."""
    was = {proc.pid: proc.cpu_s for proc in before}
    was_reaped = {proc.pid: proc.reaped_s for proc in before}
    shares: dict[str, float] = {}
    groups: dict[str, list[float]] = {}
    reaped = sum(proc.reaped_s - was_reaped.get(proc.pid, 0.0) for proc in after)
    for proc in after:
        used = 100 * (proc.cpu_s - was.get(proc.pid, 0.0)) / seconds
        if proc.pid != root:
            groups.setdefault(proc.label, []).append(used)
            continue
        old = next((mine for mine in before if mine.pid == root), None)
        shares["main"] = round(used, 1)
        ran = proc.thread_cpu_s - (old.thread_cpu_s if old else 0.0)
        waited = proc.runq_s - (old.runq_s if old else 0.0)
        shares["main thread"] = round(100 * ran / seconds, 1)
        shares["main waiting"] = round(100 * waited / seconds, 1)
    for label, spent in groups.items():
        if sum(spent) >= 0.5:
            name = label if len(spent) == 1 else f"{label} x{len(spent)}"
            shares[name] = round(sum(spent), 1)
    if 100 * reaped / seconds >= 0.5:
        shares["exited children"] = round(100 * reaped / seconds, 1)
    return shares


def tree_cpu_s(before: list[ProcCpu], after: list[ProcCpu]) -> float:
    """CPU seconds a process tree used between two readings, with the children that
    exited in between (once their parent waited for them); the CPU a process that was
    alive at the first reading used before it exited is lost."""
    was = {proc.pid: proc.cpu_s + proc.reaped_s for proc in before}
    return sum(proc.cpu_s + proc.reaped_s - was.get(proc.pid, 0.0) for proc in after)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from ``/proc/stat``."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def wait_quiet(limit_pct: float, deadline_s: float) -> float:
    """Wait (up to ``deadline_s``) for a second in which the machine used less than
    ``limit_pct`` of a core; returns the last reading. The machine may be shared
    with test runs, and a benchmark next to one measures both."""
    if deadline_s <= 0:  # no waiting (--quick): just say how busy it is
        return machine_busy(0.3)
    started = time.monotonic()
    while True:
        busy = machine_busy(1.0)
        if busy < limit_pct or time.monotonic() - started > deadline_s:
            return busy


def machine_cpu_s() -> float:
    """CPU seconds the whole machine has been busy since boot (all cores)."""
    return _cpu_ticks()[0] / _CLOCK_TICKS


def machine_busy(seconds: float) -> float:
    """Percent of one core the whole machine used over ``seconds``: before a measured
    run, what others (tests, builds) take from the systems under test."""
    busy_before, _ = _cpu_ticks()
    time.sleep(seconds)
    busy_after, _ = _cpu_ticks()
    return round(100 * (busy_after - busy_before) / _CLOCK_TICKS / seconds, 1)
