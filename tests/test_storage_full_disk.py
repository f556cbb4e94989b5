"""A full disk is a storage fault, not the end of the broker (issue 19, D2: the
WAL checkpoint raised on a full disk and the broker exited): writes fail as
:class:`StorageUnavailable` (HTTP 503), one line says so, and everything works
again once there is space, without a restart.

The disk is a 4 MiB tmpfs mounted in a private mount namespace, so the tests
need root and ``unshare(1)``; elsewhere they skip and say why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from .harness import FIXTURES, make_project, motiad

SCRIPT = Path(__file__).parent / "fixtures" / "full_disk" / "fill_the_disk.py"


def in_a_small_tmpfs(disk: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with a 4 MiB tmpfs mounted on ``disk``, seen by it alone."""
    mount = 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(disk), *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_full_disk_fails_writes_as_unavailable_and_heals_when_space_returns(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs in a private namespace")
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = in_a_small_tmpfs(disk, "true")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace: {probe.stderr.strip()}")
    run = in_a_small_tmpfs(disk, sys.executable, str(SCRIPT), str(disk))
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout)
    assert outcome["failures"], "the disk never filled up"
    assert set(outcome["failures"]) == {"StorageUnavailable"}
    assert outcome["checkpoints_tried"]
    assert outcome["publish"] == "unavailable"
    assert outcome["delivered"] == "e1"
    assert outcome["after"] == "1"
    reports = [tuple(report) for report in outcome["reports"]]
    assert len(reports) == 2, reports  # one line for the fault, one for its end
    (level, text), (level_after, text_after) = reports
    assert level == "error"
    assert "cannot write" in text
    assert "full" in text
    assert "503" in text
    assert level_after == "info"
    assert "can be written again" in text_after


@pytest.mark.anyio
async def test_a_broker_on_a_full_disk_answers_503_says_why_once_and_heals(
    tmp_path: Path,
) -> None:
    # The broker itself, on a project whose database is on the small tmpfs: the
    # test fills and empties that disk from inside the broker's mount namespace.
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs root, unshare(1) and nsenter(1) to give the broker a small disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = in_a_small_tmpfs(disk, "true")
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace: {probe.stderr.strip()}")
    project = make_project(
        tmp_path / "p",
        *(FIXTURES / "delivery" / n for n in ("emitter.step.ts", "recorder_step.py")),
    )
    (project / "motiad.toml").write_text(f'storage = "sqlite:{disk / "motiad.db"}"\n')
    mount = 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"'
    wrap = ("unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(disk))
    async with motiad("run", str(project), "--port", "0", wrap=wrap) as broker:

        def on_the_disk(command: str) -> None:
            subprocess.run(
                ["nsenter", "-t", str(broker.process.pid), "-m", "sh", "-c", command],
                capture_output=True,
                timeout=60,
                check=False,  # filling the disk ends with "No space left on device"
            )

        async with httpx.AsyncClient(base_url=broker.url, timeout=30) as http:

            async def load(n: int) -> int:
                item = {"n": n, "padding": "x" * 2000}
                response = await http.post("/emit/load", json={"items": [item]})
                return response.status_code

            assert await load(1) == 202
            await broker.wait_for(r"Recorder .*seen 1")
            on_the_disk(f'cat /dev/zero > "{disk}/filler"')
            statuses = [await load(n) for n in range(2, 40)]
            assert 503 in statuses
            failed = statuses.index(503)
            # enough failed writes that the writer checkpoints the WAL on the full disk
            for n in range(1100):
                assert await load(100 + n) == 503
            found = await broker.wait_for(r"storage: cannot write .*full.*503")
            assert broker.process.returncode is None
            on_the_disk(f'rm "{disk}/filler"')
            with anyio.fail_after(20):  # the fault is over once writes succeed a while
                n = 5000
                while not any("can be written again" in line for line in broker.lines):
                    mark = len(broker.lines)
                    assert await load(n) == 202
                    with anyio.move_on_after(0.2):
                        await broker.wait_for(r"storage: .* can be written again", start=mark)
                    n += 1
            await broker.wait_for(rf"Recorder .*seen {n - 1}")
        errors = [line for line in broker.lines if "storage: cannot write" in line]
        assert errors == [found.string], "one line for the fault, not one per request"
        assert failed < len(statuses)
        assert await broker.stop() == 0
