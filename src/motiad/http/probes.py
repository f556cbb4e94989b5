"""What a load balancer and Prometheus ask: ``/__motiad/health`` (alive),
``/__motiad/ready`` (send traffic?) and the metrics page.

Answered by a plain ASGI handler ahead of the framework: probes come every few
seconds from every balancer, and must answer while the rest of the server is
starting or stopping. Health and ready need no token and say nothing but
their verdict; the metrics page is guarded as the workbench is (a loopback
Host on a loopback bind, the token beyond)."""

from __future__ import annotations

from urllib.parse import parse_qs

import msgspec

from ..config import RESERVED_PATH_PREFIX
from ..metrics import Metrics
from ..readiness import Readiness
from .access import Access, bearer
from .api import Receive, Scope, Send

HEALTH_PATH = f"{RESERVED_PATH_PREFIX}/health"
READY_PATH = f"{RESERVED_PATH_PREFIX}/ready"

_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_encode = msgspec.json.Encoder().encode


class Probes:
    """ASGI handler of the probe paths (:meth:`handles` says which)."""

    def __init__(
        self,
        readiness: Readiness,
        access: Access,
        metrics: Metrics | None = None,
        metrics_path: str = "",
    ) -> None:
        self.readiness = readiness
        self.access = access
        """The workbench's policy, which guards the metrics page too."""
        self.metrics = metrics
        self.metrics_path = metrics_path if metrics is not None else None

    def handles(self, path: str) -> bool:
        """Whether ``path`` is one of the probes."""
        return path in (HEALTH_PATH, READY_PATH) or path == self.metrics_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a probe (GET or HEAD; other methods get a 405)."""
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, _encode({"error": "use GET"}), [(b"allow", b"GET, HEAD")])
            return
        path = scope["path"]
        if path == HEALTH_PATH:
            await _send(send, 200, b'{"status":"ok"}')
        elif path == READY_PATH:
            reason = self.readiness.reason()
            if reason is None:
                await _send(send, 200, b'{"status":"ready"}')
            else:
                await _send(send, 503, _encode({"status": "not ready", "reason": reason}))
        else:
            await self._send_metrics(scope, send)

    async def _send_metrics(self, scope: Scope, send: Send) -> None:
        assert self.metrics is not None
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, message = refusal
            await _send(send, status, _encode({"error": message}))
            return
        body, content_type = await self.metrics.render(headers.get("accept", ""))
        await _send(send, 200, body, content_type=content_type.encode())

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """Why the metrics page is refused to this request, or ``None``: as the
        workbench, a local Host on a loopback bind, the token beyond or when set."""
        host = headers.get("host", "")
        if not self.access.host_allowed(host):
            return 403, (
                f"metrics answer to localhost only, not {host!r} (a proxy's name goes in"
                " [http] allowed_hosts)"
            )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        supplied = bearer(headers.get("authorization", "")) or query.get("token", [None])[0]
        if not self.access.token_matches(supplied):
            return 401, "metrics need the workbench's token: `Authorization: Bearer TOKEN`"
        return None


async def send_starting(send: Send) -> None:
    """What an API request gets before the steps have loaded."""
    body = _encode({"error": "motiad is starting; try again shortly"})
    await _send(send, 503, body, [(b"retry-after", b"1")])


async def _send(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    content_type: bytes = _JSON[1],
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", b"%d" % len(body)),
        _NO_STORE,
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})  # hypercorn drops it for HEAD
