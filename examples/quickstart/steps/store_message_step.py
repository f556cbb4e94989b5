"""Stores every sent message in state, so GetMessage can read it back."""

config = {
    "name": "StoreMessage",
    "type": "event",
    "description": "Keeps each message in the `messages` state group, keyed by its text",
    "subscribes": ["message.sent"],
    "emits": [],
}


async def handler(input, context):
    message = {"text": input["text"], "traceId": context.trace_id}
    await context.state.set("messages", input["text"], message)
    context.logger.info("Stored message", {"text": input["text"]})
