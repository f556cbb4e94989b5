"""POST /burn {count}: emits ``count`` CPU-bound events at once."""

import asyncio
from typing import Any

config = {
    "name": "Burn",
    "type": "api",
    "path": "/burn",
    "method": "POST",
    "emits": ["burn"],
    "flows": ["cpu-pool"],
}


async def handler(req: Any, context: Any) -> dict[str, Any]:
    count = int(req.body["count"])
    await asyncio.gather(*(context.emit({"topic": "burn", "data": {"n": n}}) for n in range(count)))
    return {"status": 202, "body": {"emitted": count}}
