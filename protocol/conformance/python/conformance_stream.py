"""The stream `ConformanceStream` uses (protocol/SPEC.md §11.1, `lifecycle.streams`),
with Motia 1.x's hooks (`stream.hooks`): on_join refuses an auth context that
says deny, on_leave logs."""

from motia import logger


def on_join(subscription, context, auth_context):
    return {"unauthorized": bool((auth_context or {}).get("deny"))}


def on_leave(subscription, context, auth_context):
    logger.info("conformance left")


config = {
    "name": "conformance",
    "baseConfig": {"storageType": "default"},
    "on_join": on_join,
    "on_leave": on_leave,
}
