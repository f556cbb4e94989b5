"""order.created -> prices the order, keeps it in state, emits order.processed."""

from typing import Any

config = {
    "name": "ProcessOrder",
    "type": "event",
    "subscribes": ["order.created"],
    "emits": ["order.processed"],
    "flows": ["orders"],
}


async def handler(input: Any, context: Any) -> None:
    total = sum(item["qty"] * item["price"] for item in input["items"])
    order = {"id": input["id"], "total": round(total, 2), "items": len(input["items"])}
    await context.state.set(f"orders-{input['run']}", input["id"], order)
    await context.emit(
        {
            "topic": "order.processed",
            "data": {"id": input["id"], "run": input["run"], "notify": input["notify"]},
        }
    )
