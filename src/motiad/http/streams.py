"""The streams' JSON for the workbench: declared streams, their groups, and a
group's items, under the reserved prefix."""

from __future__ import annotations

import msgspec
from quart import Quart, Response

from ..broker import Broker
from ..config import RESERVED_PATH_PREFIX

_encode = msgspec.json.Encoder().encode


def _json(value: object, status: int = 200) -> Response:
    # Items are raw JSON from storage: encoded as they are, never decoded.
    return Response(_encode(value), status=status, mimetype="application/json")


def _unknown(name: str) -> Response:
    return _json({"error": f"no stream is called {name!r}"}, 404)


def add_stream_routes(app: Quart, broker: Broker) -> None:
    """``GET {prefix}/api/streams[/<name>[/<groupId>]]``."""
    base = f"{RESERVED_PATH_PREFIX}/api/streams"

    @app.get(base)
    async def streams() -> Response:
        definitions = sorted(broker.streams.definitions.values(), key=lambda d: d.name)
        return _json(
            {
                "streams": [
                    {"name": d.name, "schema": d.raw_schema, "file": d.file} for d in definitions
                ]
            }
        )

    @app.get(f"{base}/<name>")
    async def groups(name: str) -> Response:
        if name not in broker.streams.definitions:
            return _unknown(name)
        return _json({"groups": await broker.store.stream_groups(name)})

    @app.get(f"{base}/<name>/<group_id>")
    async def items(name: str, group_id: str) -> Response:
        if name not in broker.streams.definitions:
            return _unknown(name)
        return _json({"items": await broker.store.stream_group(name, group_id)})
