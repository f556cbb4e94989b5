"""The handler's context: emit, state and logger as requests to the broker (SPEC §2.3)."""

from __future__ import annotations

from sdk_harness import Message, event_trigger, spawn_child, step


def _by_invocation(messages: list[Message]) -> dict[str, Message]:
    return {message["params"]["invocationId"]: message for message in messages}


def test_concurrent_invocations_get_their_own_answers_given_out_of_order() -> None:
    """SPEC `rpc.concurrent`: two handlers wait on the broker at once."""
    with spawn_child() as child:
        child.initialize([step("relay_step")])
        first = child.invoke(
            step("relay_step"), event_trigger("start"), {"n": 1}, invocation_id="a"
        )
        second = child.invoke(
            step("relay_step"), event_trigger("start"), {"n": 2}, invocation_id="b"
        )

        emits = _by_invocation([child.child_request("emit"), child.child_request("emit")])
        assert emits["a"]["params"] == {"invocationId": "a", "topic": "done", "data": {"n": 1}}
        assert emits["b"]["params"] == {"invocationId": "b", "topic": "done", "data": {"n": 2}}
        child.reply(emits["b"], {"eventId": "event-for-b"})  # the later request first
        child.reply(emits["a"], {"eventId": "event-for-a"})

        sets = _by_invocation([child.child_request("state.set"), child.child_request("state.set")])
        assert sets["a"]["params"] == {
            "invocationId": "a",
            "groupId": "relay",
            "key": "k1",
            "value": "event-for-a",
        }
        assert sets["b"]["params"]["value"] == "event-for-b"
        child.reply(sets["a"], "event-for-a")
        child.reply(sets["b"], "event-for-b")

        assert child.result(second) is None
        assert child.result(first) is None
        logs = _by_invocation([child.notification("log"), child.notification("log")])

    assert logs["a"]["params"]["level"] == "info"
    assert logs["a"]["params"]["fields"] == {"value": "event-for-a", "topic": "start"}
    assert logs["b"]["params"]["fields"]["value"] == "event-for-b"


def test_a_sync_handler_gets_context_values_directly() -> None:
    """A plain ``def`` handler runs in a thread; its context calls block for the answer."""
    with spawn_child() as child:
        child.initialize([step("sync_state_step")])
        request_id = child.invoke(step("sync_state_step"), event_trigger("sync"), {"n": 5})

        calls = child.answer_in_order(
            [
                ("state.set", {"n": 5}),
                ("state.get", {"n": 5}),
                ("state.delete", {"n": 5}),
                ("state.getGroup", []),
                ("state.clear", None),
            ]
        )

        assert child.result(request_id) is None
        log = child.notification("log")

    assert calls == [
        {"invocationId": "i-1", "groupId": "g", "key": "k", "value": {"n": 5}},
        {"invocationId": "i-1", "groupId": "g", "key": "k"},
        {"invocationId": "i-1", "groupId": "g", "key": "k"},
        {"invocationId": "i-1", "groupId": "g"},
        {"invocationId": "i-1", "groupId": "g"},
    ]
    assert log["params"] == {
        "invocationId": "i-1",
        "level": "warn",
        "message": "sync done",
        "fields": {
            "stored": {"n": 5},
            "got": 5,
            "deleted": {"n": 5},
            "group": [],
            "obj": "<Opaque>",
        },
    }


def test_a_broker_error_on_a_context_call_raises_broker_error_in_the_handler() -> None:
    with spawn_child() as child:
        child.initialize([step("relay_step")])
        request_id = child.invoke(step("relay_step"), event_trigger("start"), {"n": 1})
        child.reply_error(child.child_request("emit"), -32006, "unknown invocation i-1")
        error = child.error(request_id)

    assert error["code"] == -32000
    assert error["data"]["type"] == "BrokerError"
    assert "unknown invocation i-1" in error["data"]["message"]


def test_ping_is_answered_while_handlers_run() -> None:
    """SPEC `lifecycle.ping`: a blocked sync handler and a sleeping async one."""
    with spawn_child() as child:
        child.initialize([step("sync_state_step"), step("slow_step")])
        sync_id = child.invoke(step("sync_state_step"), event_trigger("sync"), {"n": 1})
        child.invoke(step("slow_step"), event_trigger("slow"), {}, invocation_id="i-2")
        blocked = child.child_request("state.set")  # the sync handler now waits in its thread

        child.ping()

        child.reply(blocked, {"n": 1})
        for method in ("state.get", "state.delete", "state.getGroup", "state.clear"):
            child.reply(child.child_request(method), {"n": 1} if method == "state.get" else None)
        assert child.result(sync_id) is None
