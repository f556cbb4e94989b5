"""The HTTP edge as Motia 0.17 has it (Express 4 with body-parser 1.x, its API
router in ``packages/core/src/server.ts``), against a real ``motiad run`` with
TypeScript and Python steps: how request bodies reach handlers, how responses
go out, CORS, and what hostile input gets back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from .harness import FIXTURES, make_project, motiad

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(tmp_path: Path, toml: str = "") -> AsyncIterator[httpx.AsyncClient]:
    """``motiad run`` of the ``http_edge`` fixture (``toml``: its motiad.toml)."""
    project = make_project(tmp_path / "p", FIXTURES / "http_edge")
    if toml:
        (project / "motiad.toml").write_text(toml)
    async with (
        motiad("run", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
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
