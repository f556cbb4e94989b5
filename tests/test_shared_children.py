"""Steps share warm children (issue 17): one child per language hosts every
step of that language; ``[process] isolate_steps`` keeps a child per file; a
crash of a shared child loses no accepted event; a file that kills the shared
child while it loads gets a child of its own, so its neighbours still load.

Motia 1.x runs one long-lived worker per language that imports every step
(Motia 0.17 spawned a process per call): sharing is the default here too."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from motiad.runners import sdk_dir
from motiad.supervisor import argument_room

from .harness import (
    FIXTURES,
    MotiadProcess,
    children_of,
    command_line,
    make_project,
    motiad,
    sdk_language,
    serving_child,
)
from .test_delivery import FAST_RETRIES, emit
from .test_polyglot import polyglot_project

pytestmark = pytest.mark.anyio

PONG = """export const config = { name: 'Pong', type: 'api', path: '/pong', method: 'GET' }
export const handler = async () => ({ status: 200, body: { pong: true } })
"""


def shared_project(root: Path, *names: str, settings: str = "") -> Path:
    project = make_project(root, *(FIXTURES / "delivery" / name for name in names))
    (project / "steps" / "pong.step.ts").write_text(PONG)
    (project / "motiad.toml").write_text(FAST_RETRIES + settings)
    return project


def sdk_children(pid: int) -> tuple[list[int], list[int]]:
    """The node and the python children of the broker ``pid``."""
    children = {child: sdk_language(child) for child in children_of(pid)}
    node = [c for c, language in children.items() if language == "node"]
    python = [c for c, language in children.items() if language == "python"]
    assert len(node) + len(python) == len(children), children
    return node, python


async def test_the_steps_of_a_language_share_one_child(tmp_path: Path) -> None:
    project = shared_project(
        tmp_path / "p", "emitter.step.ts", "recorder_step.py", "worker_step.py"
    )
    async with motiad("run", str(project), "--port", "0") as broker:
        node, python = sdk_children(broker.process.pid)
        assert (len(node), len(python)) == (1, 1)
        async with httpx.AsyncClient(base_url=broker.url) as http:
            assert (await http.get("/pong")).json() == {"pong": True}
            listed = (await http.get("/__motiad/api/steps")).json()["steps"]
        children = {step["name"]: step["child"] for step in listed}
        assert children["Emitter"] == children["Pong"]
        assert children["Pong"] == {"name": "node [Emitter, Pong]", "workers": 1, "pids": node}
        assert children["Recorder"]["pids"] == python
        await emit(broker.url, "load", {"n": 1})
        await broker.wait_for(r"Recorder \w+ seen 1")


async def test_isolate_steps_gives_every_step_file_a_child(tmp_path: Path) -> None:
    settings = "[process]\nisolate_steps = true\n"
    project = shared_project(
        tmp_path / "p", "emitter.step.ts", "recorder_step.py", "worker_step.py", settings=settings
    )
    async with motiad("run", str(project), "--port", "0") as broker:
        node, python = sdk_children(broker.process.pid)
        assert (len(node), len(python)) == (2, 2)
        async with httpx.AsyncClient(base_url=broker.url) as http:
            assert (await http.get("/pong")).json() == {"pong": True}


async def test_a_crash_of_a_shared_child_loses_no_event_and_its_steps_serve_again(
    tmp_path: Path,
) -> None:
    project = shared_project(
        tmp_path / "p", "emitter.step.ts", "recorder_step.py", "worker_step.py"
    )
    async with motiad("run", str(project), "--port", "0") as broker:
        await emit(broker.url, "work", {"n": 1})
        await broker.wait_for(r'Worker \w+ working .*"attempt":1')
        _, (python,) = sdk_children(broker.process.pid)
        os.kill(python, signal.SIGKILL)
        await broker.wait_for(r"(child exited with code -9|killed by SIGKILL)")
        await broker.wait_for(r'Worker \w+ work done .*"attempt":2')
        await emit(broker.url, "load", {"n": 2})  # its neighbour serves again
        await broker.wait_for(r"Recorder \w+ seen 2")
        async with httpx.AsyncClient(base_url=broker.url) as http:  # the node child never stopped
            assert (await http.get("/pong")).json() == {"pong": True}


async def test_a_file_that_kills_the_shared_child_as_it_loads_gets_a_child_of_its_own(
    tmp_path: Path,
) -> None:
    project = shared_project(tmp_path / "p", "emitter.step.ts", "recorder_step.py")
    (project / "steps" / "bomb_step.py").write_text("import os\n\nos._exit(3)\n")
    async with motiad("run", str(project), "--port", "0", "--allow-broken") as broker:
        await broker.wait_for(r"python child of 2 step files did not start")
        await broker.wait_for(r"steps/bomb_step.py")
        await emit(broker.url, "load", {"n": 1})
        await broker.wait_for(r"Recorder \w+ seen 1")


async def test_dev_reloads_a_shared_child_without_failing_a_request(tmp_path: Path) -> None:
    """Editing one TS file restarts the node child of every TS step: the new
    child starts beside the old one and takes over, so a neighbour's requests
    made all along are answered."""
    project = shared_project(tmp_path / "p", "emitter.step.ts", "recorder_step.py")
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        old_node = await serving_child(broker.process.pid, "node")
        mark = len(broker.lines)
        (project / "steps" / "pong.step.ts").write_text(PONG.replace("pong: true", "pong: 2"))
        statuses: list[int] = []
        with anyio.fail_after(30):
            while not any("Pong ready" in line for line in broker.lines[mark:]):
                statuses.append((await http.post("/emit/none", json={"items": []})).status_code)
        assert statuses
        assert set(statuses) == {202}
        assert (await http.get("/pong")).json() == {"pong": 2}
        assert await serving_child(broker.process.pid, "node") != old_node


async def titles(broker: MotiadProcess, shown: Callable[[list[str]], bool]) -> list[str]:
    """The command lines ``ps`` shows for the broker's children, sorted, once
    ``shown`` holds of them (each child sets its title right after it loads)."""
    with anyio.fail_after(30):
        while True:
            lines = sorted(command_line(child) for child in children_of(broker.process.pid))
            if shown(lines):
                return lines
            await anyio.sleep(0.05)


def titled(count: int) -> Callable[[list[str]], bool]:
    """Whether ``count`` children show a title."""
    return lambda lines: sum(line.startswith("motiad: ") for line in lines) >= count


async def test_ps_names_each_child_by_its_language_and_steps(tmp_path: Path) -> None:
    """Issue 17: `ps aux` tells the children apart (SPEC lifecycle.title), in all
    four languages; the title is the name the listing and the logs give."""
    project = polyglot_project(tmp_path / "polyglot")
    async with motiad("run", str(project), "--port", "0") as broker:
        assert await titles(broker, titled(5)) == [
            "motiad: go [GetOrder]",  # its command takes {file}: a child per file
            "motiad: go [ShipOrder]",
            "motiad: node [OrderShipped, SubmitOrder]",
            "motiad: python [PriceOrder]",
            "motiad: ruby [InvoiceOrder]",
        ]
        async with httpx.AsyncClient(base_url=broker.url) as http:
            listed = (await http.get("/__motiad/api/steps")).json()["steps"]
        node = next(step["child"] for step in listed if step["name"] == "SubmitOrder")
        assert node["name"] == "node [OrderShipped, SubmitOrder]"
        ps = await anyio.run_process(["ps", "-o", "args=", "-p", str(node["pids"][0])])
        assert ps.stdout.decode().strip() == "motiad: node [OrderShipped, SubmitOrder]"


async def test_a_title_too_long_for_the_argument_area_shows_fewer_names(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    room = argument_room([node, str(sdk_dir("sdk-node") / "src" / "runner.mjs")])
    # names as long as one can be and fit ("motiad: node [" + name + ", +3]"):
    # two cannot then (the room, both paths, is over the 40 bytes that needs
    # wherever node and the SDK live)
    length = room - len("motiad: node [, +3]")
    names = [f"Step{n}" + "x" * (length - len("Step0")) for n in range(3)]
    project = shared_project(tmp_path / "p", "recorder_step.py")
    for n, name in enumerate(names):
        (project / "steps" / f"long{n}.step.ts").write_text(
            PONG.replace("'Pong'", f"'{name}'").replace("/pong", f"/l{n}")
        )
    full = f"motiad: node [{names[0]}, {names[1]}, +2]"
    shorter = f"motiad: node [{names[0]}, +3]"
    assert len(shorter) <= room < len(full)
    async with motiad("run", str(project), "--port", "0") as broker:
        assert shorter in await titles(broker, titled(2))


async def test_dev_retitles_the_child_whose_steps_change(tmp_path: Path) -> None:
    project = shared_project(tmp_path / "p", "recorder_step.py")
    async with motiad("dev", str(project), "--port", "0") as broker:
        assert "motiad: node [Pong]" in await titles(broker, titled(2))
        (project / "steps" / "ping.step.ts").write_text(
            PONG.replace("'Pong'", "'Ping'").replace("/pong", "/ping")
        )
        await titles(broker, lambda lines: "motiad: node [Ping, Pong]" in lines)


async def spare_child(pid: int, language: str) -> int:
    """The child of ``pid`` started for ``language`` that does not serve yet
    (it shows its command, not a title): ``motiad dev``'s warm spare."""
    with anyio.fail_after(20):
        while True:
            found = [
                c
                for c in children_of(pid)
                if sdk_language(c) == language and not command_line(c).startswith("motiad: ")
            ]
            if found:
                (child,) = found
                return child
            await anyio.sleep(0.02)


async def test_dev_reloads_a_shared_child_into_a_warm_spare(tmp_path: Path) -> None:
    """Issue 17: a TS edit is live sooner when the new child's runtime and SDK
    are already loaded: dev keeps a spare per shared language, waiting for its
    initialize, and starts the next one once the reload is over."""
    project = shared_project(tmp_path / "p", "recorder_step.py")
    async with (
        motiad("dev", str(project), "--port", "0") as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        spare = await spare_child(broker.process.pid, "node")
        mark = len(broker.lines)
        (project / "steps" / "pong.step.ts").write_text(PONG.replace("pong: true", "pong: 2"))
        await broker.wait_for(r"Pong\s+ready", start=mark)
        assert (await http.get("/pong")).json() == {"pong": 2}
        assert await serving_child(broker.process.pid, "node") == spare
        assert await spare_child(broker.process.pid, "node") != spare


CPU_STEP = '''"""A sync (CPU-bound) handler: each waits, bounded, until {count} have started."""

import os
import time
from pathlib import Path

config = {{
    "name": "Cpu",
    "type": "event",
    "subscribes": ["cpu"],
    "emits": [],
    "infrastructure": {{"handler": {handler}}},
}}
MARKS = Path(__file__).resolve().parents[1] / "marks"


def handler(input, context):
    MARKS.mkdir(exist_ok=True)
    (MARKS / f"{{os.getpid()}}-{{input.n}}").touch()
    deadline = time.monotonic() + 20
    while len(list(MARKS.iterdir())) < {count} and time.monotonic() < deadline:
        time.sleep(0.01)
    context.logger.info(f"pid {{os.getpid()}}")
'''


async def pids_of_two_cpu_events(broker_url: str, broker: MotiadProcess) -> set[str]:
    await emit(broker_url, "cpu", {"n": 1}, {"n": 2})
    first = await broker.wait_for(r"Cpu \w+ pid (\d+)")
    mark = broker.lines.index(first.string) + 1
    second = await broker.wait_for(r"Cpu \w+ pid (\d+)", start=mark)
    return {first.group(1), second.group(1)}


@pytest.mark.parametrize(
    ("handler", "settings"),
    [
        ("{}", "[languages.python]\nworkers = 2\n"),
        ('{"workers": 2}', ""),
    ],
    ids=["language-pool", "step-pool"],
)
async def test_a_pool_of_two_runs_two_cpu_bound_events_in_two_children(
    tmp_path: Path, handler: str, settings: str
) -> None:
    """`[languages.NAME] workers` and `infrastructure.handler.workers`: the
    second event goes to the idle child, so a sync handler uses a second core."""
    project = shared_project(tmp_path / "p", "emitter.step.ts", settings=settings)
    (project / "steps" / "cpu_step.py").write_text(CPU_STEP.format(handler=handler, count=2))
    async with motiad("run", str(project), "--port", "0") as broker:
        _, python = sdk_children(broker.process.pid)
        assert len(python) == 2
        assert await pids_of_two_cpu_events(broker.url, broker) == {str(p) for p in python}


async def test_an_isolated_step_gets_a_child_of_its_own(tmp_path: Path) -> None:
    """`infrastructure.handler.isolated` (motiad's addition beside Motia's ram/cpu/timeout)."""
    project = shared_project(tmp_path / "p", "emitter.step.ts", "recorder_step.py")
    handler = '{"isolated": True}'
    (project / "steps" / "cpu_step.py").write_text(CPU_STEP.format(handler=handler, count=1))
    async with motiad("run", str(project), "--port", "0") as broker:
        _, python = sdk_children(broker.process.pid)
        assert len(python) == 2  # the shared one (Recorder) and Cpu's own
        await emit(broker.url, "cpu", {"n": 1})
        found = await broker.wait_for(r"Cpu \w+ pid (\d+)")
        await emit(broker.url, "load", {"n": 1})
        await broker.wait_for(r"Recorder \w+ seen 1")
        os.kill(int(found.group(1)), signal.SIGKILL)  # its neighbours never notice
        await emit(broker.url, "load", {"n": 2})
        await broker.wait_for(r"Recorder \w+ seen 2")
