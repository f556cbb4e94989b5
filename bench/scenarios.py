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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .report import Row, Target, Verdict, verdict
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
    "cores",
]

FLOOR = "raw-asgi"
"""The baseline of every HTTP scenario: hypercorn and msgspec, nothing else."""

PEERS = (FLOOR, "bare-quart", "motiad", "motia-0.17")
"""The HTTP systems: the floor first, bare quart as a reference row (issue 7's
floor), motiad, and Motia 0.17 on the same step files."""


def _ratio(
    metric: str,
    bound: Literal["min", "max"],
    threshold: float,
    baseline: str,
    issue: str,
    unit: str = "",
) -> Target:
    """motiad's ``metric`` (in ``unit``) over ``baseline``'s in the same round."""
    return Target("motiad", metric, bound, threshold, baseline, issue=issue, unit=unit)


def _absolute(
    metric: str, bound: Literal["min", "max"], threshold: float, unit: str, issue: str
) -> Target:
    """motiad's ``metric`` against a fixed bound in ``unit``."""
    return Target("motiad", metric, bound, threshold, issue=issue, unit=unit)


def _http_targets(name: str) -> tuple[tuple[str, Target], ...]:
    """``ping-ts``/``ping-py``: the next factor against the floor, and what issue 7
    promised against Motia."""
    return (
        (name, _ratio("value", "min", 0.85, FLOOR, "23", "req/s")),
        (name, _ratio("p99", "max", 1.5, FLOOR, "23")),
        (name, _ratio("value", "min", 100, "motia-0.17", "7", "req/s")),
    )


def _invoke_targets(language: str) -> tuple[tuple[str, Target], ...]:
    """Each language's invoke through the broker against its own echo, and pipelined."""
    return (
        (f"invoke-{language}", _ratio("p50", "max", 2.0, "pipe-echo", "4, 10, 23")),
        (f"invoke-{language}-64", _absolute("value", "min", 20_000, "inv/s", "4, 10")),
    )


OBSERVED = ("motiad-no-metrics", "motiad", "motiad-otlp", "motiad-otlp-sampled")
"""motiad without metrics, with them (the default), exporting every trace to a
local OTLP receiver, and one trace in ten (issue 17: the cost stays within 5 %
of the first)."""


def within_5_percent(scenario: str, unit: str) -> tuple[tuple[str, Target], ...]:
    """Metrics on, and OTLP export, cost at most 5 % of ``scenario``'s figure."""
    return tuple(
        (scenario, Target(system, "value", "min", 0.95, "motiad-no-metrics", "17", unit))
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
        targets=(
            ("startup", _absolute("value", "max", 1.0, "s", "7")),
            ("idle-memory", _absolute("value", "max", 150, "MB", "7")),
            ("idle-memory", _absolute("value", "max", 120, "MB", "17")),
        ),
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
        targets=(
            (
                "many-steps",
                Target("motiad", "value", "max", 1.5, "motiad", "17", "s", "startup"),
            ),
            ("many-steps-memory", _absolute("value", "max", 250, "MB", "17")),
            ("many-steps-memory", _absolute("processes", "max", 6, "", "17")),
        ),
    ),
    Scenario(
        name="ping-ts",
        kind="wrk",
        description="GET /ping: a TypeScript API step answering {pong: true}",
        systems=(FLOOR, "bare-quart", *OBSERVED, "motia-0.17"),
        project="ping",
        request=HttpRequest("GET", "/ping"),
        targets=(*_http_targets("ping-ts"), *within_5_percent("ping-ts", "req/s")),
    ),
    Scenario(
        name="ping-py",
        kind="wrk",
        description="GET /ping-py: the same in a Python API step",
        systems=PEERS,
        project="ping",
        request=HttpRequest("GET", "/ping-py"),
        targets=_http_targets("ping-py"),
    ),
    Scenario(
        name="post-messages",
        kind="wrk",
        description=(
            "the quickstart's POST /messages: an API step (Node) that emits one event; "
            "motiad also runs two event steps (Node, Python) and a state write per request"
        ),
        systems=(FLOOR, "bare-quart", "motiad"),
        project="quickstart",
        request=HttpRequest("POST", "/messages", '{"text":"hi"}', JSON),
        targets=(
            ("post-messages", _ratio("value", "min", 0.6, FLOOR, "23", "req/s")),
            ("post-messages", _ratio("p50", "max", 2.0, FLOOR, "3")),
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
        targets=(("chain-1", _absolute("p50", "max", 10, "ms", "7")),),
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
        targets=(
            ("chain-32", _ratio("value", "min", 0.8, FLOOR, "23", "orders/s")),
            ("chain-32", _absolute("lost", "max", 0, "", "7, 23")),
            ("chain-32", _absolute("value", "min", 1_000, "orders/s", "7")),
        ),
    ),
    Scenario(
        name="invoke-python",
        kind="invoke",
        description=(
            "warm invoke of a no-op Python handler through the broker's invocation path "
            "(invocation table, span recorded) against a raw pipe echo child; sequential "
            "round trips (row invoke-python-64: 64 in flight)"
        ),
        systems=("pipe-echo", "motiad"),
        language="python",
        targets=_invoke_targets("python"),
    ),
    Scenario(
        name="invoke-node",
        kind="invoke",
        description="the same with a no-op Node handler (row invoke-node-64: 64 in flight)",
        systems=("pipe-echo", "motiad"),
        language="node",
        targets=_invoke_targets("node"),
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
        targets=_invoke_targets("go"),
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
            ("events-durable", _absolute("value", "min", 20_000, "events/s", "5, 23")),
            ("emit-latency", _absolute("p50", "max", 2.0, "ms", "5")),
            *within_5_percent("events-durable", "events/s"),
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
        targets=(
            (
                "events-redis",
                Target("redis-x1", "value", "min", 10_000, issue="23", unit="events/s"),
            ),
        ),
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
        targets=(("kill-9", _absolute("lost", "max", 0, "", "5")),),
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
        targets=(("stream-fanout", _ratio("value", "min", 0.9, "ws-floor", "23", "changes/s")),),
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
        targets=(
            (
                "cpu-pool",
                Target("workers-2", "value", "max", 1 / 1.7, "workers-1", "17", "s"),
            ),
        ),
    ),
    Scenario(
        name="cores",
        kind="cores",
        description=(
            "GET /ping (TS) on one port served by one and by two motiad run instances on "
            "one redis-server, all listening with [http] reuse_port (the kernel spreads "
            "the connections): how far one project goes past one core (docs/SCALING.md)"
        ),
        systems=("redis-x1", "redis-x2"),
        project="ping",
        request=HttpRequest("GET", "/ping"),
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
        targets=(("ageing-ping", _absolute("value", "min", 0.9, "x", "7")),),
        repeat=False,
    ),
    Scenario(
        name="ageing-chain",
        kind="ageing",
        description=(
            "the same with POST /orders (state and the event tables grow); not on Motia, "
            "whose backlog of per-event processes would take minutes to drain"
        ),
        systems=(FLOOR, "bare-quart", "motiad"),
        project="chain",
        request=HttpRequest("POST", "/orders", None, JSON),
        targets=(("ageing-chain", _absolute("value", "min", 0.9, "x", "7")),),
        repeat=False,
    ),
)


def check(scenarios: Iterable[Scenario], rounds: list[Row]) -> list[Verdict]:
    """Every target of ``scenarios`` against a run's rounds: met, missed, or not
    measured (a row it needs is absent: a system that could not run, a scenario left
    out). A miss is information; ``bench/run --check`` turns it into exit code 1."""
    return [
        verdict(name, target, rounds) for scenario in scenarios for name, target in scenario.targets
    ]
