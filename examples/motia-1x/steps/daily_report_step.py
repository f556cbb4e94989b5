# Cron trigger, Motia 1.x's seconds-first form: every day at 08:00:00.
from motia import cron, logger, stateManager

config = {
    "name": "DailyReport",
    "flows": ["orders"],
    "triggers": [cron("0 0 8 * * *")],
    "enqueues": [],
}


def handler(_input) -> None:
    stats = stateManager.get("stats", "orders") or {}
    logger.info("daily report", {"placed": stats.get("placed", 0)})
