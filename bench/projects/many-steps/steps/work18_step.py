"""One of 19 small Python event steps of the many-steps project (issue 17)."""

from typing import Any

config = {
    "name": "WorkPy18",
    "type": "event",
    "subscribes": ["work.py.18"],
    "emits": [],
    "flows": ["many"],
}


async def handler(input: Any, context: Any) -> None:
    context.logger.info("handled")
