"""The HTTP layer: the only package that imports quart and hypercorn."""

from .access import workbench_token
from .server import build_app, serve_http
from .workbench import WorkbenchOptions

__all__ = ["WorkbenchOptions", "build_app", "serve_http", "workbench_token"]
