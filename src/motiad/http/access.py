"""Who may use the server from where: one policy for the workbench, its JSON
API, the stream WebSocket and the CORS answers of API steps.

- **Host**: on a loopback bind with no token, only loopback host names (and
  ``[http] allowed_hosts``, a proxy's) are served (a DNS-rebinding page names
  its own host).
- **Origin**: pages of a loopback origin, of the server's own origin, and of
  the origins listed in ``[http] allowed_origins`` may use the workbench and the
  streams; a request with no Origin is not from a page in a browser.
- **Token**: the workbench's token, when there is one, is required by the
  workbench, and by the stream socket when the server is bound beyond loopback.
- **CORS** for API steps: Motia's answer (``*``) unless ``allowed_origins`` is
  set, then only the listed origins.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config import HttpSettings, Settings

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARD = "*"


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (names are case-insensitive)."""
    host = host.lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hostname(host: str) -> str:
    """``localhost`` of ``localhost:3000``, ``::1`` of ``[::1]:3000``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def workbench_token(host: str, configured: str | None) -> str | None:
    """The token the workbench requires: the configured one, else a fresh
    random one when bound beyond loopback, else none."""
    if configured:
        return configured
    return None if is_loopback(host) else secrets.token_urlsafe(18)


def bearer(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True, slots=True)
class Access:
    """The policy, made once from the settings and the workbench's token."""

    token: str | None
    """The workbench's token (configured, or random beyond loopback)."""
    exposed: bool
    """Bound beyond loopback: the stream socket needs the token too."""
    http: HttpSettings

    @classmethod
    def of(cls, settings: Settings, token: str | None) -> Access:
        """The policy of a server run with ``settings``."""
        return cls(token, not is_loopback(settings.host), settings.http)

    def host_allowed(self, host: str) -> bool:
        """Whether a workbench request naming ``host`` (its Host header) is
        served: any host once a token guards the door, else a local name."""
        return self.token is not None or self.exposed or self.local_name(host)

    def local_name(self, host: str) -> bool:
        """Whether ``host`` names this server on a loopback bind: a loopback
        name, or one listed in ``[http] allowed_hosts`` (a proxy's)."""
        name = hostname(host).lower().rstrip(".")
        return is_loopback(name) or name in self.http.allowed_hosts

    def origin_allowed(self, origin: str | None, host: str) -> bool:
        """Whether a page of ``origin`` may use the workbench or the streams of
        the server it reached as ``host``."""
        if origin is None:
            return True  # not a page in a browser: the token and Host rules apply
        listed = self.http.allowed_origins
        if WILDCARD in listed or origin.lower().rstrip("/") in listed:
            return True
        parts = urlsplit(origin)
        if not parts.hostname:
            return False  # "null" (a sandboxed frame, a file): no origin to trust
        return is_loopback(parts.hostname) or parts.netloc.lower() == host.lower()

    def stream_refusal(
        self, host: str, origin: str | None, supplied: str | None
    ) -> tuple[int, str] | None:
        """Why a stream WebSocket is refused (HTTP status, message), or ``None``.

        On loopback: a loopback Host (against DNS rebinding) and an allowed
        Origin. Beyond loopback: an allowed Origin and the token."""
        if not self.exposed and not self.local_name(host):
            return 403, (
                f"streams answer to localhost only, not {host!r} (a proxy's name"
                " goes in [http] allowed_hosts)"
            )
        if not self.origin_allowed(origin, host):
            return 403, (
                f"pages of {origin} may not read streams; list the origin in"
                " [http] allowed_origins of motiad.toml to allow it"
            )
        if self.exposed and (self.token is None or not self.token_matches(supplied)):
            return 401, (
                "streams need the token beyond loopback (the workbench's, or"
                " `workbench_token` in motiad.toml): ?token=TOKEN,"
                " `Authorization: Bearer TOKEN`, or the protocols ['Authorization', TOKEN]"
            )
        return None

    def token_matches(self, supplied: str | None) -> bool:
        """Whether ``supplied`` is the token (compared in constant time)."""
        if self.token is None:
            return True
        return supplied is not None and hmac.compare_digest(supplied.encode(), self.token.encode())

    def fixed_cors_headers(self, *, preflight: bool) -> list[tuple[bytes, bytes]] | None:
        """The CORS headers of every API response (``preflight``: of every
        ``OPTIONS`` answer) when they depend on nothing in the request (Motia's
        wildcard answer: no ``allowed_origins``, no credentials), so the hot
        path makes them once; ``None`` otherwise."""
        if self.http.allowed_origins or self.http.allow_credentials:
            return None
        return self.cors_headers(None, {}, preflight=preflight)

    def cors_headers(
        self, origin: str | None, request_headers: Mapping[str, str], *, preflight: bool
    ) -> list[tuple[bytes, bytes]]:
        """The CORS headers of an API step's response to a page of ``origin``.

        Unset ``allowed_origins``: what Motia 0.17 sends (``packages/core/src/
        server.ts``): any origin, method and header. Set: the request's origin
        when listed (nothing otherwise), with the methods, headers and
        credentials configured. The methods, headers and max-age go on
        ``preflight`` answers (``OPTIONS``) only: browsers read them nowhere
        else (Fetch standard, CORS-preflight fetch), and h11 validates each
        header of each response (issue 23: ~15k instructions a header); so
        does Motia's ``credentials: true`` beside ``*``."""
        http = self.http
        if not http.allowed_origins:
            allow_origin = WILDCARD
        elif origin is not None and origin.lower().rstrip("/") in http.allowed_origins:
            allow_origin = origin
        elif origin is not None and WILDCARD in http.allowed_origins:
            allow_origin = origin if http.allow_credentials else WILDCARD
        else:
            return []
        echo = http.allow_credentials  # "*" is no wildcard for a credentialed request
        methods = ", ".join(http.allowed_methods)
        if echo and methods == WILDCARD:
            methods = request_headers.get("access-control-request-method", methods)
        allowed_headers = ", ".join(http.allowed_headers)
        if echo and allowed_headers == WILDCARD:
            allowed_headers = request_headers.get("access-control-request-headers", "")
        headers = [(b"access-control-allow-origin", allow_origin.encode("latin-1"))]
        if preflight:
            headers.append((b"access-control-allow-methods", methods.encode("latin-1")))
            headers.append((b"access-control-max-age", b"%d" % http.cors_max_age_s))
            if allowed_headers:
                headers.append((b"access-control-allow-headers", allowed_headers.encode("latin-1")))
        # Motia's default preflight says `true` beside `*`; on an answer to the
        # request itself it is void (a browser refuses credentials with `*`)
        if http.allow_credentials or (preflight and not http.allowed_origins):
            headers.append((b"access-control-allow-credentials", b"true"))
        if allow_origin != WILDCARD:
            headers.append((b"vary", b"Origin"))
        return headers
