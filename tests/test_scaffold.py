"""``motiad create``: a new project that loads with no errors, and refuses to overwrite
(the starter template's own tests are in test_tutorial.py)."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import sys
import time
from importlib.resources import files
from pathlib import Path

from motiad.scaffold import create_project

from .harness import run_cli


def test_the_starter_is_the_default_and_the_minimal_template_loads_its_three_steps(
    tmp_path: Path,
) -> None:
    created = run_cli("create", "Shop", "--no-install", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "Shop" / "steps" / "tutorial" / "create-order.step.ts").is_file()

    project = tmp_path / "My App"
    create_project(project, template="minimal")
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*")) == [
        ".gitignore",
        "README.md",
        "package.json",
        "requirements.txt",
        "steps",
        "steps/greet_step.py",
        "steps/hello-api.step.ts",
        "steps/log-greeting.step.ts",
        "tsconfig.json",
        "types.d.ts",
    ]
    package = json.loads((project / "package.json").read_text())
    assert package["name"] == "my-app"
    assert "devDependencies" not in package  # the Node SDK brings its own TypeScript loader
    assert {"node_modules/", ".motiad/", ".venv/"} <= set(
        (project / ".gitignore").read_text().split()
    )
    assert "# My App" in (project / "README.md").read_text()

    listed = run_cli("steps", str(project), "--json")
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert listing["errors"] == []
    by_name = {step["name"]: step for step in listing["steps"]}
    assert {name: step["language"] for name, step in by_name.items()} == {
        "HelloApi": "node",
        "Greet": "python",
        "LogGreeting": "node",
    }
    drawn = run_cli("flows", str(project), "--json")
    assert drawn.returncode == 0, drawn.stderr
    (flow,) = json.loads(drawn.stdout)["flows"]
    assert flow["name"] == "hello"
    assert flow["steps"] == ["Greet", "HelloApi", "LogGreeting"]
    assert sorted(flow["topics"]) == ["greeting.requested", "greeting.stored"]


def test_the_minimal_templates_shipped_types_match_what_motiad_types_writes(
    tmp_path: Path,
) -> None:
    project = tmp_path / "app"
    create_project(project, template="minimal")

    regenerated = run_cli("types", str(project))

    assert regenerated.returncode == 0, regenerated.stderr
    shipped = files("motiad") / "templates" / "minimal" / "types.d.ts"
    assert (project / "types.d.ts").read_text() == shipped.read_text(), (
        "the template's types.d.ts is stale: copy the regenerated file over "
        "src/motiad/templates/minimal/types.d.ts"
    )


def test_create_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    project = tmp_path / "taken"
    project.mkdir()
    (project / "notes.txt").write_text("mine")

    refused = run_cli("create", str(project), "--no-install")

    assert refused.returncode == 1
    assert "exists and is not empty" in refused.stderr
    assert [p.name for p in project.iterdir()] == ["notes.txt"]


def test_create_fills_an_empty_existing_folder(tmp_path: Path) -> None:
    created = run_cli("create", ".", "--no-install", cwd=tmp_path)

    assert created.returncode == 0, created.stderr
    assert (tmp_path / "steps" / "tutorial" / "pack_order_step.py").is_file()


def answer_in_a_terminal(
    args: list[str], answers: list[tuple[str, str]], cwd: Path
) -> tuple[int, str]:
    """Run ``motiad ARGS`` on a pseudo-terminal, as a person at a prompt would:
    wait for each question's text, then type its answer. Returns the exit code
    and everything shown. Bounded: a question that never comes fails the test."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: motiad, with the pty as its terminal
        os.chdir(cwd)
        os.execvpe(
            sys.executable, [sys.executable, "-m", "motiad", *args], {**os.environ, "NO_COLOR": "1"}
        )
    shown = b""
    deadline = time.monotonic() + 60

    def read_until(text: bytes) -> None:
        nonlocal shown
        while text not in shown:
            ready, _, _ = select.select([terminal], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no {text!r} within the deadline; shown:\n{shown.decode()}"
            try:
                shown += os.read(terminal, 4096)
            except OSError:  # the child closed the terminal
                raise AssertionError(f"exited before {text!r}; shown:\n{shown.decode()}") from None

    for question, answer in answers:
        read_until(question.encode())
        os.write(terminal, answer.encode() + b"\r")
    with contextlib.suppress(OSError):
        while True:
            ready, _, _ = select.select([terminal], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"motiad did not finish; shown:\n{shown.decode()}"
            chunk = os.read(terminal, 4096)
            if not chunk:
                break
            shown += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode().replace("\r\n", "\n")


def test_create_in_a_terminal_asks_its_questions(tmp_path: Path) -> None:
    # Motia's quick start: "The installer will guide you through a few questions".
    status, shown = answer_in_a_terminal(
        ["create"],
        [
            ("Project name", "kiosk"),
            ("Template", "minimal"),
            ("Package manager", "pnpm"),
            ("Install the packages now?", "n"),
        ],
        tmp_path,
    )
    assert status == 0, shown
    assert (tmp_path / "kiosk" / "steps" / "hello-api.step.ts").is_file()
    assert "Next:\n  cd kiosk\n  pnpm install\n  pnpm dev" in shown
    assert "pnpm dev" in (tmp_path / "kiosk" / "README.md").read_text()


def test_create_asks_nothing_with_yes_and_says_when_a_package_manager_is_missing(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no bun on this PATH
    created = run_cli("create", "app", "-y", "--package-manager", "bun", cwd=tmp_path, env=env)
    assert created.returncode == 1
    assert "bun is not installed here" in created.stderr
    assert "--no-install" in created.stderr
    assert (tmp_path / "app" / "steps" / "tutorial").is_dir()  # written all the same


def test_create_without_a_name_outside_a_terminal_is_a_usage_error(tmp_path: Path) -> None:
    refused = run_cli("create", "--no-install", cwd=tmp_path)
    assert refused.returncode == 2
    assert "motiad create NAME" in refused.stderr
    assert list(tmp_path.iterdir()) == []
