"""Python: prices the order the TypeScript step stored, then hands it on."""

PRICES = {"apple": 120, "pear": 95, "fig": 240}  # cents

config = {
    "name": "PriceOrder",
    "type": "event",
    "subscribes": ["order.submitted"],
    "emits": ["order.priced"],
    "flows": ["orders"],
}


async def handler(input, context):
    order = await context.state.get("orders", input["id"])
    total = sum(PRICES.get(item["sku"], 100) * item["qty"] for item in order["items"])
    order = {**order, "status": "priced", "totalCents": total, "steps": [*order["steps"], "python"]}
    await context.state.set("orders", order["id"], order)
    context.logger.info("Priced order", {"id": order["id"], "totalCents": total})
    await context.emit({"topic": "order.priced", "data": {"id": order["id"]}})
