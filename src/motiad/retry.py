"""The retry policy: whether a failed delivery is tried again, and when, or
given up on (dead-lettered). Pure: the dispatch applies the verdict to storage,
and storage only keeps the delivery due at the time it is given."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import QueueDefaults
from .protocol.messages import ErrorInfo


@dataclass(frozen=True, slots=True)
class Retry:
    """Deliver again after ``delay_s``."""

    delay_s: float
    attempts: int
    """The attempts allowed in all, for the log line (``attempt 2/4 failed``)."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Dead-letter the delivery; ``reason`` says why, for people."""

    reason: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter (the AWS architecture blog's
    recommendation: spreads retries of many failing events apart)."""

    max_retries: int = 3
    initial_s: float = 1.0
    max_s: float = 300.0

    @classmethod
    def of(cls, defaults: QueueDefaults) -> RetryPolicy:
        """The project's policy (``[queue]`` in motiad.toml)."""
        return cls(
            defaults.max_retries, defaults.backoff_initial_ms / 1000, defaults.backoff_max_ms / 1000
        )

    def attempts(self, step_max_retries: int | None) -> int:
        """Total attempts allowed: the first one plus the retries (the step's
        ``infrastructure.queue.maxRetries``, else the project's)."""
        retries = self.max_retries if step_max_retries is None else step_max_retries
        return 1 + max(0, retries)

    def delay_s(self, attempt: int) -> float:
        """Delay before the attempt after ``attempt``."""
        return random.uniform(0, min(self.max_s, self.initial_s * 2 ** (attempt - 1)))

    def after_failure(
        self, attempt: int, error: ErrorInfo, step_max_retries: int | None
    ) -> Retry | GiveUp:
        """What to do with a delivery whose ``attempt`` failed with ``error``:
        retry while attempts are left and the failure may not repeat, else give up."""
        attempts = self.attempts(step_max_retries)
        if error.retryable and attempt < attempts:
            return Retry(self.delay_s(attempt), attempts)
        return GiveUp(f"after {attempt} attempts" if error.retryable else "(not retryable)")
