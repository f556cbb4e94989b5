"""probe -> records when the handler started (epoch ms), for GET /probe/:id."""

import time
from typing import Any

config = {
    "name": "ProbeSubscriber",
    "type": "event",
    "subscribes": ["probe"],
    "emits": [],
    "flows": ["events"],
}


async def handler(input: Any, context: Any) -> None:
    started = time.time() * 1000
    await context.state.set("probe", input["id"], {"emitAt": input["emitAt"], "startAt": started})
