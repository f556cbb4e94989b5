# State trigger in Python: runs when an order's state becomes "packed".
from motia import logger, state


def is_packed(input, ctx) -> bool:
    return input.group_id == "orders" and (input.new_value or {}).get("status") == "packed"


config = {
    "name": "OnPacked",
    "flows": ["orders"],
    "triggers": [state(condition=is_packed)],
    "enqueues": [],
}


def handler(input) -> None:
    logger.info("order packed", {"order": input.item_id, "before": input.old_value})
