"""README "Production" (issue #21): the systemd unit shipped in docs/ is the
one the README documents and systemd accepts it; the README's Prometheus
scrape config is one Prometheus accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import REPO

UNIT = REPO / "docs" / "motiad.service"


def production_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("\n## Production\n")
    return text[start : text.index("\n## ", start + 1)]


def exec_start(text: str) -> str:
    found = re.search(r"^ExecStart=.*$", text, flags=re.M)
    assert found is not None
    return found.group(0)


def test_the_readme_documents_the_shipped_units_command_line() -> None:
    assert exec_start(production_section()) == exec_start(UNIT.read_text())


def test_the_units_command_line_is_one_motiad_run_accepts(tmp_path: Path) -> None:
    argv = exec_start(UNIT.read_text()).removeprefix("ExecStart=").split()
    assert argv[0].endswith("/bin/motiad")
    assert argv[1] == "run"
    # every option is one `motiad run` knows, with a value it takes
    help_text = subprocess.run(
        [sys.executable, "-m", "motiad", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for option in (arg for arg in argv[3:] if arg.startswith("--")):
        assert option in help_text, option


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # the unit names /srv/my-app, which does not exist here: point it at real paths
    motiad = Path(sys.executable).with_name("motiad")
    unit = tmp_path / "motiad.service"
    text = UNIT.read_text().replace("/srv/my-app/.venv/bin/motiad", str(motiad))
    unit.write_text(text.replace("/srv/my-app", str(tmp_path)))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool here")
def test_prometheus_accepts_the_readmes_scrape_config(tmp_path: Path) -> None:
    (config,) = re.findall(r"```yaml\n# prometheus.yml\n(.*?)```", production_section(), re.S)
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    checked = subprocess.run(
        ["promtool", "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
