"""The conformance cases by area, in the order they run (SPEC §11.2)."""

from __future__ import annotations

from pathlib import Path

from ..checker import Case
from . import failures, http_streams, invoke, lifecycle, limits, services, stopping, supervised
from .vectors import vector_cases


def all_cases(vectors: Path | None = None) -> list[Case]:
    """Every case: the handshake first, the framing and rpc cases of the vectors
    (``vectors``: their folder, ``protocol/vectors`` by default), then the rest."""
    return [
        *lifecycle.CASES,
        *vector_cases(vectors),
        *invoke.CASES,
        *failures.CASES,
        *services.CASES,
        *http_streams.CASES,
        *limits.CASES,
        *stopping.CASES,
        *supervised.CASES,
    ]
