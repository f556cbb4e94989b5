"""The HTTP layer: the only package that imports quart and hypercorn."""

from .server import build_app, serve_http
from .workbench import WorkbenchOptions, workbench_token

__all__ = ["WorkbenchOptions", "build_app", "serve_http", "workbench_token"]
