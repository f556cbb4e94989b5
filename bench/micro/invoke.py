"""Warm ``invoke`` round trips through the broker's own invocation path, against a
raw pipe echo between the same two interpreters.

``via=broker``: a :class:`motiad.broker.Broker` loads a project holding one no-op
step of the language (``bench/projects/noop``) on SQLite storage, and each round
trip is the broker's invoke of it as an event delivery (``Dispatch.invoke``: a new
invocation id, the invocation table, the child's round trip, the span recorded
into the store): broker → child → broker.
``via=echo``: the same parent (anyio, asyncio) writes a line of the same size to a
tiny echo child (``echo_child.py`` / ``echo_child.mjs`` / ``echo_child.go``) and reads
it back. Go is compiled first, outside the timing: the registry's build for the SDK
child (into ``bench/projects/noop/.motiad/go/``), ``go build`` for the echo.

Run by the driver in its own process, so ``--rev`` can put a snapshot's ``src/`` first
on ``PYTHONPATH`` and py-spy can sample it alone::

    python -m bench.micro.invoke --language python --via broker --count 20000 --inflight 64

Prints one JSON object: sequential round trips (p50/p99/mean µs), pipelined
invocations/s with ``inflight`` outstanding, and CPU seconds of parent and child.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
from anyio.abc import Process

HERE = Path(__file__).resolve().parent
NOOP = HERE.parent / "projects" / "noop"
FILES = {
    "python": NOOP / "steps" / "noop_invoke_step.py",
    "node": NOOP / "steps" / "noop.step.mjs",
    "go": NOOP / "steps" / "noop.step.go",
}
LANGUAGES = tuple(FILES)

WARMUP = 500
"""Round trips before timing: JIT (Node), caches and the allocator settle."""

TIMEOUT_MS = 30_000
"""The handler budget each invocation carries, as a step's default would."""


def _child_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` used so far."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _only_child() -> int:
    """The pid of our one child process (``Child`` has no public pid in every revision)."""
    me = os.getpid()
    children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    return int(children[0]) if children else 0


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


RoundTrip = Callable[[], Awaitable[None]]


def _motiad(module: str) -> ModuleType:
    """A motiad module, imported when the benchmark runs: the driver puts a snapshot's
    ``src/`` first on ``PYTHONPATH`` for ``--rev``, and ``mypy bench`` on its own sees
    motiad as an installed package without type information."""
    return importlib.import_module(f"motiad.{module}")


def _percentile(ordered: list[int], share: float) -> float:
    """The ``share`` quantile of sorted nanoseconds, in µs."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] / 1000


Pipelined = Callable[[int, int], Awaitable[None]]
"""Runs ``total`` round trips keeping ``inflight`` outstanding."""


def _workers(one: RoundTrip) -> Pipelined:
    """``inflight`` tasks, each doing its share of round trips one after another."""

    async def run(total: int, inflight: int) -> None:
        async def worker() -> None:
            for _ in range(total // inflight):
                await one()

        async with anyio.create_task_group() as tg:
            for _ in range(inflight):
                tg.start_soon(worker)

    return run


async def _measure(
    sequential: RoundTrip,
    pipelined: Pipelined,
    count: int,
    inflight: int,
    pid: int,
    warmup: int = WARMUP,
) -> dict[str, Any]:
    """``count`` round trips of ``sequential`` one after another, then about as many
    through ``pipelined`` with ``inflight`` outstanding; latencies, rates and CPU per
    round trip of this process and of the child."""
    for _ in range(warmup):
        await sequential()
    samples: list[int] = []
    cpu = _self_cpu_s(), _child_cpu_s(pid)
    started = time.perf_counter()
    for _ in range(count):
        before = time.perf_counter_ns()
        await sequential()
        samples.append(time.perf_counter_ns() - before)
    sequential_s = time.perf_counter() - started
    cpu_sequential = _self_cpu_s() - cpu[0], _child_cpu_s(pid) - cpu[1]

    total = (count // inflight) * inflight
    cpu = _self_cpu_s(), _child_cpu_s(pid)
    started = time.perf_counter()
    await pipelined(total, inflight)
    pipelined_s = time.perf_counter() - started
    cpu_pipelined = _self_cpu_s() - cpu[0], _child_cpu_s(pid) - cpu[1]

    samples.sort()
    return {
        "count": count,
        "p50_us": _percentile(samples, 0.5),
        "p99_us": _percentile(samples, 0.99),
        "mean_us": statistics.fmean(samples) / 1000,
        "sequential_rate": count / sequential_s,
        "sequential_cpu_us": {
            "parent": 1e6 * cpu_sequential[0] / count,
            "child": 1e6 * cpu_sequential[1] / count,
        },
        "inflight": inflight,
        "pipelined_count": total,
        "pipelined_rate": total / pipelined_s,
        "pipelined_cpu_us": {
            "parent": 1e6 * cpu_pipelined[0] / total,
            "child": 1e6 * cpu_pipelined[1] / total,
        },
    }


def _project(language: str, folder: Path) -> Path:
    """A project in ``folder`` with the no-op step of ``language`` alone (and the
    ``go.mod`` a Go step needs): one child, whose pid the measurement reads."""
    (folder / "steps").mkdir(parents=True)
    shutil.copy2(FILES[language], folder / "steps" / FILES[language].name)
    shutil.copy2(NOOP / "go.mod", folder / "go.mod")
    return folder


def _invoker(broker: Any) -> Callable[..., Awaitable[Any]]:
    """The broker's own invocation path: ``Dispatch.invoke`` (span, invocation
    table, failure logging), or ``Broker._invoke`` in revisions before the broker
    was split into parts (``--rev`` of an older commit)."""
    dispatch = getattr(broker, "dispatch", None)
    invoke: Callable[..., Awaitable[Any]] = (
        dispatch.invoke if dispatch is not None else broker._invoke
    )
    return invoke


async def via_broker(language: str, count: int, inflight: int, warmup: int) -> dict[str, Any]:
    """A no-op step of ``language`` invoked through the broker as an event delivery
    invokes it: a :class:`motiad.broker.Broker` on a one-step project with SQLite
    storage, its spans recorded into the store as ``motiad run`` records them."""
    Broker = _motiad("broker").Broker
    load_settings = _motiad("config").load_settings
    EventTrigger = _motiad("protocol.messages").EventTrigger
    open_store = _motiad("storage").open_store
    LogBus, new_id = _motiad("tracing").LogBus, _motiad("tracing").new_id

    with tempfile.TemporaryDirectory(prefix="motiad-bench-invoke-") as scratch:
        project = _project(language, Path(scratch))
        settings = load_settings(project)
        logs = LogBus()
        store = open_store(settings, project)
        async with anyio.create_task_group() as tg:
            await tg.start(store.serve)
            broker = Broker(project, settings, store, logs)
            broker.spans.subscribe(store.record_span)
            spans: list[Any] = []
            broker.spans.subscribe(spans.append)
            async with anyio.create_task_group() as children:
                report = await broker.load(children)
                if report.errors or len(broker.steps) != 1:
                    raise RuntimeError(f"the {language} no-op step did not load: {report.errors}")
                (step,) = broker.steps.values()
                invoke = _invoker(broker)
                trace_id, event_id = new_id(), new_id()
                trigger = EventTrigger("noop", event_id, None)

                async def one() -> None:
                    await invoke(step, trigger, {"n": 1}, trace_id)

                try:
                    figures = await _measure(
                        one, _workers(one), count, inflight, _only_child(), warmup
                    )
                finally:
                    with anyio.CancelScope(shield=True):
                        await broker.stop()
                    children.cancel_scope.cancel()
            with anyio.move_on_after(10, shield=True):
                await store.flush_traces()
            tg.cancel_scope.cancel()
    figures["spans"] = len(spans)
    return figures


def _echo_line() -> bytes:
    """A line the size of a real invoke request (the bytes the broker writes to a child)."""
    messages = _motiad("protocol.messages")
    EventTrigger, InvokeParams = messages.EventTrigger, messages.InvokeParams
    new_id = _motiad("tracing").new_id
    params = InvokeParams(
        str(FILES["python"]),
        EventTrigger("noop", new_id(), None),
        {"n": 1},
        new_id(),
        new_id(),
        1,
        TIMEOUT_MS,
    )
    line: bytes = _motiad("protocol.codec").encode_request(1, "invoke", params)
    return line


class _Lines:
    """Read whole lines from a byte stream (the echo's replies)."""

    def __init__(self, process: Process) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self._buffer = b""

    async def next(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            self._buffer += await self._stream.receive()


async def via_echo(language: str, count: int, inflight: int, warmup: int) -> dict[str, Any]:
    """The same parent writing one line to a raw echo child and reading it back. The
    pipelined floor keeps ``inflight`` lines outstanding the cheapest way: one task
    writes as many lines as replies came back, in one write per read."""
    if language == "python":
        argv = [sys.executable, str(HERE / "echo_child.py")]
    elif language == "go":
        binary = NOOP / ".motiad" / "echo_child"
        binary.parent.mkdir(exist_ok=True)
        await anyio.run_process(
            ["go", "build", "-o", str(binary), str(HERE / "echo_child.go")],
            env={**os.environ, "GOFLAGS": "", "GOPROXY": "off", "GOTOOLCHAIN": "local"},
        )
        argv = [str(binary)]
    else:
        argv = [shutil.which("node") or "node", str(HERE / "echo_child.mjs")]
    line = _echo_line()
    process = await anyio.open_process(argv)
    assert process.stdin is not None
    assert process.stdout is not None
    stdin, stdout = process.stdin, process.stdout
    lines = _Lines(process)

    async def sequential() -> None:
        await stdin.send(line)
        await lines.next()

    async def pipelined(total: int, window: int) -> None:
        sent = min(window, total)
        await stdin.send(line * sent)
        received = 0
        while received < total:
            replies = (await stdout.receive()).count(b"\n")
            received += replies
            more = min(replies, total - sent)
            if more:
                await stdin.send(line * more)
                sent += more

    try:
        figures = await _measure(sequential, pipelined, count, inflight, process.pid, warmup)
    finally:
        with anyio.CancelScope(shield=True):
            await stdin.aclose()
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()
    return figures


def main() -> None:
    """Parse the arguments, run one measurement, print its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", choices=LANGUAGES, required=True)
    parser.add_argument("--via", choices=("broker", "echo"), required=True)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed round trips first")
    args = parser.parse_args()
    run = via_broker if args.via == "broker" else via_echo
    figures = anyio.run(run, args.language, args.count, args.inflight, args.warmup)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
