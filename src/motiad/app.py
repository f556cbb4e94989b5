"""The composition root: settings, storage, broker and HTTP in one task group,
with orderly shutdown on SIGINT/SIGTERM (ARCHITECTURE §2)."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
from anyio.abc import TaskGroup, TaskStatus

from .broker import Broker
from .config import Settings, load_settings
from .discovery import step_folders
from .errors import MotiadError, first_motiad_error
from .loader import LoadReport
from .metrics import ChildGauge, Metrics, Sources
from .motia_config import unused_parts
from .readiness import Readiness
from .storage import QueueStats, open_store
from .telemetry import otlp_endpoint
from .tracing import LogBus


@dataclass(frozen=True, slots=True)
class Started:
    """What :func:`run_project` tells its caller once it serves."""

    report: LoadReport
    url: str
    workbench_url: str | None = None
    """The workbench's address (with its token when it needs one), if served."""


def lock_path(project: Path, settings: Settings) -> Path:
    """The lock a running broker holds on its storage: beside the database
    file itself, whatever symlinks the configured path goes through (two paths
    to one database are one broker's)."""
    return settings.sqlite_path(project).resolve().with_suffix(".lock")


def broker_is_running(project: Path) -> bool:
    """True when a ``motiad run`` holds the project's lock now. With Redis
    storage, brokers on any machine may serve the project: assumed True."""
    settings = load_settings(project)
    if settings.uses_redis:
        return True
    path = lock_path(project, settings)
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextmanager
def project_lock(path: Path) -> Iterator[None]:
    """One broker per SQLite file: its schedule of deliveries lives in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MotiadError(
                f"another motiad is already running on this project (lock: {path})"
            ) from None
        yield


async def run_project(
    project: Path,
    settings: Settings,
    logs: LogBus,
    on_started: Callable[[Started], None],
    *,
    stop: anyio.Event | None = None,
    alongside: Alongside | None = None,
    dev: bool = False,
    allow_broken: bool = False,
) -> None:
    """Run the project (an absolute path) until SIGINT/SIGTERM (or ``stop``), then
    shut down in order:
    stop accepting HTTP → let in-flight work finish (bounded) → stop children.

    ``alongside`` runs next to the broker until the stop (``motiad dev``'s file
    watcher): the load waits until it reports started, and it gets an event
    set once the broker serves. ``dev`` turns on the checks that only help during development.

    A step that fails to load stops ``run`` before it serves (:class:`BrokenSteps`,
    listing every error) unless ``allow_broken``; ``dev`` serves the rest and
    shows the errors (the workbench too), as the file is being worked on."""
    stop = stop or anyio.Event()
    # not a project: say so before anything is written into the folder
    step_folders(project, settings.project.step_dirs)
    # one broker per SQLite file; with Redis several brokers are the point
    lock: contextlib.AbstractContextManager[None] = (
        contextlib.nullcontext()
        if settings.uses_redis
        else project_lock(lock_path(project, settings))
    )
    with lock:
        readiness = Readiness()

        def storage_health(level: Literal["info", "error"], text: str) -> None:
            logs.log(level, text)
            readiness.storage_health(level, text)

        store = open_store(settings, project, health=storage_health)
        stop_recording_logs = logs.subscribe(store.record_log)
        forced = anyio.Event()
        grace = anyio.CancelScope()
        broker: Broker | None = None

        def stopping() -> None:
            # said at once, from the signal: a long request must not hide it
            running = "nothing yet" if broker is None else str(broker.in_flight())
            logs.log("info", f"stopping: finishing {running}; Ctrl-C again to stop now")

        def stop_now() -> None:
            logs.log(
                "warn",
                "stopping now: what was in flight is cut short"
                " (events are delivered again at the next start)",
            )
            forced.set()
            grace.cancel()
            if broker is not None:
                # the children go at once: their requests fail (503), so the
                # HTTP server's wait for them ends too, and the process exits
                tg.start_soon(partial(broker.stop, now=True))

        async with anyio.create_task_group() as tg:
            tg.start_soon(_wait_for_signals, stop, stopping, stop_now)
            await tg.start(store.serve)
            broker = Broker(project, settings, store, logs, dev=dev)
            broker.spans.subscribe(store.record_span)
            metrics = watch_metrics(broker) if settings.metrics.enabled else None
            if otlp_endpoint(settings) is not None:
                await tg.start(_export_telemetry, settings, broker, metrics)
            warn_about_motia_config(project, logs)
            serving, beside = anyio.Event(), anyio.CancelScope()
            http_stop, http_stopped = anyio.Event(), anyio.Event()
            async with anyio.create_task_group() as children:
                async with anyio.create_task_group() as starting:
                    # the probes answer (not ready) while the steps load
                    listening: list[_Listening] = []
                    starting.start_soon(
                        _serve_early,
                        broker,
                        settings,
                        (readiness, metrics),
                        (http_stop, http_stopped),
                        tg,
                        listening.append,
                    )
                    if alongside is not None:  # ready before the load looks at any file
                        await tg.start(_beside, alongside, broker, serving, beside)
                    report = await broker.load(children)
                if report.errors and not (dev or allow_broken):
                    await broker.stop(now=True)
                    http_stop.set()  # an orderly close: the server's own tasks end first
                    await http_stopped.wait()
                    raise BrokenSteps(report.errors)
                await broker.serve(children)
                readiness.serving(
                    load_failed=lambda: bool(broker.registry.broken),
                    children_up=lambda: all(c.pid is not None for c in _children(broker)),
                )
                # what start-up built lives as long as the process: kept out of
                # the collector's sight, a full pass walks only what serving made
                gc.freeze()
                on_started(Started(report, listening[0].url, listening[0].workbench_url))
                serving.set()
                await stop.wait()
                # a load balancer sees "not ready" first, then the listener closes
                readiness.draining()
                with anyio.move_on_after(settings.shutdown_delay_s):
                    await forced.wait()
                http_stop.set()
                await http_stopped.wait()
                beside.cancel()
                with grace:
                    await broker.drain(settings.shutdown_grace_s)
                await broker.stop(now=forced.is_set())
                children.cancel_scope.cancel()
            # the last spans and logs of the run; bounded, as storage may be stuck
            with anyio.move_on_after(5, shield=True), contextlib.suppress(MotiadError):
                await store.flush_traces()
            tg.cancel_scope.cancel()
        stop_recording_logs()
    logs.log("info", "stopped")


@dataclass(frozen=True, slots=True)
class _Listening:
    """Where the server listens."""

    url: str
    workbench_url: str | None


async def _serve_early(
    broker: Broker,
    settings: Settings,
    probed: tuple[Readiness, Metrics | None],
    stop_and_stopped: tuple[anyio.Event, anyio.Event],
    owner: TaskGroup,
    listening: Callable[[_Listening], None],
) -> None:
    """Import the HTTP layer (quart, hypercorn: over a third of the broker's own
    start-up) in a worker thread while the children start, then serve in
    ``owner`` until ``stop`` (``stopped`` is set then); says where once the port
    listens."""
    stop, stopped = stop_and_stopped
    readiness, metrics = probed
    await anyio.to_thread.run_sync(_import_http)
    from .http import WorkbenchOptions, build_app, workbench_token
    from .http.server import bind_socket

    sock = bind_socket(settings.host, settings.port, reuse_port=settings.http.reuse_port)
    host, port = sock.getsockname()[:2]
    url = f"http://{_display_host(host)}:{port}"
    workbench, workbench_url = None, None
    token = workbench_token(settings.host, settings.workbench_token)
    if settings.workbench:
        workbench = WorkbenchOptions(token, stop)
        workbench_url = f"{url}/__motiad/" + (f"?token={token}" if token else "")
    app = build_app(broker, workbench, stop, readiness, metrics)
    await owner.start(_serve_until, app, sock, stop, settings, stopped)
    listening(_Listening(url, workbench_url))


class BrokenSteps(MotiadError):
    """``motiad run`` refuses to serve a project with steps that do not load."""

    def __init__(self, errors: list[MotiadError]) -> None:
        self.errors = errors
        listed = "\n".join(f"  {error}" for error in errors)
        super().__init__(
            f"{len(errors)} problem{'' if len(errors) == 1 else 's'} in the step files:\n"
            f"{listed}\nfix {'it' if len(errors) == 1 else 'them'}, or serve the other steps"
            " with --allow-broken (motiad dev serves them and shows the errors)"
        )


class Alongside(Protocol):
    """Work that runs beside the broker (``motiad dev``'s watcher)."""

    def __call__(
        self, broker: Broker, serving: anyio.Event, *, task_status: TaskStatus[None]
    ) -> Awaitable[None]:
        """Run until cancelled; report started once ready (before the broker
        loads); ``serving`` is set once the broker serves."""
        ...


async def _beside(
    work: Alongside,
    broker: Broker,
    serving: anyio.Event,
    scope: anyio.CancelScope,
    *,
    task_status: TaskStatus[None],
) -> None:
    """Run ``work`` inside ``scope``, which its owner cancels to stop it."""
    with scope:
        await work(broker, serving, task_status=task_status)


def _import_http() -> None:
    import motiad.http  # noqa: F401


async def _serve_until(
    app: Any,
    sock: Any,
    stop: anyio.Event,
    settings: Settings,
    stopped: anyio.Event,
    *,
    task_status: anyio.abc.TaskStatus[None],
) -> None:
    """Serve HTTP until ``stop``, then let requests in flight finish (bounded)."""
    from .http import serve_http

    try:
        await serve_http(
            app,
            sock,
            shutdown=stop,
            graceful_timeout_s=settings.shutdown_grace_s,
            task_status=task_status,
        )
    finally:
        stopped.set()


async def _wait_for_signals(
    stop: anyio.Event, stopping: Callable[[], None], stop_now: Callable[[], None]
) -> None:
    """First SIGINT/SIGTERM: say what the stop waits for, and stop in order. A
    second one: stop now."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                stop_now()
                return
            stopping()
            stop.set()


def watch_metrics(broker: Broker) -> Metrics:
    """The broker's metrics, subscribed to its buses for as long as it runs."""
    sources = Sources(
        children=partial(_children, broker),
        queues=partial(_queues, broker),
        body_streams=broker.body_streams,
    )
    metrics = Metrics(sources)
    broker.spans.subscribe(metrics.on_span)
    broker.signals.requests.subscribe(
        lambda r: metrics.on_request(r.step, r.method, r.status, r.ended_at - r.started_at)
    )
    broker.signals.emits.subscribe(lambda emit: metrics.on_emit(emit.topic))
    broker.signals.dead_letters.subscribe(lambda note: metrics.on_dead_letter(note.step))
    return metrics


async def _export_telemetry(
    settings: Settings,
    broker: Broker,
    metrics: Metrics | None,
    *,
    task_status: TaskStatus[None],
) -> None:
    """Send spans and log records to the OTLP collector until cancelled."""
    from .telemetry import OtlpExport

    dropped = metrics.on_telemetry_dropped if metrics is not None else (lambda _s, _n: None)
    export = OtlpExport(settings, broker.logs, dropped, os.environ)
    unsubscribe = [
        broker.spans.subscribe(export.on_span),
        broker.signals.requests.subscribe(export.on_span),
        broker.signals.emits.subscribe(export.on_span),
        broker.logs.subscribe(export.on_log),
    ]
    try:
        await export.serve(task_status=task_status)
    finally:
        for undo in unsubscribe:
            undo()


async def _queues(broker: Broker) -> dict[str, QueueStats]:
    """Every event step's queue (an empty one too: its series stays, at 0)."""
    stats = await broker.store.queue_stats()
    empty = QueueStats(0, time.time())
    return {
        step.name: stats.get(step.name, empty)
        for step in broker.steps.values()
        if step.type == "event"
    }


def _children(broker: Broker) -> list[ChildGauge]:
    children = {id(c): c for step in broker.steps.values() for c in step.pool.children}
    return [ChildGauge(c.name, c.pid, c.restarts) for c in children.values()]


def warn_about_motia_config(project: Path, logs: LogBus) -> None:
    """A warning for each part of the project's ``motia.config.ts`` that motiad
    does not use, saying what it does instead (read, never run)."""
    for line in unused_parts(project):
        logs.log("warn", line)


def _display_host(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "::1") else host


async def load_project(project: Path, settings: Settings, logs: LogBus) -> LoadReport:
    """Start every step's child just long enough to read its config (``motiad steps``).
    A project that cannot load at all raises its :class:`MotiadError`."""
    store = open_store(settings, project)  # not opened: loading needs no storage
    broker = Broker(project, settings, store, logs)
    warn_about_motia_config(project, logs)
    try:
        async with anyio.create_task_group() as children:
            report = await broker.load(children)
            await broker.stop()
            children.cancel_scope.cancel()
    except BaseExceptionGroup as group:  # the task group wraps even its own body's error
        found = first_motiad_error(group)
        if found is None:
            raise
        raise found from None
    return report
