"""The HTTP layer: the only package that imports quart (at the first workbench
request, :mod:`.framework`) and hypercorn."""

from .access import workbench_token
from .framework import WorkbenchOptions
from .server import build_app, serve_http

__all__ = ["WorkbenchOptions", "build_app", "serve_http", "workbench_token"]
