"""The retry policy (``motiad.retry``): one place decides whether a failed
delivery is tried again, when, or dead-lettered. Motia's queue settings:
``infrastructure.queue.maxRetries`` per step, else the project's default."""

from __future__ import annotations

from motiad.config import QueueDefaults
from motiad.protocol.messages import ErrorInfo
from motiad.retry import GiveUp, Retry, RetryPolicy

FAILED = ErrorInfo("Error", "boom")
FOR_GOOD = ErrorInfo("InvocationError", "bad params", retryable=False)


def test_a_retryable_failure_is_retried_until_the_attempts_run_out() -> None:
    policy = RetryPolicy(max_retries=2, initial_s=1.0, max_s=300.0)
    first = policy.after_failure(1, FAILED, None)
    assert isinstance(first, Retry)
    assert first.attempts == 3
    assert 0 <= first.delay_s <= 1.0  # full jitter under 1 s * 2**0
    second = policy.after_failure(2, FAILED, None)
    assert isinstance(second, Retry)
    assert 0 <= second.delay_s <= 2.0
    assert policy.after_failure(3, FAILED, None) == GiveUp("after 3 attempts")


def test_the_steps_max_retries_wins_over_the_projects() -> None:
    policy = RetryPolicy(max_retries=5)
    assert policy.after_failure(1, FAILED, 0) == GiveUp("after 1 attempts")
    assert isinstance(policy.after_failure(1, FAILED, 1), Retry)


def test_a_failure_that_would_repeat_is_dead_lettered_at_once() -> None:
    assert RetryPolicy().after_failure(1, FOR_GOOD, None) == GiveUp("(not retryable)")


def test_the_delay_never_exceeds_the_cap() -> None:
    policy = RetryPolicy.of(QueueDefaults(backoff_initial_ms=1000, backoff_max_ms=4000))
    assert all(0 <= policy.delay_s(attempt) <= 4.0 for attempt in range(1, 20))
