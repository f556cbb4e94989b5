"""The quart app for the reserved prefix: the workbench with its JSON API and
the stream routes. Imported at the first request that needs it (:mod:`.framework`)."""

from __future__ import annotations

from quart import Quart

from ..broker import Broker
from .access import Access
from .framework import WorkbenchOptions
from .streams import add_stream_routes
from .workbench import register_workbench


def build_quart(broker: Broker, access: Access, workbench: WorkbenchOptions | None = None) -> Quart:
    """The quart app for the workbench with its JSON API (streams included)
    under the reserved prefix when ``workbench`` is given; nothing else
    answers there (the probes are :class:`~.probes.Probes`)."""
    app = Quart("motiad")
    if workbench is not None:
        register_workbench(app, broker, workbench, access)
        add_stream_routes(app, broker)  # behind the workbench's guard
    return app
