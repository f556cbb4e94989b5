"""Events are never lost: retries with backoff, dead letters, FIFO groups,
delays, timeouts, crashes of a child and of the broker (ARCHITECTURE §4)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from .harness import FIXTURES, children_of, make_project, motiad, sdk_language

pytestmark = pytest.mark.anyio

FAST_RETRIES = "[queue]\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\n"


def delivery_project(root: Path, *names: str) -> Path:
    project = make_project(root, *(FIXTURES / "delivery" / name for name in names))
    (project / "motiad.toml").write_text(FAST_RETRIES)
    return project


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "motiad", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def emit(url: str, topic: str, *items: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(f"/emit/{topic}", json={"items": list(items)})
    assert response.status_code == 202
    return response


async def test_a_failing_event_is_retried_with_backoff_until_it_succeeds(tmp_path: Path) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "flaky_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "flaky", {"n": 1})
        await broker.wait_for(r"WARN\s+Flaky \w+ attempt 1/4 failed; retrying in")
        await broker.wait_for(r"WARN\s+Flaky \w+ attempt 2/4 failed; retrying in")
        await broker.wait_for(r'Flaky \w+ attempt .*"attempt":3')
        await broker.wait_for(r"Flaky \w+ handled")
        assert "dead-letter" not in broker.output()


async def test_exhausted_events_become_dead_letters_that_can_be_redriven(tmp_path: Path) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "always-fails.step.ts")
    async with motiad("run", str(project), "--port", "0") as broker:
        sent = await emit(broker.url, "doomed", {"n": 5})
        await broker.wait_for(r"moved to the dead-letter queue after 2 attempts")
        (letter,) = json.loads(cli("dlq", "list", "-p", str(project), "--json"))
        assert letter["step"] == "AlwaysFails"
        assert letter["topic"] == "doomed"
        assert letter["attempts"] == 2
        assert letter["error"]["type"] == "Error"
        assert letter["error"]["message"] == "cannot handle 5"
        assert "always-fails.step.ts" in letter["error"]["stack"]
        assert letter["event"]["data"] == {"n": 5}
        assert letter["event"]["traceId"] == sent.headers["x-trace-id"]
        shown = cli("dlq", "show", str(letter["id"]), "-p", str(project))
        assert "cannot handle 5" in shown
        mark = len(broker.lines)
        assert cli("dlq", "redrive", "--all", "-p", str(project)).startswith("redrove 1 dead")
        await broker.wait_for(r'doomed attempt .*"attempt":1', start=mark)
        await broker.wait_for(r"moved to the dead-letter queue after 2 attempts", start=mark)
        assert cli("dlq", "purge", "--topic", "doomed", "-p", str(project)).startswith("purged 1")
        assert json.loads(cli("dlq", "list", "-p", str(project), "--json")) == []


async def test_a_non_retryable_failure_goes_straight_to_the_dead_letters(tmp_path: Path) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "permanent_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "permanent", {"n": 1})
        await broker.wait_for(r"Permanent .*moved to the dead-letter queue \(not retryable\)")
        assert "retrying" not in broker.output()


async def test_a_handler_that_ignores_cancel_gets_its_process_restarted(tmp_path: Path) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "stubborn_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "stubborn", {"n": 1})
        await broker.wait_for(r"Stubborn .*handler timed out after 0.5s")
        await broker.wait_for(r"Stubborn .*\$/cancel")
        await broker.wait_for(r'Stubborn \w+ stubborn attempt .*"attempt":2')
        await broker.wait_for(r"Stubborn \w+ stubborn done")


async def test_a_retry_without_backoff_waits_for_the_restarted_child(tmp_path: Path) -> None:
    # The retry of the timed-out attempt is due at once; it must go to the new
    # process, not to the one just killed (whose exit the broker has not seen yet).
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "stubborn_step.py")
    (project / "motiad.toml").write_text("[queue]\nbackoff_initial_ms = 0\nbackoff_max_ms = 0\n")
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "stubborn", {"n": 1})
        await broker.wait_for(r"Stubborn .*\$/cancel")
        await broker.wait_for(r'Stubborn \w+ stubborn attempt .*"attempt":2')
        await broker.wait_for(r"Stubborn \w+ stubborn done")
    assert "dead-letter" not in broker.output()


async def test_an_event_in_flight_in_a_killed_child_is_delivered_again(tmp_path: Path) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "worker_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "work", {"n": 1})
        await broker.wait_for(r'Worker \w+ working .*"attempt":1')
        (worker,) = [
            pid for pid in children_of(broker.process.pid) if sdk_language(pid) == "python"
        ]
        os.kill(worker, signal.SIGKILL)
        await broker.wait_for(r"Worker .*(child exited with code -9|killed by SIGKILL)")
        await broker.wait_for(r'Worker \w+ work done .*"attempt":2')


async def test_fifo_groups_are_handled_in_emit_order_even_when_a_head_fails(
    tmp_path: Path,
) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "ordered_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        items: list[dict[str, object]] = [{"group": g, "n": n} for n in range(5) for g in "ab"]
        await emit(broker.url, "ordered", *items)
        for group in ("a", "b"):
            await broker.wait_for(rf'Ordered \w+ ordered .*"group":"{group}","n":4')
        handled = re.findall(r'ordered \{"group":"(\w)","n":(\d)\}', broker.output())
        for group in ("a", "b"):
            assert [int(n) for g, n in handled if g == group] == [0, 1, 2, 3, 4]


async def test_delayed_events_and_events_emitted_from_the_cli_are_delivered(
    tmp_path: Path,
) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "later_step.py")
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "later", {"at": "api"})
        await broker.wait_for(r'Later \w+ later .*"emitted":"api"')
        out = cli("emit", "-p", str(project), "--topic", "later", "--data", '{"at": "cli"}')
        trace = re.search(r"trace (\w+)", out)
        assert trace is not None
        await broker.wait_for(rf'Later {trace.group(1)[-8:]} later .*"emitted":"cli"')


async def test_no_accepted_event_is_lost_when_the_broker_is_killed_under_load(
    tmp_path: Path,
) -> None:
    project = delivery_project(tmp_path / "p", "emitter.step.ts", "recorder_step.py")
    accepted: set[int] = set()
    outputs: list[str] = []
    async with motiad("run", str(project), "--port", "0") as broker:
        killed = anyio.Event()

        async def client(numbers: range) -> None:
            async with httpx.AsyncClient(base_url=broker.url) as http:
                for n in numbers:
                    try:
                        answer = await http.post("/emit/load", json={"items": [{"n": n}]})
                    except httpx.TransportError:
                        return  # the broker is gone
                    if answer.status_code == 202:
                        accepted.add(n)
                    if len(accepted) >= 150 and not killed.is_set():
                        broker.process.kill()
                        killed.set()

        async with anyio.create_task_group() as tg:
            for start in range(0, 1600, 100):
                tg.start_soon(client, range(start, start + 100))
        assert killed.is_set()
        await broker.process.wait()
        outputs.append(broker.output())
    assert len(accepted) >= 150
    async with motiad("run", str(project), "--port", "0") as again:
        with anyio.fail_after(60):
            while True:
                seen = {int(n) for n in re.findall(r"seen (\d+)", outputs[0] + again.output())}
                if accepted <= seen:
                    break
                await again.wait_for(r"seen \d+", start=len(again.lines))
        assert await again.stop(signal.SIGTERM) == 0
