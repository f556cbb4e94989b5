"""A real Prometheus server (Debian's ``prometheus``) scraping motiad, for the
metrics test: started on a free port with a scrape config naming the target,
asked through its HTTP API."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx

from .redis_server import free_port

SCRAPE_INTERVAL = "200ms"
"""Short, so a test sees a new value soon (Prometheus accepts intervals under a second)."""


class PrometheusServer:
    """One ``prometheus`` process with its data in ``folder``."""

    def __init__(self, folder: Path, target: str, metrics_path: str) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "prometheus.yml").write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_INTERVAL}\n"
            f"  scrape_timeout: {SCRAPE_INTERVAL}\n"
            "scrape_configs:\n"
            "  - job_name: motiad\n"
            f"    metrics_path: {metrics_path}\n"
            "    static_configs:\n"
            f"      - targets: ['{target}']\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (it answers once its API is up: see :meth:`query`)."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed (apt-get install -y prometheus)")
        with (self.folder / "prometheus.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Stop it and wait for its exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    async def query(self, http: httpx.AsyncClient, promql: str) -> list[dict[str, Any]]:
        """The result vector of an instant query (empty while Prometheus starts)."""
        try:
            answer = await http.get(f"{self.url}/api/v1/query", params={"query": promql})
        except httpx.TransportError:
            return []
        if answer.status_code != 200:
            return []
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    async def value_of(
        self, http: httpx.AsyncClient, promql: str, wanted: float, *, within: float = 60
    ) -> None:
        """Wait until ``promql`` evaluates to ``wanted`` (a single sample)."""
        last: list[dict[str, Any]] = []
        try:
            with anyio.fail_after(within):
                while True:
                    last = await self.query(http, promql)
                    if len(last) == 1 and float(last[0]["value"][1]) == wanted:
                        return
                    # the next scrape is due within SCRAPE_INTERVAL: ask Prometheus again
                    await anyio.wait_all_tasks_blocked()
        except TimeoutError:
            log = (self.folder / "prometheus.log").read_text()[-2000:]
            raise AssertionError(f"{promql}: wanted {wanted}, last {last}\n{log}") from None
