"""Stopping: ``shutdown`` and end of input (SPEC `lifecycle.shutdown`, `lifecycle.stdin-eof`)."""

from __future__ import annotations

from sdk_harness import event_trigger, spawn_child, step


def test_shutdown_refuses_new_work_lets_running_handlers_finish_and_exits_zero() -> None:
    """SPEC `lifecycle.shutdown`, `invoke.after-shutdown`."""
    with spawn_child() as child:
        child.initialize([step("relay_step")])
        running = child.invoke(step("relay_step"), event_trigger("start"), {"n": 1})
        emit = child.child_request("emit")  # the handler now waits on the broker

        shutdown = child.request("shutdown")
        refused = child.invoke(step("relay_step"), event_trigger("start"), {"n": 2})
        assert child.error(refused)["code"] == -32007

        child.reply(emit, {"eventId": "e-1"})
        child.reply(child.child_request("state.set"), "e-1")
        assert child.result(running) is None
        assert child.result(shutdown) is None
        assert child.wait_exit() == 0


def test_shutdown_with_nothing_running_answers_and_exits_zero() -> None:
    """SPEC `lifecycle.shutdown`."""
    with spawn_child() as child:
        child.initialize([step("tick_step")])
        assert child.result(child.request("shutdown")) is None
        assert child.wait_exit() == 0


def test_end_of_input_exits_promptly_even_with_handlers_running() -> None:
    """SPEC `lifecycle.stdin-eof`: an async handler asleep and a sync one blocked in its thread."""
    with spawn_child() as child:
        child.initialize([step("slow_step"), step("sync_state_step")])
        child.invoke(step("slow_step"), event_trigger("slow"), {})
        child.invoke(step("sync_state_step"), event_trigger("sync"), {"n": 1}, invocation_id="i-2")
        child.child_request("state.set")  # never answered: the thread stays blocked

        child.close_stdin()
        assert child.wait_exit() == 0
