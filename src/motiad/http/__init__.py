"""The HTTP layer: the only package that imports quart and hypercorn."""

from .server import build_app, serve_http

__all__ = ["build_app", "serve_http"]
