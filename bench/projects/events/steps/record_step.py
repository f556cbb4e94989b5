"""record -> appends "<id> <attempt>" to handled.log in the project folder (the
child's working folder). One write per line on an O_APPEND descriptor: lines from
concurrent handlers never mix, and a line written survives the broker's death."""

import os
from typing import Any

config = {
    "name": "RecordSubscriber",
    "type": "event",
    "subscribes": ["record"],
    "emits": [],
    "flows": ["events"],
}

_fd = os.open("handled.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


async def handler(input: Any, context: Any) -> None:
    os.write(_fd, f"{input['id']} {context.attempt}\n".encode())
