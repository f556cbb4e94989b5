"""The runner registry: ``[languages.NAME]`` in motiad.toml declares how the
step files of a language are found, built and started (SPEC §9
`runner.registry`); python, node, go and ruby are built-in entries of the same form."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from motiad.config import BUILTIN_LANGUAGES, Settings, load_settings
from motiad.discovery import discover_steps
from motiad.errors import ConfigError
from motiad.runners import build_command, child_command, sdk_dir

from .harness import REPO, run_cli

SDK_NODE = REPO / "sdk-node"


def settings_of(tmp_path: Path, toml: str) -> Settings:
    (tmp_path / "motiad.toml").write_text(toml)
    return load_settings(tmp_path, {}, {})


def test_the_built_in_entries_are_the_registry_without_a_motiad_toml(tmp_path: Path) -> None:
    languages = load_settings(tmp_path, {}, {}).languages
    assert set(languages) == set(BUILTIN_LANGUAGES) == {"python", "node", "go", "ruby"}
    assert languages["go"].patterns == ["*.step.go"]
    assert languages["go"].build == ["sh", "{sdk}/build.sh", "{project}", "{files}"]


def test_a_project_declares_a_language_and_overrides_a_built_in_key_by_key(
    tmp_path: Path,
) -> None:
    """SPEC `runner.registry`: declared entries join the built-in ones; an entry
    for a built-in language replaces only the keys it gives."""
    settings = settings_of(
        tmp_path,
        '[languages.perl]\npatterns = ["*_step.pl"]\n'
        'command = ["perl", "{sdk}/runner.pl", "{file}"]\n'
        'sdk = "vendor/motiad-perl"\n'
        '[languages.python]\ncommand = ["{python}", "-X", "utf8", "-m", "motiad_sdk"]\n',
    )
    assert settings.languages["perl"].patterns == ["*_step.pl"]
    python = settings.languages["python"]
    assert python.command == ["{python}", "-X", "utf8", "-m", "motiad_sdk"]
    assert python.patterns == BUILTIN_LANGUAGES["python"]["patterns"]
    assert python.sdk == "sdk-python"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[languages.perl]\npatterns = ["*_step.pl"]\n', "languages.perl.command: missing"),
        ('[languages.perl]\ncommand = ["perl"]\n', "languages.perl.patterns: missing"),
        (
            '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["perl"]\npattern = "x"\n',
            "languages.perl.pattern: unknown setting; did you mean patterns?",
        ),
        (
            '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = []\n',
            "languages.perl.command: must not be empty",
        ),
        (
            '[languages.perl]\npatterns = []\ncommand = ["perl"]\n',
            "languages.perl.patterns: must name at least one pattern",
        ),
        (
            '[languages.perl]\npatterns = ["steps/*.pl"]\ncommand = ["perl"]\n',
            "languages.perl.patterns[0]: 'steps/*.pl': a pattern matches file names",
        ),
        (
            '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["perl", "{fil}"]\n',
            "languages.perl.command[1]: unknown placeholder {fil}; expected {file}, {project},"
            " {sdk}, {python}",
        ),
        (
            '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["perl", "{sdk}/r.pl"]\n',
            "languages.perl.command[1]: uses {sdk}, so the entry needs `sdk = ...`",
        ),
        (
            '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["r"]\n'
            'build = ["make", "{file}"]\n',
            "languages.perl.build[1]: unknown placeholder {file}",
        ),
        (
            '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["r"]\nbuild = []\n',
            "languages.perl.build: must not be empty",
        ),
        ('[languages.Perl]\npatterns = ["*.pl"]\ncommand = ["r"]\n', "languages.Perl: a language"),
        ('languages = ["perl"]\n', "languages: expected a table"),
        ("[languages]\nperl = 1\n", "languages.perl: expected a table"),
    ],
)
def test_a_wrong_entry_fails_at_start_naming_the_file_key_and_problem(
    tmp_path: Path, toml: str, expected: str
) -> None:
    """SPEC `runner.registry`."""
    with pytest.raises(ConfigError) as caught:
        settings_of(tmp_path, toml)
    assert str(caught.value).startswith(f"{tmp_path / 'motiad.toml'}: ")
    assert expected in str(caught.value)


def test_discovery_uses_the_declared_patterns(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    (steps / "deep").mkdir(parents=True)
    for name in ("a_step.pl", "deep/b_step.pl", "c.step.go", "d_step.py", "notes.pl"):
        (steps / name).write_text("")
    settings = settings_of(
        tmp_path, '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["r"]\n'
    )
    found = {(f.relative, f.language) for f in discover_steps(tmp_path, settings.languages)}
    assert found == {
        ("steps/a_step.pl", "perl"),
        ("steps/deep/b_step.pl", "perl"),
        ("steps/c.step.go", "go"),
        ("steps/d_step.py", "python"),
    }


def test_a_file_two_languages_claim_is_an_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "x.step.ts").write_text("")
    settings = settings_of(
        tmp_path, '[languages.deno]\npatterns = ["*.step.ts"]\ncommand = ["deno"]\n'
    )
    with pytest.raises(
        ConfigError, match=r"steps/x.step.ts: matches the patterns of deno and node"
    ):
        discover_steps(tmp_path, settings.languages)


def test_placeholders_are_filled_for_the_child_and_the_build(tmp_path: Path) -> None:
    """SPEC `runner.registry`: {file}, {project}, {sdk} (a folder of the project
    here), and {files} in a build as one argument per file."""
    (tmp_path / "vendor" / "sdk").mkdir(parents=True)
    (tmp_path / ".env").write_text("GEM_PATH=/from/dotenv\nMODE=dev\n")
    settings = settings_of(
        tmp_path,
        '[languages.perl]\npatterns = ["*_step.pl"]\n'
        'command = ["sh", "{sdk}/runner.sh", "{project}", "{file}"]\n'
        'build = ["sh", "-c", "true", "{sdk}", "{files}"]\n'
        'env = { GEM_PATH = "{sdk}/gems", MODE = "test" }\nsdk = "vendor/sdk"\n',
    )
    sdk = tmp_path / "vendor" / "sdk"
    step = tmp_path / "steps" / "a_step.pl"
    command = child_command("perl", tmp_path, settings, step)
    assert command.argv[1:] == [f"{sdk}/runner.sh", str(tmp_path), str(step)]
    assert Path(command.argv[0]).name == "sh"
    assert command.env["GEM_PATH"] == f"{sdk}/gems:/from/dotenv"  # *PATH: prepended
    assert command.env["MODE"] == "test"  # the runner's own variables come last
    other = tmp_path / "steps" / "b_step.pl"
    build = build_command("perl", tmp_path, settings, [step, other])
    assert build is not None
    assert build.argv[1:] == ["-c", "true", str(sdk), str(step), str(other)]
    assert build_command("python", tmp_path, settings, []) is None


def test_the_built_in_entries_start_the_bundled_sdks(tmp_path: Path) -> None:
    go = (
        child_command("go", tmp_path, Settings(), tmp_path / "steps" / "a.step.go")
        if (tmp_path / ".motiad" / "go" / "steps").exists()
        else None
    )
    assert go is None  # not built yet: see the next test
    build = build_command("go", tmp_path, Settings(), [tmp_path / "steps" / "a.step.go"])
    assert build is not None
    assert build.argv[1:] == [
        str(sdk_dir("sdk-go") / "build.sh"),
        str(tmp_path),
        str(tmp_path / "steps" / "a.step.go"),
    ]


def test_the_ruby_entry_runs_the_bundled_ruby_sdk_for_both_file_patterns(tmp_path: Path) -> None:
    """Motia 0.17 ran Ruby steps; ours are ``*.step.rb`` and ``*_step.rb``."""
    (tmp_path / "steps").mkdir()
    for name in ("a.step.rb", "b_step.rb", "notes.rb"):
        (tmp_path / "steps" / name).write_text("")
    found = {(f.relative, f.language) for f in discover_steps(tmp_path, Settings().languages)}
    assert found == {("steps/a.step.rb", "ruby"), ("steps/b_step.rb", "ruby")}
    command = child_command("ruby", tmp_path, Settings(), tmp_path / "steps" / "a.step.rb")
    assert command.argv[1:] == [str(sdk_dir("sdk-ruby") / "runner.rb")]
    assert Path(command.argv[0]).name.startswith("ruby")


def test_a_runner_that_is_not_there_names_the_file_and_the_key(tmp_path: Path) -> None:
    settings = settings_of(
        tmp_path,
        '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["no-such-perl-9"]\n'
        'install_hint = "install Perl 5"\n',
    )
    with pytest.raises(ConfigError) as caught:
        child_command("perl", tmp_path, settings, tmp_path / "steps" / "a_step.pl")
    assert str(caught.value) == (
        "steps/a_step.pl: cannot start the perl runner (languages.perl.command[0]):"
        " no-such-perl-9 is not on PATH; install Perl 5"
    )
    with pytest.raises(
        ConfigError,
        match=r"steps/a.step.go: cannot start the go runner .*"
        r"\.motiad/go/steps does not exist; run the \[languages.go\] build first",
    ):
        child_command("go", tmp_path, Settings(), tmp_path / "steps" / "a.step.go")


def node_language(tmp_path: Path, command: str) -> Path:
    """A project whose ``*.handler.mjs`` files are a declared language."""
    (tmp_path / "steps").mkdir()
    (tmp_path / "motiad.toml").write_text(
        f'[languages.esm]\npatterns = ["*.handler.mjs"]\ncommand = {command}\nsdk = "{SDK_NODE}"\n'
    )
    return tmp_path


def test_steps_of_a_declared_language_join_the_project(tmp_path: Path) -> None:
    """SPEC `runner.registry`: a language motiad's code does not know, from motiad.toml."""
    project = node_language(tmp_path, '["node", "{sdk}/src/runner.mjs"]')
    (project / "steps" / "hello.handler.mjs").write_text(
        "export const config = { name: 'Hello', type: 'api', path: '/hello', method: 'GET' }\n"
        "export const handler = async () => ({ status: 200, body: 'hi' })\n"
    )
    (project / "steps" / "noted_step.py").write_text(
        "config = {'name': 'Noted', 'type': 'event', 'subscribes': ['x']}\n"
        "async def handler(input, context):\n    pass\n"
    )
    done = run_cli("steps", str(project), "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    languages = {step["name"]: step["language"] for step in listing["steps"]}
    assert languages == {"Hello": "esm", "Noted": "python"}


def test_stream_files_of_a_declared_language_are_loaded_by_its_child(tmp_path: Path) -> None:
    """SPEC `runner.registry` and `lifecycle.streams`: ``stream_patterns`` name the
    stream files a registry language's SDK loads, sent to it in ``initialize.streams``."""
    project = node_language(tmp_path, '["node", "{sdk}/src/runner.mjs"]')
    with (project / "motiad.toml").open("a") as toml:
        toml.write('stream_patterns = ["*.defs.mjs"]\n')
    (project / "steps" / "todo.defs.mjs").write_text("export const config = { name: 'todo' }\n")
    done = run_cli("steps", str(project), "--json")
    assert done.returncode == 0, done.stderr
    streams = json.loads(done.stdout)["streams"]
    assert [(s["name"], s["file"]) for s in streams] == [("todo", "steps/todo.defs.mjs")]


def test_a_runner_that_cannot_start_shows_its_stderr(tmp_path: Path) -> None:
    """SPEC `runner.registry`."""
    project = node_language(
        tmp_path, '["sh", "-c", "echo no runtime for esm here >&2; exit 3", "{file}"]'
    )
    (project / "steps" / "hello.handler.mjs").write_text("")
    done = run_cli("steps", str(project))
    assert done.returncode == 1
    assert "steps/hello.handler.mjs" in done.stderr
    assert "no runtime for esm here" in done.stderr


def test_a_failing_build_shows_its_output_and_names_the_files(tmp_path: Path) -> None:
    """SPEC `runner.registry`: the build's output is shown, and its failure names
    the files that did not start; the other languages still run."""
    project = node_language(tmp_path, '["node", "{sdk}/src/runner.mjs"]')
    with (project / "motiad.toml").open("a") as toml:
        toml.write(
            'build = ["sh", "-c", "echo compiling $0; echo oops: bad syntax >&2; exit 2",'
            ' "{files}"]\n'
        )
    (project / "steps" / "hello.handler.mjs").write_text("")
    (project / "steps" / "ok_step.py").write_text(
        "config = {'name': 'Ok', 'type': 'event', 'subscribes': ['x']}\n"
        "async def handler(input, context):\n    pass\n"
    )
    done = run_cli("steps", str(project), "--json")
    assert done.returncode == 1
    listing = json.loads(done.stdout)
    assert [step["name"] for step in listing["steps"]] == ["Ok"]
    [error] = listing["errors"]
    assert error.startswith(
        "steps/hello.handler.mjs: languages.esm.build: the esm build failed (exit 2); not started."
    )
    assert f"compiling {project / 'steps' / 'hello.handler.mjs'}" in error
    assert "oops: bad syntax" in error


def test_python_is_started_by_the_registry_too(tmp_path: Path) -> None:
    """The built-in python entry, pinned to an interpreter in motiad.toml."""
    settings = settings_of(
        tmp_path, f'[languages.python]\ncommand = ["{sys.executable}", "-I", "-m", "motiad_sdk"]\n'
    )
    command = child_command("python", tmp_path, settings, tmp_path / "steps" / "a_step.py")
    assert command.argv == [sys.executable, "-I", "-m", "motiad_sdk"]
    assert command.env["PYTHONPATH"] == str(sdk_dir("sdk-python"))


def test_languages_lists_the_registry_with_where_each_entry_comes_from(tmp_path: Path) -> None:
    (tmp_path / "motiad.toml").write_text(
        '[languages.perl]\npatterns = ["*_step.pl"]\ncommand = ["perl", "runner.pl"]\n'
        '[languages.python]\ncommand = ["python3.12", "-m", "motiad_sdk"]\n'
    )
    done = run_cli("languages", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["languages"]}
    assert {name: row["origin"] for name, row in rows.items()} == {
        "python": "built-in, changed in motiad.toml",
        "node": "built-in",
        "go": "built-in",
        "ruby": "built-in",
        "perl": "motiad.toml",
    }
    assert rows["perl"]["command"] == ["perl", "runner.pl"]
    assert rows["go"]["build"] == ["sh", "{sdk}/build.sh", "{project}", "{files}"]
    table = run_cli("languages", str(tmp_path))
    assert "perl" in table.stdout
    assert "*_step.pl" in table.stdout
