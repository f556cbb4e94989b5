"""What ``motiad run`` holds when idle (issue 17: the 2-step ``ping`` project's
process tree within 120 MB, bench scenario ``startup``): the broker imports the
parts of a feature only when the feature is used, so a project that uses none
of them does not carry their modules."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from .harness import REPO, make_project, motiad

pytestmark = pytest.mark.anyio

PING = REPO / "bench" / "projects" / "ping" / "steps" / "ping_py_step.py"

UNUSED = {
    "prometheus_client": "until /__motiad/metrics is scraped",
    "quart": "until the workbench is opened",
    "watchfiles": "motiad dev's",
    "redis": "the Redis storage backend's",
    "opentelemetry": "the OTLP export's",
    "http.client": "the OTLP sender process's",
    "motiad.conformance": "motiad conformance's",
    "motiad.dev": "motiad dev's",
}


async def test_run_imports_no_module_of_a_feature_the_project_does_not_use(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "p", PING)
    imports = ["env", "PYTHONPROFILEIMPORTTIME=1"]  # -X importtime: each import, on stderr
    async with (
        motiad("run", str(project), "--port", "0", wrap=imports) as broker,
        httpx.AsyncClient(base_url=broker.url) as http,
    ):
        assert (await http.get("/ping-py")).json() == {"pong": True}
        served = len(broker.lines)
        loaded = {
            line.rsplit("|", 1)[1].strip()
            for line in broker.lines
            if line.startswith("import time:")  # the broker's own, not its children's
        }
        assert "motiad.app" in loaded  # the log is the broker's imports
        for module, whose in UNUSED.items():
            found = sorted(n for n in loaded if n == module or n.startswith(module + "."))
            assert not found, f"{module} ({whose}) was imported: {found[:3]}"
        metrics = await http.get("/__motiad/metrics")
        assert metrics.status_code == 200
        assert "motiad_http_requests_total" in metrics.text  # counted before the import
        await broker.wait_for(r"import time: .*\| +prometheus_client$", start=served)
        page = await http.get("/__motiad/")
        assert page.status_code == 200  # the workbench works once opened
        await broker.wait_for(r"import time: .*\| +quart$", start=served)
        assert (await http.get("/__motiad/api/steps")).status_code == 200


FREEZE_PROBE = """
import atexit, gc, runpy, sys
atexit.register(lambda: print(f"frozen objects: {gc.get_freeze_count()}", flush=True))
sys.argv = ["motiad", *sys.argv[4:]]  # -c, then: python -m motiad ARGS
runpy.run_module("motiad", run_name="__main__", alter_sys=True)
"""


async def test_run_keeps_what_start_up_built_out_of_the_collectors_sight(
    tmp_path: Path,
) -> None:
    """Once serving, the broker freezes its start-up heap (``gc.freeze``): the
    modules, steps and tables it built live as long as it does, and a full pass of
    the garbage collector under load walked them all (tens of ms on /ping's p99)."""
    project = make_project(tmp_path / "p", PING)
    probe = [sys.executable, "-c", FREEZE_PROBE]
    async with motiad("run", str(project), "--port", "0", wrap=probe) as broker:
        async with httpx.AsyncClient(base_url=broker.url) as http:
            assert (await http.get("/ping-py")).json() == {"pong": True}
        assert await broker.stop() == 0
        frozen = await broker.wait_for(r"frozen objects: (\d+)")
    assert int(frozen.group(1)) > 10_000  # start-up made ~40,000
