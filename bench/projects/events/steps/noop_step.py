"""burst.noop -> nothing: the cost of a delivery itself (lease, invoke, ack)."""

from typing import Any

config = {
    "name": "NoopSubscriber",
    "type": "event",
    "subscribes": ["burst.noop"],
    "emits": [],
    "flows": ["events"],
}


async def handler(input: Any, context: Any) -> None:
    pass
