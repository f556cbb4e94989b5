# Queue trigger in Python: Motia 1.x's blocking stateManager and a stream item.
from motia import FlowContext, Stream, logger, queue, stateManager

shipments: Stream[dict] = Stream("shipments")  # as Motia's Python playground declares its streams

config = {
    "name": "PackOrder",
    "description": "Packs each placed order",
    "flows": ["orders"],
    "triggers": [queue("order.placed")],
    "enqueues": [],
}


async def handler(order: dict, ctx: FlowContext) -> None:
    stateManager.set("orders", ctx.trace_id, {"item": order["item"], "status": "packed"})
    shipments.set("today", ctx.trace_id, {"item": order["item"], "status": "packed"})
    logger.info("packed", {"item": order["item"]})
