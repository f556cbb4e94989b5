"""The benchmark's figures are checked, not pasted: the READMEs' generated blocks and
the chart are what ``bench/publish.py`` renders from the committed result file, the
targets they state are ``bench/scenarios.py``'s, and ``--check`` reports each one.
No benchmark runs here."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from bench import publish
from bench.procs import free_port
from bench.report import Row
from bench.scenarios import SCENARIOS, Scenario, check

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (publish.BENCH_README, "targets"),
        (publish.BENCH_README, "figures"),
        (publish.ROOT_README, "headline"),
    ],
)
def test_a_readme_block_is_what_the_published_result_renders(path: Path, name: str) -> None:
    run = publish.load(publish.latest())
    expected = publish.rendered(run)[path][name]
    found = publish.block(path.read_text(encoding="utf-8"), name)
    assert found == expected, f"{path.name} block {name!r} is stale: run python -m bench.publish"


def test_the_chart_is_what_the_published_result_draws() -> None:
    run = publish.load(publish.latest())
    assert publish.CHART.read_text(encoding="utf-8") == publish.chart(run), (
        "the chart is stale: run python -m bench.publish"
    )


def test_the_published_result_is_tracked_by_git() -> None:
    """The scratch results are ignored; the published ones must not be."""
    latest = publish.latest().relative_to(ROOT)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(latest)], cwd=ROOT, check=False
    ).returncode
    assert ignored == 1, f"{latest} is git-ignored"


def _row(scenario: str, system: str, value: float, **errors: int) -> Row:
    return Row(scenario, system, 1, value, "req/s", errors=dict(errors))


def test_check_reports_met_missed_and_not_measured_targets() -> None:
    ping = next(scenario for scenario in SCENARIOS if scenario.name == "ping-ts")
    floor = _row("ping-ts", "raw-asgi", 1000.0)
    floor.p99_ms = 10.0
    motiad = _row("ping-ts", "motiad", 900.0)
    motiad.p99_ms = 20.0
    verdicts = {item.target.describe(): item for item in check([ping], [floor, motiad])}
    assert verdicts["motiad/raw-asgi req/s ≥ 0.85x"].mark == "PASS"
    assert verdicts["motiad/raw-asgi p99 ≤ 1.5x"].mark == "MISS"
    # Motia 0.17 did not run: its target is reported, not failed.
    assert verdicts["motiad/motia-0.17 req/s ≥ 100x"].mark == "not measured"
    assert "not measured" in verdicts["motiad/motia-0.17 req/s ≥ 100x"].text()


def test_chain_32_needs_its_lost_count_at_zero() -> None:
    chain: Scenario = next(scenario for scenario in SCENARIOS if scenario.name == "chain-32")
    rows = [_row("chain-32", "raw-asgi", 1000.0), _row("chain-32", "motiad", 1200.0, lost=3)]
    marks = {item.target.describe(): item.mark for item in check([chain], rows)}
    assert marks["motiad lost ≤ 0"] == "MISS"
    assert marks["motiad/raw-asgi orders/s ≥ 0.8x"] == "PASS"


def test_many_steps_is_checked_against_startup_in_the_same_round() -> None:
    """Issue 17's targets: many steps start within 1.5x of two, in ≤ 250 MB and ≤ 6
    processes (a count the memory row keeps)."""
    many = next(scenario for scenario in SCENARIOS if scenario.name == "many-steps")
    rows = [
        Row("startup", "motiad", 1, 1.0, "s"),
        Row("many-steps", "motiad", 1, 1.8, "s"),
        Row("many-steps-memory", "motiad", 1, 200.0, "MB", extra={"processes": 4}),
    ]
    marks = {item.target.describe(): item.mark for item in check([many], rows)}
    assert marks == {
        "motiad/motiad startup s ≤ 1.5x": "MISS",
        "motiad ≤ 250 MB": "PASS",
        "motiad processes ≤ 6": "PASS",
    }


def test_the_raw_asgi_floor_does_not_import_motiad() -> None:
    code = (
        "import sys, bench.peers.raw_asgi; "
        "sys.exit(any(name.split('.')[0] == 'motiad' for name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False)
    assert done.returncode == 0, "bench/peers/raw_asgi.py imports motiad: it must stay a floor"


def test_the_invoke_benchmark_goes_through_the_brokers_invocation_path() -> None:
    """A span per invocation: the measured round trip is the broker's own path
    (invocation table, span recording into the store), not ``Child.invoke`` alone."""
    count, inflight = 40, 4
    argv = ["--language", "python", "--via", "broker", "--count", str(count)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.micro.invoke",
            *argv,
            "--inflight",
            str(inflight),
            "--warmup",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["spans"] == 10 + count + figures["pipelined_count"]


async def _serve_floor(module: str, port: int, stack: contextlib.AsyncExitStack) -> None:
    """Start ``bench.peers.MODULE`` on ``port``; return once hypercorn says it listens."""
    process = await stack.enter_async_context(
        await anyio.open_process(
            [sys.executable, "-m", f"bench.peers.{module}", "--port", str(port)], cwd=ROOT
        )
    )
    stack.push_async_callback(_stop, process)
    assert process.stderr is not None
    seen = b""
    with anyio.fail_after(30):
        async for chunk in process.stderr:
            seen += chunk
            if b"Running on" in seen:
                return


async def _stop(process: Process) -> None:
    process.terminate()
    with anyio.fail_after(10):
        await process.wait()


def _exchange(port: int, method: str, path: str, body: str | None = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else body.encode(),
        method=method,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _routes(port: int, order: str) -> list[Any]:
    """Every route once; of the run summary, what does not depend on the clock."""
    answers = [
        _exchange(port, "GET", "/ping"),
        _exchange(port, "GET", "/ping-py"),
        _exchange(port, "POST", "/messages", '{"text":"hi"}'),
        _exchange(port, "POST", "/orders", order),
    ]
    summary = _exchange(port, "GET", "/runs/r1?ids=1")
    return [*answers, {key: value for key, value in summary.items() if key in ("count", "ids")}]


@pytest.mark.anyio
async def test_the_raw_asgi_floor_answers_every_route_as_bare_quart_does() -> None:
    """The floor does the same work on the same routes as the reference row, so a
    ratio to either compares like with like."""
    order = '{"id":"o1","run":"r1","items":[{"sku":"a","qty":2,"price":1.5}],"notify":null}'
    answers: dict[str, list[Any]] = {}
    async with contextlib.AsyncExitStack() as stack:
        for module in ("raw_asgi", "bare_quart"):
            port = free_port()
            await _serve_floor(module, port, stack)
            answers[module] = await anyio.to_thread.run_sync(_routes, port, order)
    assert answers["raw_asgi"] == answers["bare_quart"]
    assert answers["raw_asgi"][-1] == {"count": 1, "ids": ["o1"]}
