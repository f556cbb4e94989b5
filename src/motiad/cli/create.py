"""``motiad create``: a new project, as Motia's quick start describes its own.

In a terminal it asks a few questions (the project's name, the template, the
package manager, whether to install now); every answer has a flag, so a script
asks nothing (``-y`` takes the defaults of whatever no flag gave). Then it
writes the template, installs the Node packages with the chosen package
manager (and the Python ones into ``.venv`` when ``requirements.txt`` lists
any), and says the one command that starts the dev server.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click

from ..errors import MotiadError
from ..pyenv import install as install_requirements
from ..pyenv import lists_packages
from ..scaffold import DEFAULT_TEMPLATE, PACKAGE_MANAGERS, TEMPLATES, create_project

DEFAULT_NAME = "my-motiad-app"


@click.command()
@click.argument("name", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--template",
    type=click.Choice(list(TEMPLATES)),
    help=f"What the project starts with (default: {DEFAULT_TEMPLATE}: "
    f"{TEMPLATES[DEFAULT_TEMPLATE]}).",
)
@click.option(
    "--package-manager",
    type=click.Choice(list(PACKAGE_MANAGERS)),
    help="What installs the project's Node packages (default: npm).",
)
@click.option(
    "--install/--no-install",
    "install_now",
    default=None,
    help="Install the project's packages now (default: yes).",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: the default for every answer.")
def create(
    name: Path | None,
    template: str | None,
    package_manager: str | None,
    install_now: bool | None,
    yes: bool,
) -> None:
    """Create a project in the new folder NAME (asked for in a terminal). The
    default template, the starter, has a tutorial flow: open the workbench and
    press Tutorial."""
    ask = not yes and sys.stdin.isatty()
    if name is None:
        if not ask:
            raise click.UsageError(
                "give the project's folder: motiad create NAME (or run it in a terminal)"
            )
        name = Path(click.prompt("Project name", default=DEFAULT_NAME))
    if template is None:
        template = _choose("Template", TEMPLATES, DEFAULT_TEMPLATE) if ask else DEFAULT_TEMPLATE
    if package_manager is None:
        choices = {pm: " ".join(manager.install) for pm, manager in PACKAGE_MANAGERS.items()}
        package_manager = _choose("Package manager", choices, "npm") if ask else "npm"
    if install_now is None:
        install_now = click.confirm("Install the packages now?", default=True) if ask else True
    try:
        written = create_project(name, template=template, package_manager=package_manager)
    except MotiadError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {name}/ from the {template} template:")
    for path in written:
        click.echo(f"  {path.as_posix()}")
    manager = PACKAGE_MANAGERS[package_manager]
    next_steps = [f"cd {shlex.quote(str(name))}"]
    if install_now:
        _install(name, package_manager)
    else:
        next_steps.append(" ".join(manager.install))
    next_steps.append(f"{manager.dev}    # motiad dev: http://localhost:3000/__motiad/")
    click.echo("\nNext:\n" + "".join(f"  {line}\n" for line in next_steps), nl=False)
    if template == DEFAULT_TEMPLATE:
        click.echo("Then open the workbench and press Tutorial.")


def _choose(question: str, choices: dict[str, str], default: str) -> str:
    """Ask for one of ``choices`` (shown with what each means)."""
    click.echo(f"{question}:")
    for choice, meaning in choices.items():
        click.echo(f"  {choice:<8} {meaning}")
    answer: str = click.prompt(question, type=click.Choice(list(choices)), default=default)
    return answer


def _install(project: Path, package_manager: str) -> None:
    """The installs a new project needs to run: its Node packages, and its
    Python packages into ``.venv`` when ``requirements.txt`` lists any. The
    tools' own output goes to the terminal as it comes."""
    command = PACKAGE_MANAGERS[package_manager].install
    if shutil.which(command[0]) is None:
        raise click.ClickException(
            f"{command[0]} is not installed here: install it, choose another with"
            f" --package-manager, or skip this with --no-install (the project is written)"
        )
    click.echo(f"\nInstalling the Node packages: {' '.join(command)}")
    if subprocess.run(command, cwd=project, check=False).returncode != 0:
        raise click.ClickException(f"`{' '.join(command)}` failed in {project} (see above)")
    if lists_packages(project / "requirements.txt"):
        try:
            install_requirements(project.resolve(), click.echo)
        except MotiadError as exc:
            raise click.ClickException(str(exc)) from None
