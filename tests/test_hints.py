"""The errors a newcomer meets first say what to do next: a misspelt config
field names the field it likely means, and a step that imports a package the
project lacks says where that package goes."""

from __future__ import annotations

from pathlib import Path

from .harness import QUICKSTART, run_cli


def project_with(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "steps" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "node_modules").symlink_to(QUICKSTART / "node_modules")
    return root


def test_a_misspelt_config_field_names_the_one_it_likely_means(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        {
            "a_step.py": (
                'config = {"name": "A", "type": "event", "subscribe": ["x"]}\n'
                "async def handler(input, context):\n    pass\n"
            ),
            "b.step.ts": (
                "export const config = { name: 'B', type: 'api', path: '/b', method: 'GET',"
                " bodySchemas: {} }\nexport const handler = async () => ({ status: 200 })\n"
            ),
        },
    )
    listed = run_cli("steps", str(project))
    assert listed.returncode == 1
    assert (
        "steps/a_step.py: config.subscribe: unknown field of event steps;"
        " did you mean subscribes?" in listed.stderr + listed.stdout
    )
    assert (
        "steps/b.step.ts: config.bodySchemas: unknown field of api steps;"
        " did you mean bodySchema?" in listed.stderr + listed.stdout
    )


def test_a_missing_package_says_where_it_goes(tmp_path: Path) -> None:
    project = project_with(
        tmp_path,
        {
            "py_step.py": (
                "import not_installed_anywhere\n"
                'config = {"name": "Py", "type": "event", "subscribes": ["x"]}\n'
                "async def handler(input, context):\n    pass\n"
            ),
            "ts.step.ts": (
                "import pad from 'not-installed-anywhere'\n"
                "export const config = { name: 'Ts', type: 'event', subscribes: ['x'] }\n"
                "export const handler = async () => { pad }\n"
            ),
        },
    )
    listed = run_cli("steps", str(project))
    shown = listed.stderr + listed.stdout
    assert listed.returncode == 1
    assert "No module named 'not_installed_anywhere'" in shown
    assert "list the package in requirements.txt, then run `motiad install`" in shown
    assert "not-installed-anywhere" in shown
    assert "add the package to package.json, then run `npm install`" in shown
