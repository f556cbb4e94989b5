# A Python event step: it picks the agent on call for the ticket's priority.
# Its input is plain JSON Schema, so the step needs nothing beyond Python itself.
from datetime import datetime, timezone

ON_CALL = {"urgent": "grace", "normal": "alan", "low": "ada"}


def now() -> str:
    """The time as JavaScript's toISOString() writes it, so the board orders
    the TypeScript and Python steps' updates alike."""
    utc = datetime.now(timezone.utc)  # noqa: UP017 (datetime.UTC is Python 3.11+)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


config = {
    "type": "event",
    "name": "AssignAgent",
    "description": "Assigns a triaged ticket to the agent on call for its priority",
    "subscribes": ["ticket.triaged"],
    "emits": [],
    "input": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "priority": {"type": "string", "enum": ["low", "normal", "urgent"]},
        },
        "required": ["id", "priority"],
    },
    "flows": ["helpdesk"],
}


async def handler(input_data, context):
    ticket = await context.streams.tickets.get("board", input_data["id"])
    if ticket is None:
        context.logger.warn("Ticket is gone before assignment", {"id": input_data["id"]})
        return

    agent = ON_CALL[input_data["priority"]]
    await context.streams.tickets.set(
        "board",
        input_data["id"],
        {
            **ticket,
            "status": "assigned",
            "assignee": agent,
            "updatedAt": now(),
        },
    )
    context.logger.info("Ticket assigned", {"id": input_data["id"], "assignee": agent})
