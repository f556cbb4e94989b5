"""The scenarios: what is measured, against which systems (baselines first), and the
targets that compare a system with a baseline measured in the same run.

Each scenario has a *kind*, the runner that measures it (``bench.py`` maps kinds to
runners): ``wrk`` repeats one request; ``startup`` starts a fresh server; ``chain-*``
follow orders to the end of the chain; ``ageing`` compares the first and last window
of a long load; ``invoke``, ``events`` and ``kill`` are micro-benchmarks whose
"systems" are labels of what their runner measures. To add one: append a
:class:`Scenario` to :data:`SCENARIOS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .report import Target
from .wrk import HttpRequest

JSON = {"content-type": "application/json"}

Kind = Literal[
    "wrk",
    "startup",
    "chain-latency",
    "chain-load",
    "ageing",
    "invoke",
    "events",
    "events-redis",
    "kill",
    "fanout",
    "cpu-pool",
]

PEERS = ("bare-quart", "motiad", "motia-0.17")
"""The three HTTP systems of issue 7, the floor first."""
OBSERVED = ("motiad-no-metrics", "motiad", "motiad-otlp", "motiad-otlp-sampled")
"""motiad without metrics, with them (the default), exporting every trace to a
local OTLP receiver, and one trace in ten (issue 17: the cost stays within 5 %
of the first)."""


def within_5_percent(scenario: str) -> tuple[tuple[str, Target], ...]:
    """Metrics on, and OTLP export, cost at most 5 % of ``scenario``'s figure."""
    return tuple(
        (scenario, Target(system, "value", "min", 0.95, "motiad-no-metrics"))
        for system in ("motiad", "motiad-otlp")
    )


@dataclass(frozen=True, slots=True)
class Scenario:
    """What a runner measures, on which systems (in this order), and the targets."""

    name: str
    kind: Kind
    description: str
    systems: tuple[str, ...]
    project: str | None = None
    """The project its servers run (``bench/projects/`` or ``examples/``)."""
    request: HttpRequest | None = None
    targets: tuple[tuple[str, Target], ...] = ()
    """(scenario name of the rows it checks, target): a runner may report several."""
    repeat: bool = True
    """Measured in every round (``False``: once per run, after the rounds)."""
    language: Literal["python", "node", "go"] | None = None
    """For ``invoke``: which SDK."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="startup",
        kind="startup",
        description=(
            "a fresh server on the ping project: seconds from spawn to the first 200 of "
            "GET /ping, then the idle RSS of its whole process tree (row idle-memory)"
        ),
        systems=PEERS,
        project="ping",
    ),
    Scenario(
        name="many-steps",
        kind="startup",
        description=(
            "the same on a project of 41 small steps (GET /ping in TS, GET /ping-py, 20 TS"
            " and 19 Python event steps): one child per language, against startup's two"
            " steps (row many-steps-memory: the idle RSS of the whole tree)"
        ),
        systems=("motiad", "motia-0.17"),
        project="many-steps",
    ),
    Scenario(
        name="ping-ts",
        kind="wrk",
        description="GET /ping: a TypeScript API step answering {pong: true}",
        systems=("bare-quart", *OBSERVED, "motia-0.17"),
        project="ping",
        request=HttpRequest("GET", "/ping"),
        targets=within_5_percent("ping-ts"),
    ),
    Scenario(
        name="ping-py",
        kind="wrk",
        description="GET /ping-py: the same in a Python API step",
        systems=PEERS,
        project="ping",
        request=HttpRequest("GET", "/ping-py"),
    ),
    Scenario(
        name="post-messages",
        kind="wrk",
        description=(
            "the quickstart's POST /messages: an API step (Node) that emits one event; "
            "motiad also runs two event steps (Node, Python) and a state write per request"
        ),
        systems=("bare-quart", "motiad"),
        project="quickstart",
        request=HttpRequest("POST", "/messages", '{"text":"hi"}', JSON),
        targets=(
            ("post-messages", Target("motiad", "value", "min", 0.40, "bare-quart")),
            ("post-messages", Target("motiad", "p50", "max", 2.0, "bare-quart")),
        ),
    ),
    Scenario(
        name="chain-1",
        kind="chain-latency",
        description=(
            "one order at a time: POST /orders (TS) → order.created → Python step (state) "
            "→ order.processed → TS step; ms from the POST to the last step's start"
        ),
        systems=PEERS,
        project="chain",
    ),
    Scenario(
        name="chain-32",
        kind="chain-load",
        description=(
            "wrk -c32 of POST /orders with unique ids; orders/s to the end of the chain "
            "(POSTs and their drain), orders accepted but never finished"
        ),
        systems=PEERS,
        project="chain",
        request=HttpRequest("POST", "/orders", None, JSON),
    ),
    Scenario(
        name="invoke-python",
        kind="invoke",
        description=(
            "warm invoke of a no-op Python handler through motiad.supervisor.Child against "
            "a raw pipe echo child; sequential round trips (row invoke-python-64: 64 in flight)"
        ),
        systems=("pipe-echo", "motiad"),
        language="python",
        targets=(
            ("invoke-python", Target("motiad", "p50", "max", 2.0, "pipe-echo")),
            ("invoke-python-64", Target("motiad", "value", "min", 20_000)),
        ),
    ),
    Scenario(
        name="invoke-node",
        kind="invoke",
        description="the same with a no-op Node handler (row invoke-node-64: 64 in flight)",
        systems=("pipe-echo", "motiad"),
        language="node",
        targets=(
            ("invoke-node", Target("motiad", "p50", "max", 2.0, "pipe-echo")),
            ("invoke-node-64", Target("motiad", "value", "min", 20_000)),
        ),
    ),
    Scenario(
        name="invoke-go",
        kind="invoke",
        description=(
            "the same with a no-op Go handler (sdk-go, compiled by the registry's build "
            "before timing) against a Go pipe echo (row invoke-go-64: 64 in flight)"
        ),
        systems=("pipe-echo", "motiad"),
        language="go",
        targets=(
            ("invoke-go", Target("motiad", "p50", "max", 2.0, "pipe-echo")),
            ("invoke-go-64", Target("motiad", "value", "min", 20_000)),
        ),
    ),
    Scenario(
        name="events-durable",
        kind="events",
        description=(
            "POST /burst: a TS step emits 100 events at once (4 requests in flight) to a "
            "Python no-op subscriber; events/s from the first emit until no delivery is "
            "pending; the floor: the same rows through SQLite in one Python process. "
            "Row emit-latency: one event at a time, emit to handler start"
        ),
        systems=("sqlite-floor", *OBSERVED),
        project="events",
        targets=(
            ("events-durable", Target("motiad", "value", "min", 10_000)),
            ("emit-latency", Target("motiad", "p50", "max", 2.0)),
            *within_5_percent("events-durable"),
        ),
    ),
    Scenario(
        name="events-redis",
        kind="events-redis",
        description=(
            "events-durable's POST /burst load with Redis storage: one, two and three "
            "motiad run instances on one redis-server (round-robin), next to one on SQLite"
        ),
        systems=("sqlite", "redis-x1", "redis-x2", "redis-x3"),
        project="events",
    ),
    Scenario(
        name="kill-9",
        kind="kill",
        description=(
            "POST /record (one event each, 8 clients) to a Python subscriber that appends "
            "the event's id to a file; kill -9 of the broker mid-load; restart; count"
        ),
        systems=("motiad",),
        project="events",
        targets=(("kill-9", Target("motiad", "lost", "max", 0)),),
        repeat=False,
    ),
    Scenario(
        name="stream-fanout",
        kind="fanout",
        description=(
            "POST /feed: one TS handler's loop of awaited streams.feed.set to 100 WebSocket "
            "clients joined to the group; changes/s until the slowest client has the last, "
            "p50/p99 set → receive. The floor: hypercorn encoding each change once and "
            "queueing it for every connection, nothing behind it"
        ),
        systems=("ws-floor", "motiad"),
        project="streams",
    ),
    Scenario(
        name="cpu-pool",
        kind="cpu-pool",
        description=(
            "POST /burn: 8 events at once to a pure-Python CPU-bound step (a sync handler,"
            " ~0.4 s each); seconds until all are handled, with [languages.python] workers"
            " = 1 and = 2 (a pool of two children hosting the same steps)"
        ),
        systems=("workers-1", "workers-2"),
        project="cpu-pool",
        targets=(("cpu-pool", Target("workers-2", "value", "max", 1 / 1.7, "workers-1")),),
    ),
    Scenario(
        name="ageing-ping",
        kind="ageing",
        description=(
            "GET /ping for 60 s (quick: 15 s) in back-to-back wrk windows of 10 s (5 s): "
            "req/s of the last window over the first"
        ),
        systems=PEERS,
        project="ping",
        request=HttpRequest("GET", "/ping"),
        repeat=False,
    ),
    Scenario(
        name="ageing-chain",
        kind="ageing",
        description=(
            "the same with POST /orders (state and the event tables grow); not on Motia, "
            "whose backlog of per-event processes would take minutes to drain"
        ),
        systems=("bare-quart", "motiad"),
        project="chain",
        request=HttpRequest("POST", "/orders", None, JSON),
        repeat=False,
    ),
)
