"""``initialize``: the handshake, versions and step loading (SPEC §2.1)."""

from __future__ import annotations

from sdk_harness import FIXTURES, spawn_child, step


def test_initialize_answers_with_the_sdk_identity_and_each_config() -> None:
    """SPEC `lifecycle.initialize`."""
    with spawn_child() as child:
        result = child.initialize([step("api_echo_step"), step("noop_step")])

    assert result["protocolVersion"] == "1.0"
    assert result["sdk"] == {"name": "motiad-sdk-python", "version": "0.1.0", "language": "python"}
    assert result["steps"] == [
        {
            "path": step("api_echo_step"),
            "config": {
                "name": "Echo",
                "type": "api",
                "path": "/echo",
                "method": "POST",
                "emits": [],
                "flows": ["demo"],
            },
        },
        {
            "path": step("noop_step"),
            "config": {
                "name": "Human",
                "type": "noop",
                "virtualEmits": ["approved"],
                "virtualSubscribes": [],
            },
        },
    ]


def test_a_file_that_fails_to_load_gets_an_error_while_the_others_load() -> None:
    """SPEC `lifecycle.initialize`: one broken file never stops the others."""
    missing = str(FIXTURES / "missing_step.py")
    paths = [
        step("broken_step"),
        step("api_echo_step"),
        step("handlerless_step"),
        step("listconfig_step"),
        missing,
    ]
    with spawn_child() as child:
        entries = {entry["path"]: entry for entry in child.initialize(paths)["steps"]}

        assert list(entries) == paths
        broken = entries[step("broken_step")]["error"]
        assert broken["type"] == "RuntimeError"
        assert broken["message"] == "boom at import"
        assert "broken_step.py" in broken["stack"]
        assert broken["retryable"] is False
        assert entries[step("handlerless_step")]["error"]["type"] == "AttributeError"
        assert "handler" in entries[step("handlerless_step")]["error"]["message"]
        # SPEC lifecycle.initialize: the config it read comes beside the error
        assert entries[step("handlerless_step")]["config"]["name"]
        assert entries[step("listconfig_step")]["error"]["type"] == "TypeError"
        assert entries[missing]["error"]["type"] == "FileNotFoundError"
        assert entries[step("api_echo_step")]["config"]["name"] == "Echo"

        # The file that loaded serves invocations.
        request_id = child.invoke(
            step("api_echo_step"), {"type": "api"}, {"method": "GET", "body": {"text": "x"}}
        )
        assert child.result(request_id)["status"] == 201


def test_a_different_major_version_is_refused_naming_both_versions() -> None:
    """SPEC `lifecycle.version`."""
    with spawn_child() as child:
        request_id = child.request(
            "initialize",
            {"protocolVersion": "2.0", "project": str(FIXTURES), "steps": [step("tick_step")]},
        )
        error = child.error(request_id)

    assert error["code"] == -32004
    assert "2.0" in error["message"]
    assert "1.0" in error["message"]


def test_a_newer_minor_version_is_accepted() -> None:
    """SPEC `lifecycle.version`: only the majors must match."""
    with spawn_child() as child:
        request_id = child.request(
            "initialize",
            {"protocolVersion": "1.9", "project": str(FIXTURES), "steps": [step("tick_step")]},
        )
        assert child.result(request_id)["protocolVersion"] == "1.0"


def test_an_initialize_answer_over_the_limit_is_32005_and_the_initialize_counts() -> None:
    """SPEC `lifecycle.initialize.once`, `framing.max-line.send`: the answer is
    replaced by -32005 naming the size and the limit, and a second initialize is
    refused -32600 (the steps are loaded)."""
    paths = [step("api_echo_step"), step("noop_step"), step("schema_step"), step("tick_step")]
    with spawn_child() as child:
        params = {"protocolVersion": "1.0", "project": str(FIXTURES), "steps": paths}
        first = child.request("initialize", {**params, "maxLineBytes": 256})
        error = child.error(first)
        assert error["code"] == -32005
        assert "256" in error["message"]
        second = child.request(
            "initialize", {"protocolVersion": "1.0", "project": str(FIXTURES), "steps": []}
        )
        assert child.error(second)["code"] == -32600


def test_pydantic_style_models_in_a_config_become_json_schema() -> None:
    """SPEC §2.1: configs are JSON, schemas already converted."""
    message_schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    receipt_schema = {"type": "object", "properties": {"id": {"type": "string"}}}
    with spawn_child() as child:
        (entry,) = child.initialize([step("schema_step")])["steps"]

    config = entry["config"]
    assert config["bodySchema"] == message_schema
    assert config["input"] == message_schema
    assert config["responseSchema"] == {"200": receipt_schema, "400": {"type": "object"}}
