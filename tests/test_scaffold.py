"""``motiad create``: a new project that loads with no errors, and refuses to overwrite
(the starter template's own tests are in test_tutorial.py)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from motiad.scaffold import create_project

from .harness import QUICKSTART, run_cli


def test_the_starter_is_the_default_and_the_minimal_template_loads_its_three_steps(
    tmp_path: Path,
) -> None:
    created = run_cli("create", "Shop", cwd=tmp_path)
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
    assert "tsx" in package["devDependencies"]
    assert {"node_modules/", ".motiad/", ".venv/"} <= set(
        (project / ".gitignore").read_text().split()
    )
    assert "# My App" in (project / "README.md").read_text()
    (project / "node_modules").symlink_to(QUICKSTART / "node_modules")

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
    (project / "node_modules").symlink_to(QUICKSTART / "node_modules")

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

    refused = run_cli("create", str(project))

    assert refused.returncode == 1
    assert "exists and is not empty" in refused.stderr
    assert [p.name for p in project.iterdir()] == ["notes.txt"]


def test_create_fills_an_empty_existing_folder(tmp_path: Path) -> None:
    created = run_cli("create", ".", cwd=tmp_path)

    assert created.returncode == 0, created.stderr
    assert (tmp_path / "steps" / "tutorial" / "pack_order_step.py").is_file()
