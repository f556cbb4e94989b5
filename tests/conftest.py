"""Shared fixtures: the anyio backend, and the project factory used by the
tests that run real children."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """motiad runs on asyncio (hypercorn's asyncio server)."""
    return "asyncio"
