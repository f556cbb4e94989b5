"""The HTTP edge as Motia 0.17 has it (Express 4 with body-parser 1.x, its API
router in ``packages/core/src/server.ts``), against a real ``motiad run`` with
TypeScript and Python steps: how request bodies reach handlers, how responses
go out, CORS, and what hostile input gets back."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from motiad.config import load_settings
from motiad.errors import ConfigError
from motiad.http.server import serve_http

from .harness import FIXTURES, MotiadProcess, make_project, motiad
from .wsclient import HandshakeRefused, connect

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running(tmp_path: Path, toml: str = "", *args: str) -> AsyncIterator[MotiadProcess]:
    """``motiad run ARGS`` of the ``http_edge`` fixture (``toml``: its motiad.toml)."""
    project = make_project(tmp_path / "p", FIXTURES / "http_edge")
    if toml:
        (project / "motiad.toml").write_text(toml)
    async with motiad("run", str(project), "--port", "0", *args) as broker:
        yield broker


@asynccontextmanager
async def serving(tmp_path: Path, toml: str = "") -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of :func:`running`."""
    async with running(tmp_path, toml) as broker, httpx.AsyncClient(base_url=broker.url) as http:
        yield http


async def echo(http: httpx.AsyncClient, path: str, **request: object) -> dict[str, object]:
    answer = await http.post(path, **request)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    found: dict[str, object] = answer.json()
    return found


async def test_request_bodies_reach_handlers_as_express_parses_them(tmp_path: Path) -> None:
    """Motia 0.17 installs bodyParser.json, .urlencoded and .text (body-parser
    1.x): no body is ``{}``, a form an object, text a string; only a JSON
    content type is parsed as JSON (issue #19 D6: a cross-site no-cors fetch
    sends no Content-Type, or text/plain, never JSON). Other types are bytes."""
    async with serving(tmp_path) as http:
        for path, bytes_kind, text_kind, object_kind in (
            ("/echo", "buffer", "string", "object"),
            ("/py/echo", "bytes", "str", "AttrDict"),
        ):
            empty = await echo(http, path)
            assert empty == {"kind": object_kind, "body": {}}
            json_body = await echo(http, path, json={"n": [1, 2]})
            assert json_body == {"kind": object_kind, "body": {"n": [1, 2]}}
            form = await echo(http, path, data={"a": "1 2", "b": ["x", "y"]})
            assert form == {"kind": object_kind, "body": {"a": "1 2", "b": ["x", "y"]}}
            text = await echo(
                http, path, content="héllo", headers={"content-type": "text/csv; charset=utf-8"}
            )
            assert text == {"kind": text_kind, "body": "héllo"}
            untyped = await echo(http, path, content=b'{"attacker": true}')
            assert untyped == {"kind": bytes_kind, "body": b'{"attacker": true}'.hex()}
            raw = await echo(
                http, path, content=b"\x00\xff", headers={"content-type": "application/pdf"}
            )
            assert raw == {"kind": bytes_kind, "body": "00ff"}


async def test_responses_go_out_as_express_sends_them(tmp_path: Path) -> None:
    """Motia 0.17's router: ``res.send`` for a string or a Buffer, ``res.json``
    otherwise; Express makes a string ``text/html; charset=utf-8`` and a Buffer
    ``application/octet-stream`` unless the handler set a type. A 204 has no
    Content-Length (issue #19 D10)."""
    async with serving(tmp_path) as http:
        for prefix in ("/send", "/py/send"):
            page = await http.get(f"{prefix}/page")
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert page.text == "<h1>hello</h1>"
            data = await http.get(f"{prefix}/{'buffer' if prefix == '/send' else 'bytes'}")
            assert data.headers["content-type"] == "application/octet-stream"
            assert data.content == bytes([0, 1, 2, 255])
            obj = await http.get(f"{prefix}/thing")
            assert obj.headers["content-type"] == "application/json; charset=utf-8"
            assert obj.json() == {"kind": "thing"}
        plain = await http.get("/send/plain")
        assert plain.headers["content-type"] == "text/plain; charset=utf-8"
        assert plain.text == "just text"
        png = await http.get("/send/png")
        assert (png.headers["content-type"], png.content) == ("image/png", b"\x89P")
        empty = await http.get("/send/empty")
        assert empty.status_code == 204
        assert "content-length" not in empty.headers
        assert "content-type" not in empty.headers


async def test_cors_is_motias_by_default(tmp_path: Path) -> None:
    """Motia 0.17 answers every OPTIONS no route serves with 204 (any origin,
    method and header, max-age 600) and puts ``Access-Control-Allow-Origin: *``
    on every response: a Vite page on :5173 calls the API on :3000."""
    async with serving(tmp_path) as http:
        page = {"origin": "http://localhost:5173"}
        preflight = await http.options(
            "/echo",
            headers={
                **page,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type, x-user",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert preflight.headers["access-control-allow-methods"] == "*"
        assert preflight.headers["access-control-allow-headers"] == "*"
        assert preflight.headers["access-control-max-age"] == "600"
        assert "content-length" not in preflight.headers  # a 204 has none (issue #19 D10)
        assert (await http.options("/nowhere")).status_code == 204
        answer = await http.post("/echo", json={}, headers=page)
        assert answer.headers["access-control-allow-origin"] == "*"
        # browsers read these from a preflight only: not sent on every answer (issue 23)
        assert "access-control-allow-methods" not in answer.headers
        assert "access-control-max-age" not in answer.headers
        assert "access-control-allow-credentials" not in answer.headers  # void beside `*`
        assert preflight.headers["access-control-allow-credentials"] == "true"
        missing = await http.get("/nowhere", headers=page)
        assert missing.headers["access-control-allow-origin"] == "*"
        # the workbench is not the API's: no CORS there
        state = await http.get("/__motiad/api/state")
        assert "access-control-allow-origin" not in state.headers


async def test_an_answer_carries_the_headers_it_needs_and_no_more(tmp_path: Path) -> None:
    """Issue 23: h11 validates every header of every response, so each one is a
    cost per request. An API answer has the CORS headers a browser reads on a
    response that is no preflight, the trace's headers, its body's, and the
    date; no ``server`` (Express names none)."""
    async with serving(tmp_path) as http:
        answer = await http.post("/echo", json={})
        assert answer.status_code == 200
        assert sorted(answer.headers) == [
            "access-control-allow-origin",
            "content-length",
            "content-type",
            "date",
            "traceparent",
            "x-trace-id",
        ]


async def test_cors_can_be_narrowed_to_listed_origins(tmp_path: Path) -> None:
    toml = (
        '[http]\nallowed_origins = ["https://App.example/"]\nallow_credentials = true\n'
        'allowed_methods = ["GET", "POST"]\n'
    )
    async with serving(tmp_path, toml) as http:
        listed = {"origin": "https://app.example"}
        preflight = await http.options(
            "/echo", headers={**listed, "access-control-request-headers": "x-user"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert preflight.headers["access-control-allow-methods"] == "GET, POST"
        assert preflight.headers["access-control-allow-headers"] == "x-user"
        assert preflight.headers["vary"] == "Origin"
        other = await http.post("/echo", json={}, headers={"origin": "https://evil.example"})
        assert other.status_code == 200  # the server answers; the browser hides it
        assert "access-control-allow-origin" not in other.headers


def test_an_allowed_origin_that_is_not_one_is_refused_by_key(tmp_path: Path) -> None:
    (tmp_path / "motiad.toml").write_text('[http]\nallowed_origins = ["app.example"]\n')
    with pytest.raises(ConfigError, match=r"http\.allowed_origins\[0\]: 'app.example' is not"):
        load_settings(tmp_path)


def ws(http_url: str, query: str = "") -> str:
    return http_url.replace("http://", "ws://") + "/" + query


async def test_the_stream_socket_serves_loopback_and_same_origin_pages_only(
    tmp_path: Path,
) -> None:
    """Issue #19 D4a: any page the user visited could read every stream."""
    toml = '[http]\nallowed_origins = ["https://app.example"]\nallowed_hosts = ["App.Internal"]\n'
    async with running(tmp_path, toml) as broker:
        url = ws(broker.url)
        port = broker.url.rsplit(":", 1)[1]
        for origin in (
            None,  # not a browser: Motia's node client
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            f"http://localhost:{port}",
            "https://app.example",
        ):
            headers = {"origin": origin} if origin else {}
            async with connect(url, headers=headers):
                pass
        for origin in ("https://evil.example", "null", "http://localhost.evil.example"):
            with pytest.raises(HandshakeRefused) as refused:
                async with connect(url, headers={"origin": origin}):
                    pass
            assert refused.value.status == 403
        # DNS rebinding: the page's own origin, a name that resolves to us
        with pytest.raises(HandshakeRefused):
            async with connect(
                url, host=f"evil.example:{port}", headers={"origin": f"http://evil.example:{port}"}
            ):
                pass
        # a reverse proxy's name, listed, passing its Host on
        async with connect(url, host=f"app.internal:{port}"):
            pass
        async with httpx.AsyncClient(base_url=broker.url) as http:
            proxied = await http.get("/__motiad/api/state", headers={"host": "app.internal"})
            assert proxied.status_code == 200
            rebound = await http.get("/__motiad/api/state", headers={"host": "evil.example"})
            assert "allowed_hosts" in rebound.json()["error"]
            # the workbench (its live stream included) follows the same Origin rule
            for origin, status in (
                ("https://evil.example", 403),
                ("http://localhost:5173", 200),
                ("https://app.example", 200),
            ):
                workbench = await http.get("/__motiad/api/state", headers={"origin": origin})
                assert workbench.status_code == status, origin
            live = await http.get("/__motiad/api/live", headers={"origin": "https://evil.example"})
            assert live.status_code == 403


async def test_beyond_loopback_the_stream_socket_needs_the_token(tmp_path: Path) -> None:
    async with running(tmp_path, "", "--host", "0.0.0.0") as broker:
        found = await broker.wait_for(r"workbench: http://\S+:(\d+)/__motiad/\?token=(\S+)")
        port, token = found.group(1), found.group(2)
        url = f"ws://127.0.0.1:{port}/"
        with pytest.raises(HandshakeRefused) as refused:
            async with connect(url):
                pass
        assert refused.value.status == 401
        with pytest.raises(HandshakeRefused):
            async with connect(url + "?token=wrong"):
                pass
        async with connect(url + f"?token={token}"):
            pass
        async with connect(url, ["Authorization", token]) as client:
            assert client.accepted is not None
            assert client.accepted.subprotocol == "Authorization"
        async with connect(url, headers={"authorization": f"Bearer {token}"}):
            pass


async def test_without_the_workbench_nothing_under_the_prefix_but_health_answers(
    tmp_path: Path,
) -> None:
    """Issue #19 D3: streams and steps were served, unguarded, with the workbench off."""
    async with serving(tmp_path, "workbench = false\n") as http:
        assert (await http.get("/__motiad/api/streams")).status_code == 404
        assert (await http.get("/__motiad/steps")).status_code == 404
        assert (await http.get("/__motiad/health")).status_code == 200


async def test_host_names_are_case_insensitive_and_the_token_cookie_stays_in_the_workbench(
    tmp_path: Path,
) -> None:
    """Issue #19 D10: ``Host: LOCALHOST`` was refused; the cookie was ``Path=/``,
    so every API step saw the workbench's token."""
    async with serving(tmp_path) as http:
        port = str(http.base_url).rstrip("/").rsplit(":", 1)[1]
        shouted = await http.get("/__motiad/api/state", headers={"host": f"LOCALHOST:{port}"})
        assert shouted.status_code == 200
    async with running(tmp_path / "exposed", "", "--host", "0.0.0.0") as broker:
        found = await broker.wait_for(r"workbench: http://\S+:(\d+)/__motiad/\?token=(\S+)")
        port, token = found.group(1), found.group(2)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            opened = await http.get("/__motiad/", params={"token": token})
            assert opened.status_code == 302
            assert "Path=/__motiad;" in opened.headers["set-cookie"] + ";"


async def test_deeply_nested_json_is_refused_with_a_400_that_says_why(tmp_path: Path) -> None:
    """Issue #19 D7: ~1,000 levels made msgspec raise RecursionError out of the
    API handler (a bare 500) and the workbench's emit (an HTML 500)."""
    async with serving(tmp_path) as http:
        json_type = {"content-type": "application/json"}
        for depth in (300, 1000, 100_000):
            deep = b"[" * depth + b"]" * depth
            refused = await http.post("/echo", content=deep, headers=json_type)
            assert refused.status_code == 400
            assert "nested deeper than 256 levels" in refused.json()["error"]
            emit = b'{"topic": "t", "data": ' + deep + b"}"
            workbench = await http.post("/__motiad/api/emit", content=emit, headers=json_type)
            assert workbench.status_code == 400
            assert "nested deeper than 256 levels" in workbench.json()["issues"][0]["message"]
        fine = b'{"a": ' + b"[" * 200 + b"]" * 200 + b', "text": "[[[[' + b"[" * 300 + b'"}'
        assert (await http.post("/echo", content=fine, headers=json_type)).status_code == 200


async def test_a_response_http_cannot_carry_is_a_logged_500(tmp_path: Path) -> None:
    """Issue #19 D8: an invalid status or a header with CRLF or non-latin-1
    text gave a bare, unlogged 500. Motia answers 500 too (Node refuses to
    send them); here the log says which step and what."""
    async with running(tmp_path) as broker, httpx.AsyncClient(base_url=broker.url) as http:
        for kind, said in (
            ("status", "status 1000 (expected 200 to 999)"),
            ("crlf", "header x-next: 'a\\r\\nset-cookie: stolen=1' has a line break"),
            ("unicode", "header x-name: 'Zoë 😀' is not latin-1 text"),
            ("name", "header name 'bad name'"),
        ):
            answer = await http.get(f"/bad/{kind}")
            assert answer.status_code == 500
            trace_id = answer.headers["x-trace-id"]
            assert answer.json() == {"error": "Internal Server Error", "traceId": trace_id}
            assert "set-cookie" not in answer.headers
            await broker.wait_for(
                rf"ERROR Bad {trace_id[-8:]} Bad returned a response HTTP cannot carry: "
                + re.escape(said)
            )


async def test_dead_letter_ids_beyond_64_bits_are_a_400(tmp_path: Path) -> None:
    """Issue #19 D8: an id of 2**63 or more overflowed in storage: a 500."""
    async with serving(tmp_path) as http:
        one = await http.get(f"/__motiad/api/dlq/{2**63}")
        assert one.status_code == 400
        assert "at most 9223372036854775807" in one.json()["issues"][0]["message"]
        redrive = await http.post("/__motiad/api/dlq/redrive", json={"ids": [2**63]})
        assert redrive.status_code == 400
        assert (await http.get(f"/__motiad/api/dlq/{2**63 - 1}")).status_code == 404


async def test_bodies_up_to_16_mb_are_taken_and_larger_ones_refused(tmp_path: Path) -> None:
    """Issue #18 item 11: a 1.5 MB base64 image (a Motia example) met the old
    1 MiB limit. Motia allows 1 GB; motiad 16 MB, configurable, 413 beyond."""
    async with serving(tmp_path) as http:
        image = {"image": "A" * 1_500_000}
        taken = await http.post("/echo", json=image)
        assert taken.status_code == 200
        assert taken.json()["body"] == image
        octets = {"content-type": "application/octet-stream"}
        encoded_too_big = await http.post("/echo", content=b"\x00" * 13_000_000, headers=octets)
        assert encoded_too_big.status_code == 413
        assert "too large to hand to the step once encoded" in encoded_too_big.json()["error"]
    async with serving(tmp_path / "small", "max_body_bytes = 1000\n") as http:
        refused = await http.post("/echo", json={"text": "x" * 1000})
        assert refused.status_code == 413
        assert refused.json()["error"] == "request body exceeds 1000 bytes"


async def test_middleware_runs_before_the_body_is_validated(tmp_path: Path) -> None:
    """Issue #18 item 6: Motia runs middleware before anything reads the body,
    so an unauthenticated request with a bad body gets the middleware's 401.
    The 400 of a bad body still names every field, and reaches the chain in
    place of the handler's response (SPEC `invoke.refusal`)."""
    async with serving(tmp_path) as http:
        bad = {"age": "ten"}
        for path in ("/guarded", "/py/guarded"):
            stranger = await http.post(path, json=bad)
            assert (stranger.status_code, stranger.json()) == (401, {"error": "Unauthorized"})
            member = {"authorization": "Bearer ok"}
            refused = await http.post(path, json=bad, headers=member)
            assert refused.status_code == 400
            assert refused.headers["x-seen-by"] == "auth"
            assert refused.json() == {
                "error": "request body does not match the step's bodySchema",
                "issues": [
                    {"path": "body.age", "message": "expected integer, got string"},
                    {"path": "body.name", "message": "is required"},
                ],
                "traceId": refused.headers["x-trace-id"],
            }
            bytes_body = await http.post(path, content=b"\x00", headers=member)
            assert bytes_body.json()["issues"] == [
                {"path": "body", "message": "expected JSON, got bytes (no Content-Type)"}
            ]
            welcome = await http.post(path, json={"name": "Ada", "age": 36}, headers=member)
            assert (welcome.status_code, welcome.json()) == (200, {"hello": "Ada"})
        # without middleware the handler's child is not even asked
        plain = await http.post("/py/open", json={})
        assert plain.status_code == 400
        assert plain.json()["issues"] == [{"path": "body.name", "message": "is required"}]


@asynccontextmanager
async def page_server() -> AsyncIterator[int]:
    """A real web server on 127.0.0.1 serving one empty page: the port."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b"<!doctype html><title>a page</title>"
        headers = [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(partial(serve_http, app, sock, shutdown=stop, graceful_timeout_s=1))
        try:
            yield port
        finally:
            stop.set()


async def test_in_a_real_browser_other_sites_cannot_read_streams_nor_send_json_unasked(
    tmp_path: Path,
) -> None:
    """Issue #19 D4a and D6, as found in Chromium: a page of another site
    opened the stream socket, and a ``no-cors`` fetch of a Blob (which carries
    no Content-Type) ran an API step with the page's JSON. Here the other
    site's socket is refused (``evil.example`` resolves to this machine, as a
    rebinding or LAN site would, so Chromium's own local-network checks let it
    through to motiad's); a loopback page (a Vite dev server) gets its stream,
    and its Blob arrives as bytes, not JSON."""
    from .browser import open_page

    async with running(tmp_path) as broker, page_server() as port:
        opens = f"""() => new Promise((resolve) => {{
            const socket = new WebSocket({ws(broker.url)!r});
            socket.onopen = () => {{ socket.close(); resolve(true); }};
            socket.onclose = () => resolve(false);
        }})"""
        posts = f"""() => fetch({broker.url + "/py/echo"!r}, {{
            method: "POST", mode: "no-cors", body: new Blob(['{{"attacker": true}}'])
        }}).then(() => true)"""
        rules = "--host-resolver-rules=MAP evil.example 127.0.0.1"
        async with open_page(f"http://evil.example:{port}/", extra_args=[rules]) as page:
            assert await page.evaluate(opens) is False
            await broker.wait_for(r"pages of http://evil\.example:\d+ may not read streams")
            await page.goto(f"http://localhost:{port}/")
            assert await page.evaluate(opens) is True
            assert await page.evaluate(posts) is True
            await broker.wait_for(r"PyEcho .* echo got bytes")
