"""The scenarios: one request that wrk repeats against several systems, and the
targets that compare a system with a baseline measured in the same run.

To add one: append a :class:`Scenario` to :data:`SCENARIOS`; name systems from
``systems.SYSTEMS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wrk import HttpRequest

JSON = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class Target:
    """``system`` against ``baseline``: at least ``min_rps_ratio`` of its requests/s, at
    most ``max_p50_ratio`` times its median latency."""

    system: str
    baseline: str
    min_rps_ratio: float
    max_p50_ratio: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """A request, the systems it runs against (in this order) and the targets."""

    name: str
    description: str
    request: HttpRequest
    systems: tuple[str, ...]
    targets: tuple[Target, ...] = ()


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="post-messages",
        description=(
            "the quickstart's POST /messages: an API step (Node) that emits one event; "
            "motiad also runs two event steps (Node, Python) and a state write per request"
        ),
        request=HttpRequest("POST", "/messages", '{"text":"hi"}', JSON),
        systems=("bare-quart", "motiad"),
        targets=(Target("motiad", "bare-quart", min_rps_ratio=0.40, max_p50_ratio=2.0),),
    ),
)
