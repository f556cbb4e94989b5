"""GET /ping-py in Python: the smallest API step, the same file on motiad and Motia."""

from typing import Any

config = {
    "name": "PingPy",
    "type": "api",
    "path": "/ping-py",
    "method": "GET",
    "emits": [],
    "flows": ["ping"],
}


async def handler(req: Any, context: Any) -> dict[str, Any]:
    return {"status": 200, "body": {"pong": True}}
