"""The ASGI app (API routes + the quart app under the reserved prefix) and
hypercorn serving it on a socket we bind ourselves, so the caller knows the
port is open (and which one, with ``--port 0``) before it says so."""

from __future__ import annotations

import socket
from typing import Any

import anyio
from anyio.abc import TaskStatus
from hypercorn.asyncio import serve
from hypercorn.config import Config

from ..broker import Broker
from ..config import RESERVED_PATH_PREFIX
from ..errors import MotiadError
from ..metrics import Metrics
from ..readiness import Readiness
from .access import Access, workbench_token
from .api import ApiHandler, Receive, Scope, Send
from .framework import LazyFramework, WorkbenchOptions
from .observed import Observed
from .probes import Probes, send_starting
from .stream_socket import StreamHub

RESERVED_PREFIX = RESERVED_PATH_PREFIX


def build_app(
    broker: Broker,
    workbench: WorkbenchOptions | None = None,
    stopping: anyio.Event | None = None,
    readiness: Readiness | None = None,
    metrics: Metrics | None = None,
) -> Any:
    """The ASGI app: the probes (health, ready, and the ``metrics`` page when
    given), API steps, Motia's stream WebSocket at ``/``, lifespan, and the
    quart app (built at its first request) for the reserved prefix (with the
    workbench unless ``workbench`` is ``None``) and anything else.
    ``stopping``: set when serving stops (stream WebSockets are closed then).
    Until ``readiness`` says the broker serves, API requests get a 503."""
    settings = broker.settings
    token = (
        workbench.token
        if workbench is not None
        else workbench_token(settings.host, settings.workbench_token)
    )
    access = Access.of(settings, token)
    readiness = readiness or Readiness("serving")
    probes = Probes(readiness, access, metrics, settings.metrics.path)
    api = Observed(ApiHandler(broker, access), broker.signals.requests)
    framework = LazyFramework(lambda quart_app: quart_app.build_quart(broker, access, workbench))
    streams = StreamHub(broker, access, stopping=stopping)
    if metrics is not None:
        metrics.sources.streams = streams.counts

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and probes.handles(scope["path"]):
            await probes(scope, receive, send)
        elif scope["type"] == "http" and not scope["path"].startswith(RESERVED_PREFIX):
            if readiness.phase == "starting":
                await send_starting(send)
            else:
                await api(scope, receive, send)
        elif scope["type"] == "websocket" and not scope["path"].startswith(RESERVED_PREFIX):
            await streams(scope, receive, send)  # Motia's stream clients
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send, framework)
        else:
            await framework(scope, receive, send)

    return app


async def _lifespan(receive: Receive, send: Send, framework: LazyFramework) -> None:
    """ASGI lifespan: nothing to start (the quart app starts with its first
    request); at shutdown, the quart app stops if it ever started."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await framework.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket; a clear error when the port is taken. ``reuse_port``:
    other processes may listen on the same port (``[http] reuse_port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise MotiadError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pass another --port"
        ) from None
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def serve_http(
    app: Any,
    sock: socket.socket,
    *,
    shutdown: anyio.Event,
    graceful_timeout_s: float,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` until ``shutdown`` is set; in-flight requests
    get ``graceful_timeout_s`` to finish."""
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket now
    config.graceful_timeout = graceful_timeout_s
    config.accesslog = None
    config.errorlog = None
    # no `server: hypercorn-h11` on every response: Motia's Express names no
    # server either, and h11 validates each header of each response (issue 23)
    config.include_server_header = False
    task_status.started()
    await serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi")
