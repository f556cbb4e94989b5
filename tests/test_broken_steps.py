"""A step that fails to load is loud (issue #20): ``motiad run`` refuses to
start and lists every error with its file and line (``--allow-broken`` serves
the rest); ``motiad dev`` serves the rest and the workbench shows the error
until the file is fixed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from .browser import open_page
from .harness import motiad, run_cli

pytestmark = pytest.mark.anyio
expect.set_options(timeout=20_000)

FINE = (
    'config = {"name": "Fine", "type": "api", "path": "/fine", "method": "GET"}\n'
    "async def handler(req, context):\n"
    '    return {"status": 200, "body": {"fine": True}}\n'
)
BROKEN = (
    "import os\n"
    "import not_installed_anywhere\n"
    'config = {"name": "Broken", "type": "api", "path": "/broken", "method": "GET"}\n'
    "async def handler(req, context):\n"
    '    return {"status": 200, "body": {}}\n'
)


def project(root: Path) -> Path:
    (root / "steps").mkdir(parents=True)
    (root / "steps" / "fine_step.py").write_text(FINE)
    (root / "steps" / "broken_step.py").write_text(BROKEN)
    return root


def test_run_refuses_broken_steps_and_lists_each_with_its_line(tmp_path: Path) -> None:
    refused = run_cli("run", str(project(tmp_path)), "--port", "0")
    assert refused.returncode == 1
    assert "1 problem in the step files:" in refused.stderr
    assert (
        "steps/broken_step.py:2: failed to load: ModuleNotFoundError:"
        " No module named 'not_installed_anywhere'" in refused.stderr
    )
    assert "--allow-broken" in refused.stderr
    assert "serving" not in refused.stdout


async def test_run_with_allow_broken_serves_the_rest(tmp_path: Path) -> None:
    async with motiad("run", str(project(tmp_path)), "--port", "0", "--allow-broken") as served:
        assert "steps/broken_step.py:2: failed to load" in served.output()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{served.url}/fine")).json() == {"fine": True}


async def test_dev_shows_the_broken_file_in_the_workbench_until_it_is_fixed(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    async with (
        motiad("dev", str(root), "--port", "0") as served,
        open_page(f"{served.url}/__motiad/") as page,
    ):
        banner = page.locator("#problems")
        await expect(banner).to_contain_text("1 step file failed to load")
        await expect(banner).to_contain_text(
            "steps/broken_step.py:2: failed to load: ModuleNotFoundError"
        )
        mark = len(served.lines)
        (root / "steps" / "broken_step.py").write_text(
            BROKEN.replace("import not_installed_anywhere\n", "")
        )
        await served.wait_for(r"Broken", start=mark)
        await expect(banner).to_be_hidden()
