"""Step configs and settings: every mistake names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from motiad.config import ApiStepConfig, EventStepConfig, load_settings, parse_step_config
from motiad.errors import ConfigError


def test_motia_configs_parse_with_their_field_names() -> None:
    config = parse_step_config(
        {
            "name": "Send",
            "type": "api",
            "path": "/messages/:id",
            "method": "post",
            "emits": ["a", {"topic": "b", "label": "B", "conditional": True}],
            "virtualEmits": ["c"],
            "flows": ["f"],
            "bodySchema": {"type": "object"},
            "infrastructure": {"queue": {"maxRetries": 2}},
        },
        "steps/send.step.ts",
    )
    assert isinstance(config, ApiStepConfig)
    assert config.method == "POST"
    assert config.emitted_topics == ["a", "b"]
    assert config.infrastructure.queue.max_retries == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"name": "A", "type": "apii"}, "steps/a.ts: config.type: unknown step type 'apii'"),
        ({"name": "A", "type": "api", "method": "GET"}, "steps/a.ts: config.path: missing"),
        ({"name": "A", "type": "event"}, "steps/a.ts: config.subscribes: missing"),
        ({"name": "A", "type": "event", "subscribes": "t"}, "config.subscribes: Expected `array`"),
        (
            {"name": "A", "type": "event", "subscribes": ["t"], "subscribe": []},
            "steps/a.ts: config.subscribe: unknown field",
        ),
        ({"name": "A", "type": "api", "path": "x", "method": "GET"}, "config.path: must start"),
        ({"name": "A", "type": "api", "path": "/x", "method": "FETCH"}, "unknown method 'FETCH'"),
        ({"name": "A", "type": "event", "subscribes": []}, "config.subscribes: must name"),
        (
            {
                "name": "A",
                "type": "event",
                "subscribes": ["t"],
                "infrastructure": {"queue": {"maxRetries": "x"}},
            },
            "config.infrastructure.queue.maxRetries: Expected `int | null`, got `str`",
        ),
        (  # SPEC §3.1: a boolean is JSON true/false, never 1/0 (a language without booleans)
            {"name": "A", "type": "cron", "cron": "* * * * *", "skipIfRunning": 1},
            "steps/a.ts: config.skipIfRunning: Expected `bool`, got `int`",
        ),
    ],
)
def test_invalid_configs_name_the_file_and_field(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_step_config(raw, "steps/a.ts")
    assert expected in str(caught.value)


def test_event_config() -> None:
    config = parse_step_config({"name": "P", "type": "event", "subscribes": ["t"]}, "p.py")
    assert isinstance(config, EventStepConfig)


def test_settings_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    (tmp_path / "motiad.toml").write_text('port = 4000\nhost = "0.0.0.0"\n')
    assert load_settings(tmp_path, {}, {}).port == 4000
    assert load_settings(tmp_path, {}, {"MOTIAD_PORT": "5000"}).port == 5000
    settings = load_settings(tmp_path, {"port": 6000, "host": None}, {"MOTIAD_PORT": "5000"})
    assert (settings.port, settings.host) == (6000, "0.0.0.0")


def test_invalid_settings_name_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "motiad.toml").write_text('port = "many"\n')
    with pytest.raises(ConfigError, match=r"motiad.toml: port: Expected `int`"):
        load_settings(tmp_path, {}, {})
    (tmp_path / "motiad.toml").write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(tmp_path, {}, {})


def test_storage_is_sqlite_or_redis_from_flag_env_or_file(tmp_path: Path) -> None:
    (tmp_path / "motiad.toml").write_text('storage = "redis://10.0.0.5:6379/2"\n')
    from_file = load_settings(tmp_path, {}, {})
    assert (from_file.storage, from_file.uses_redis) == ("redis://10.0.0.5:6379/2", True)
    from_env = load_settings(tmp_path, {}, {"MOTIAD_STORAGE": "redis://other:6379/0"})
    assert from_env.storage == "redis://other:6379/0"
    flag = load_settings(tmp_path, {"storage": "sqlite:x.db"}, {"MOTIAD_STORAGE": "redis://o/0"})
    assert (flag.uses_redis, flag.sqlite_path(tmp_path)) == (False, tmp_path / "x.db")
    (tmp_path / "motiad.toml").write_text('storage = "postgres://db/1"\n')
    with pytest.raises(ConfigError, match=r"motiad.toml: storage: expected sqlite:PATH or redis"):
        load_settings(tmp_path, {}, {})


def test_workbench_and_trace_retention_settings(tmp_path: Path) -> None:
    (tmp_path / "motiad.toml").write_text(
        'workbench_token = "t0k"\n[traces]\nmax_traces = 50\nmax_logs = 500\n'
    )
    settings = load_settings(tmp_path, {}, {"MOTIAD_WORKBENCH": "false"})
    assert (settings.traces.max_traces, settings.traces.max_logs) == (50, 500)
    assert (settings.workbench, settings.workbench_token) == (False, "t0k")
    (tmp_path / "motiad.toml").write_text("[traces]\nmax_traces = 0\n")
    with pytest.raises(ConfigError) as failed:
        load_settings(tmp_path, {}, {})
    assert "traces.max_traces" in str(failed.value)


def test_project_settings_default_to_motias_folders_and_the_inherited_environment(
    tmp_path: Path,
) -> None:
    """Motia 0.17 looks in steps/ and src/, and its children inherit the
    server's environment; MOTIAD_PROJECT (often a folder) is not a setting."""
    defaults = load_settings(tmp_path, {}, {"MOTIAD_PROJECT": "/somewhere"}).project
    assert (defaults.step_dirs, defaults.inherit_env) == (["steps", "src"], True)
    (tmp_path / "motiad.toml").write_text(
        '[project]\nstep_dirs = ["backend/steps"]\ninherit_env = false\n'
    )
    declared = load_settings(tmp_path, {}, {}).project
    assert (declared.step_dirs, declared.inherit_env) == (["backend/steps"], False)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('step_dirs = ["steps", "../shared"]', r"project.step_dirs\[1\]: '../shared': a folder"),
        ('step_dirs = ["/abs"]', r"project.step_dirs\[0\]: '/abs': a folder inside the project"),
        ("step_dirs = []", r"project.step_dirs: Expected `array` of length >= 1"),
        ('inherit_env = "no"', r"project.inherit_env: Expected `bool`"),
        (
            "stepdirs = []",
            r"motiad.toml: project.stepdirs: unknown setting; did you mean step_dirs\?",
        ),
    ],
)
def test_invalid_project_settings_name_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    (tmp_path / "motiad.toml").write_text(f"[project]\n{toml}\n")
    with pytest.raises(ConfigError, match=expected):
        load_settings(tmp_path, {}, {})
