"""A full disk is a storage fault, not the end of the broker (issue 19, D2: the
WAL checkpoint raised on a full disk and the broker exited): writes fail as
:class:`StorageUnavailable` (HTTP 503), one line says so, and everything works
again once there is space, without a restart.

The disk is a 4 MiB tmpfs mounted in a private mount namespace, so the test
needs root and ``unshare(1)``; elsewhere it skips and says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
