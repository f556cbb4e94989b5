"""The workbench: a web page under the reserved prefix, the JSON endpoints
behind each of its views, and a live stream of logs and spans (SSE).

Everything here answers under ``/__motiad/``, which API steps may not use. On a
loopback address it is open to the machine (requests must name a loopback
host, against DNS rebinding); bound elsewhere, every request must carry the
token ``motiad run`` printed: ``Authorization: Bearer TOKEN``, ``?token=TOKEN``
or the cookie the page sets when opened with ``?token=``.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated, Any

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream
from quart import Quart, Response, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ..broker import Broker
from ..config import RESERVED_PATH_PREFIX
from ..errors import InvalidInput, MotiadError
from ..flows import build_graph
from ..listings import flow_steps, step_json
from ..storage import DeadLetterFilter, LogQuery, StreamChange, TraceQuery, dead_letter_json
from ..tracing import LogRecord, Span
from .access import Access, bearer
from .bodies import TooDeep, check_depth
from .framework import WorkbenchOptions

PREFIX = RESERVED_PATH_PREFIX
API = f"{PREFIX}/api"
TOKEN_COOKIE = "motiad_token"
LIVE_BUFFER = 1000
"""Live messages queued per browser; a client that falls further behind is cut
off (its page reconnects and re-reads the view) rather than slowing the broker."""
LIVE_HEARTBEAT_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
_ASSET_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_encode = msgspec.json.Encoder().encode
_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_TOKEN_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="color-scheme" content="light dark"><title>motiad workbench: token needed</title>
<body style="font: 15px/1.5 system-ui, sans-serif; max-width: 36em; margin: 15vh auto">
<h1 style="font-size: 20px">This workbench needs its token</h1><p>{message}</p></body></html>
"""


class LiveHub:
    """Fans log records, spans, stream changes and reloads out to the browsers
    following them. It is subscribed to their sources only while someone listens."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._clients: set[MemoryObjectSendStream[bytes]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self.closed = False

    def attach(self, client: MemoryObjectSendStream[bytes]) -> None:
        """Start sending to ``client``."""
        if not self._unsubscribe:
            self._unsubscribe = [
                self.broker.logs.subscribe(self._on_log),
                self.broker.spans.subscribe(self._on_span),
                self.broker.reloaded.subscribe(self._on_reload),
                self.broker.store.watch_streams(self._on_stream_change),
            ]
        self._clients.add(client)

    def detach(self, client: MemoryObjectSendStream[bytes]) -> None:
        """Stop sending to ``client``."""
        self._clients.discard(client)
        if not self._clients:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe = []

    def _on_log(self, record: LogRecord) -> None:
        self._send(b"log", _encode(record))

    def _on_span(self, span: Span) -> None:
        self._send(b"span", _encode(span))

    def _on_stream_change(self, change: StreamChange) -> None:
        # which item changed, not the item: the page re-reads the group it shows
        about = {"stream": change.stream, "groupId": change.group_id, "id": change.id}
        self._send(b"stream", _encode({**about, "type": change.type}))

    def _on_reload(self, relative: str) -> None:
        self._send(b"steps", _encode({"file": relative}))

    def _send(self, event: bytes, data: bytes) -> None:
        message = b"event: " + event + b"\ndata: " + data + b"\n\n"
        for client in list(self._clients):
            try:
                client.send_nowait(message)
            except anyio.WouldBlock:
                # too far behind: end its stream; the page reconnects and re-reads
                client.close()
                self._clients.discard(client)
            except anyio.BrokenResourceError:
                self._clients.discard(client)

    async def close_when(self, stop: anyio.Event) -> None:
        """End every live stream once ``stop`` is set (the server is stopping)."""
        await stop.wait()
        self.closed = True
        for client in list(self._clients):
            client.close()


def _assets() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once from the package: name → (content, type)."""
    root = resources.files("motiad.http") / "workbench"
    found: dict[str, tuple[bytes, str]] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            else:
                suffix = "." + entry.name.rsplit(".", 1)[-1]
                if suffix in _ASSET_TYPES:
                    found[prefix + entry.name] = (entry.read_bytes(), _ASSET_TYPES[suffix])

    walk(root, "")
    return found


def _json(payload: Any, status: int = 200) -> Response:
    return Response(_encode(payload), status=status, content_type="application/json")


def _problem(status: int, message: str, **extra: Any) -> Response:
    return _json({"error": message, **extra}, status)


def _args(struct: type[Any]) -> Any:
    """The query string as ``struct`` (camelCase names); raises InvalidInput."""
    try:
        return msgspec.convert(request.args.to_dict(), struct, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput("bad query string", [("query", str(exc))]) from None


async def _body(struct: type[Any]) -> Any:
    """The JSON request body as ``struct``; raises InvalidInput. A JSON content
    type is required, so that a plain form on another site cannot post here."""
    if request.mimetype != "application/json":
        raise InvalidInput("send JSON", [("content-type", "expected application/json")])
    body = await request.get_data(as_text=False, parse_form_data=False)
    assert isinstance(body, bytes)  # as_text=False
    try:
        check_depth(body)
        return msgspec.json.decode(body, type=struct)
    except (msgspec.ValidationError, msgspec.DecodeError, TooDeep) as exc:
        raise InvalidInput("bad request body", [("body", str(exc))]) from None
    except RecursionError:
        raise InvalidInput("bad request body", [("body", str(TooDeep()))]) from None


class _Emit(msgspec.Struct, rename="camel"):
    topic: str
    data: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))
    message_group_id: str | None = None


MAX_LETTER_ID = 2**63 - 1
"""Dead letter ids are 64-bit integers in storage; a larger one names none."""
LetterId = Annotated[int, msgspec.Meta(ge=1, le=MAX_LETTER_ID)]


class _Selection(msgspec.Struct):
    ids: list[LetterId] = []
    all: bool = False

    def filter(self) -> DeadLetterFilter:
        return DeadLetterFilter(ids=tuple(self.ids), all=self.all)


def register_workbench(
    app: Quart, broker: Broker, options: WorkbenchOptions, access: Access
) -> None:
    """Add the workbench's page, JSON endpoints and live stream to ``app``,
    guarded by ``access`` (its token, Host and Origin rules)."""
    assets = _assets()
    hub = LiveHub(broker)
    store = broker.store

    @app.before_serving
    async def follow_stop() -> None:
        app.add_background_task(hub.close_when, options.stop)

    @app.before_request
    async def guard() -> Response | WerkzeugResponse | None:
        if request.path == f"{PREFIX}/health":
            return None
        if not access.host_allowed(request.host):
            return _problem(
                403,
                f"the workbench answers to localhost only, not {request.host!r}"
                " (a proxy's name goes in [http] allowed_hosts)",
            )
        origin = request.headers.get("origin")
        if not access.origin_allowed(origin, request.host):
            return _problem(
                403,
                f"pages of {origin} may not use the workbench; list the origin in"
                " [http] allowed_origins of motiad.toml to allow it",
            )
        supplied = (
            bearer(request.headers.get("authorization", ""))
            or request.args.get("token")
            or request.cookies.get(TOKEN_COOKIE)
        )
        if not access.token_matches(supplied):
            message = (
                "this workbench needs its token: open the URL `motiad run` printed"
                f" ({PREFIX}/?token=…), or send `Authorization: Bearer TOKEN`"
            )
            if request.path.startswith(API) or not request.accept_mimetypes.accept_html:
                return _problem(401, message)
            page = _TOKEN_PAGE.replace("{message}", html.escape(message))
            return Response(page, status=401, content_type="text/html; charset=utf-8")
        token = access.token
        if (
            token is not None
            and request.method == "GET"
            and "token" in request.args
            and not request.path.startswith(API)
        ):
            # the page: keep the token in a cookie, out of the address bar and
            # history, sent to the workbench only (never to the API steps)
            response = redirect(request.path)
            response.set_cookie(TOKEN_COOKIE, token, path=PREFIX, httponly=True, samesite="Strict")
            return response
        return None

    @app.after_request
    async def harden(response: Response) -> Response:
        # the page loads only its own files, cannot be framed (its buttons emit
        # and redrive), and never sends its address (maybe a token) elsewhere
        response.headers.setdefault("content-security-policy", _CSP)
        response.headers.setdefault("x-frame-options", "DENY")
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "no-referrer")
        return response

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _problem(404, f"nothing at {request.path}")

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        return _problem(405, f"{request.method} is not allowed on {request.path}")

    @app.errorhandler(Exception)
    async def crashed(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):  # quart's own answers (400, 413, ...)
            return _problem(exc.code or 500, exc.description or exc.name)
        # JSON like every other answer here, and in the log, not an HTML page
        broker.logs.log("error", f"workbench {request.method} {request.path} failed: {exc!r}")
        return _problem(500, "Internal Server Error")

    @app.errorhandler(MotiadError)
    async def failed(exc: MotiadError) -> Response:
        if isinstance(exc, InvalidInput):
            issues = [{"path": path, "message": message} for path, message in exc.issues]
            return _problem(400, exc.message, issues=issues)
        return _problem(503, str(exc))

    # --- the page -----------------------------------------------------------

    @app.get(PREFIX)
    async def to_page() -> WerkzeugResponse:
        return redirect(f"{PREFIX}/")

    @app.get(f"{PREFIX}/")
    async def page() -> Response:
        return _asset("index.html")

    @app.get(f"{PREFIX}/assets/<path:name>")
    async def asset(name: str) -> Response:
        return _asset(name)

    def _asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            return _problem(404, f"no workbench file {name!r}")
        content, content_type = found
        response = Response(content, content_type=content_type)
        response.headers["cache-control"] = "no-cache"
        return response

    # --- JSON ---------------------------------------------------------------

    @app.get(f"{API}/flows")
    async def flows() -> Response:
        broken = broker.registry.broken_flow_steps()
        return _json(build_graph(flow_steps(broker.steps.values()), broken))

    @app.get(f"{API}/steps")
    async def steps_with_configs() -> Response:
        problems = [
            {"file": file, "line": record.line, "message": message}
            for file, record in sorted(broker.registry.broken.items())
            for message in record.messages
        ]
        return _json(
            {"steps": [step_json(step) for step in broker.steps.values()], "problems": problems}
        )

    @app.get(f"{API}/traces")
    async def traces() -> Response:
        query: TraceQuery = _args(TraceQuery)
        await store.flush_traces()
        return _json({"traces": await store.traces(query)})

    @app.get(f"{API}/traces/<trace_id>")
    async def trace(trace_id: str) -> Response:
        await store.flush_traces()
        found = await store.trace(trace_id)
        if found is None:
            return _problem(404, f"no trace {trace_id!r} (it may be older than the ones kept)")
        return _json(found)

    @app.get(f"{API}/logs")
    async def logs() -> Response:
        query: LogQuery = _args(LogQuery)
        await store.flush_traces()
        return _json({"logs": await store.logs(query)})

    @app.get(f"{API}/state")
    async def state_groups() -> Response:
        return _json({"groups": await store.state_groups()})

    @app.get(f"{API}/state/<group_id>")
    async def state_group(group_id: str) -> Response:
        items = await store.state_items(group_id)
        return _json(
            {"groupId": group_id, "items": [{"key": key, "value": value} for key, value in items]}
        )

    @app.get(f"{API}/dlq")
    async def dead_letters() -> Response:
        letters = await store.dead_letters(DeadLetterFilter(all=True))
        return _json({"deadLetters": [dead_letter_json(letter) for letter in letters]})

    @app.get(f"{API}/dlq/<int:letter_id>")
    async def dead_letter(letter_id: int) -> Response:
        if letter_id > MAX_LETTER_ID:
            raise InvalidInput("bad dead letter id", [("id", f"at most {MAX_LETTER_ID}")])
        letters = await store.dead_letters(DeadLetterFilter(ids=(letter_id,)))
        if not letters:
            return _problem(404, f"no dead letter {letter_id}")
        return _json(dead_letter_json(letters[0]))

    @app.post(f"{API}/dlq/redrive")
    async def redrive() -> Response:
        selection: _Selection = await _body(_Selection)
        return _json({"redriven": await store.redrive(selection.filter())})

    @app.post(f"{API}/dlq/purge")
    async def purge() -> Response:
        selection: _Selection = await _body(_Selection)
        return _json({"purged": await store.purge(selection.filter())})

    @app.post(f"{API}/emit")
    async def emit() -> Response:
        params: _Emit = await _body(_Emit)
        event = await broker.emit_event(params.topic, params.data, params.message_group_id)
        return _json({"eventId": event.id, "traceId": event.trace_id})

    @app.get(f"{API}/live")
    async def live() -> Response:
        send, receive = anyio.create_memory_object_stream[bytes](LIVE_BUFFER)

        async def events() -> AsyncIterator[bytes]:
            with send, receive:
                if hub.closed:
                    return
                hub.attach(send)
                try:
                    yield b"retry: 1000\nevent: hello\ndata: {}\n\n"
                    while True:
                        message = b": still here\n\n"
                        # never yield inside the scope: its deadline must not
                        # fire while the server is busy sending
                        with anyio.move_on_after(LIVE_HEARTBEAT_S):
                            try:
                                message = await receive.receive()
                            except anyio.EndOfStream:
                                return
                        yield message
                finally:
                    hub.detach(send)

        response = Response(events(), content_type="text/event-stream")
        response.headers["cache-control"] = "no-cache"
        response.timeout = None
        return response
