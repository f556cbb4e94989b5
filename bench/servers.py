"""A run's shared context, and the servers it starts: launch a system on a project,
wait until it answers, let it settle, sample its CPU around a measurement, stop it.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from . import procs
from .profile import analyse, ensure_py_spy, record
from .report import BUSY_NOTE_PCT, Row
from .systems import System

SETTLE_IDLE_PCT = 5.0
"""A server tree using less than this share of a core over half a second is idle."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each measurement lasts, how many rounds, and what else a run does."""

    quick: bool
    warmup_s: float
    measure_s: float
    rounds: int
    profile: bool
    ageing_windows: int
    """Back-to-back wrk windows of an ageing scenario (6 x 10 s = 60 s full)."""
    invoke_count: int
    """Round trips per invoke measurement (sequential, then pipelined)."""
    events_total: int
    """Events per durable-events measurement."""
    probes: int
    """Single events timed emit → handler start."""
    chain_budget_s: float
    """How long chain-1 sends orders one at a time (fewer when a system is slow)."""
    chain_max: int
    """At most this many orders in chain-1."""
    kill_after_s: float
    """Load before the broker is killed in kill-9."""
    quiet_s: float
    """Longest wait for others' work on the machine to calm down before a measurement;
    past it the measurement goes ahead and the report says how busy the machine was."""
    stream_changes: int
    """Changes per stream fan-out measurement (one set loop, 100 clients)."""
    drain_s: float
    """Longest wait for a system's background work (motiad's deliveries, Motia's queue
    and processes) after a load: it bounds a run when a queue falls far behind."""


@dataclass(slots=True)
class Server:
    """A started system."""

    system: System
    project: str
    proc: subprocess.Popen[bytes]
    cwd: Path
    base_url: str
    log: Path
    ready_s: float


@dataclass(slots=True)
class Run:
    """Everything a scenario runner needs: the plan, where results go, the systems,
    the long-lived servers (by system and project) and the failures so far."""

    plan: Plan
    out: Path
    registry: dict[str, System]
    wrk: str
    console: Console
    motiad_source: Path | None
    failures: list[str] = field(default_factory=list)
    servers: dict[tuple[str, str], Server] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What the report should say that is no failure of motiad or of the bench."""
    dead: set[tuple[str, str]] = field(default_factory=set)
    starts: int = 0
    """Servers started so far (names the logs of systems started afresh each time)."""
    """Servers that failed to start or died: reported once, skipped after."""
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def quiet(self) -> float:
        """Wait (bounded) for a quiet machine; the share of a core others used last."""
        return procs.wait_quiet(BUSY_NOTE_PCT, self.plan.quiet_s)

    def workdir(self, label: str) -> Path:
        """A temporary folder removed when the run ends."""
        folder = tempfile.TemporaryDirectory(prefix=f"motiad-bench-{label}-")
        return Path(self.cleanup.enter_context(folder))

    def server(self, system: str, project: str) -> Server | None:
        """The long-lived server of ``system`` for ``project``, started on first use;
        ``None`` (and a failure noted once) when it cannot run."""
        found = self.registry[system]
        key = (system, "*" if found.shared else project)
        if key in self.dead or found.unavailable:
            return None
        server = self.servers.get(key)
        if server is not None:
            if server.proc.poll() is None:
                return server
            self.failures.append(
                f"{system} ({project}) died with exit code {server.proc.returncode} "
                f"(log: {server.log})"
            )
            self.dead.add(key)
            return None
        try:
            cwd = found.prepare(self.workdir(f"{system}-{key[1]}"), project)
            self.starts += 1
            label = f"{system}-{key[1]}" + (f"-{self.starts}" if found.fresh else "")
            server = launch(found, project, cwd, self.out, label)
        except RuntimeError as exc:
            self.failures.append(f"{system} ({project}) did not start: {exc}")
            self.dead.add(key)
            return None
        self.console.print(
            f"{system} ({key[1]}): ready in {server.ready_s:.1f} s on {server.base_url}"
        )
        self.servers[key] = server
        return server

    @contextlib.contextmanager
    def using(self, system: str, project: str) -> Iterator[Server | None]:
        """:meth:`server` for one measurement; a system that must be fresh for each
        (Motia 0.17) is stopped after it, so the next one starts anew."""
        server = self.server(system, project)
        try:
            yield server
        finally:
            if server is not None and server.system.fresh:
                self._stop(server)
                self.servers = {
                    key: found for key, found in self.servers.items() if found is not server
                }

    def _stop(self, server: Server) -> None:
        """Settle and stop one server; an unclean exit of motiad is a failure, a peer's
        a note (Motia 0.17 exits 1 on SIGINT when a Redis call races its shutdown)."""
        if server.proc.poll() is not None:
            procs.stop(server.proc, server.system.stop_grace_s)
            return
        settle(server, self.plan.drain_s)
        code = procs.stop(server.proc, server.system.stop_grace_s)
        if code != 0:
            name = server.system.name
            message = f"{name} ({server.project}) stopped with exit code {code} (log: {server.log})"
            (self.failures if name.startswith("motiad") else self.notes).append(message)

    def stop_all(self) -> None:
        """Stop every long-lived server."""
        for server in self.servers.values():
            self._stop(server)
        self.servers.clear()


def launch(
    system: System,
    project: str,
    cwd: Path,
    out: Path,
    label: str,
    *,
    interval_s: float = 0.1,
    port: int | None = None,
) -> Server:
    """Start ``system`` in ``cwd`` (prepared) on ``port`` (default: a free one) and
    return once ``project``'s ready path answers 200; ``ready_s`` is the time from
    spawn. Raises ``RuntimeError``."""
    port = port or procs.free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = out / f"{label}.log"
    started = time.monotonic()
    proc = procs.start(system.command(cwd, port), cwd, log, system.env())
    try:
        ready_s = procs.wait_ready(
            proc,
            base_url + system.ready_path(project),
            system.ready_deadline_s,
            log,
            started=started,
            interval_s=interval_s,
        )
    except BaseException:
        procs.stop(proc, system.stop_grace_s)
        raise
    return Server(system, project, proc, cwd, base_url, log, ready_s)


def settle(server: Server, deadline_s: float) -> None:
    """Wait (up to ``deadline_s``) until the server's process tree is idle: leftover
    work from the last measurement (Motia's per-request processes still running after
    wrk stopped) must not be billed to the next."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        before = procs.tree_cpu(server.proc.pid)
        time.sleep(0.5)
        used = procs.tree_cpu_s(before, procs.tree_cpu(server.proc.pid))
        if 100 * used / 0.5 < SETTLE_IDLE_PCT:
            return


@dataclass(slots=True)
class Sample:
    """CPU readings around one measurement (see :func:`sampled`)."""

    pid: int
    busy_before: float
    seconds: float = 0.0
    tree_cpu_s: float = 0.0
    cpu_pct: dict[str, float] = field(default_factory=dict)


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def sampled(run: Run, pid: int) -> Iterator[Sample]:
    """Wait for a quiet machine, then read the CPU of ``pid``'s tree, of our waited-for
    children (wrk), of this process (the clients of the Python-driven scenarios) and
    of the whole machine before and after the block."""
    sample = Sample(pid, run.quiet())
    cpu_before = procs.tree_cpu(pid)
    machine_before = procs.machine_cpu_s()
    wrk_before, driver_before = _cpu_s(resource.RUSAGE_CHILDREN), _cpu_s(resource.RUSAGE_SELF)
    started = time.monotonic()
    yield sample
    sample.seconds = elapsed = time.monotonic() - started
    wrk = _cpu_s(resource.RUSAGE_CHILDREN) - wrk_before
    driver = _cpu_s(resource.RUSAGE_SELF) - driver_before
    machine_used = procs.machine_cpu_s() - machine_before
    cpu_after = procs.tree_cpu(pid)
    sample.cpu_pct = procs.cpu_share(cpu_before, cpu_after, pid, elapsed)
    sample.tree_cpu_s = procs.tree_cpu_s(cpu_before, cpu_after)
    for name, used in (("wrk", wrk), ("bench client", driver)):
        if 100 * used / elapsed >= 0.5:
            sample.cpu_pct[name] = round(100 * used / elapsed, 1)
    # Everything else on the machine (other sessions' tests, the kernel, py-spy): it
    # competes for the same cores.
    others = machine_used - sample.tree_cpu_s - wrk - driver
    sample.cpu_pct["others"] = round(max(0.0, 100 * others / elapsed), 1)


class Profiler:
    """py-spy on a process for the length of a block (``--profile``)."""

    def __init__(self, run: Run, pid: int, label: str, seconds: float) -> None:
        self.path = run.out / f"{label}.pyspy.txt"
        self._proc = record(ensure_py_spy(), pid, seconds, self.path) if run.plan.profile else None
        self._seconds = seconds

    def finish(self, row: Row, run: Run, *, early: bool = False) -> None:
        """Stop (``early``: SIGINT, py-spy then writes what it has) and attach the
        folded profile to ``row``."""
        if self._proc is None:
            return
        if early and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        _, errors = self._proc.communicate(timeout=self._seconds + 30)
        if self.path.exists() and self.path.stat().st_size:
            row.profile = analyse(self.path)
            row.profile_file = str(self.path.relative_to(run.out.parent.parent))
        else:
            run.failures.append(f"py-spy failed: {errors.decode(errors='replace').strip()}")
