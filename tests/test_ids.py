"""Ids (events, traces, invocations): unique, and in the order they were made, so
SQLite adds rows keyed by them at the end of its indexes."""

from __future__ import annotations

import time

from motiad.tracing import new_id, short_id


def test_ids_made_later_sort_later_and_never_repeat() -> None:
    earlier = [new_id() for _ in range(1000)]
    started = time.time()
    while time.time() - started < 0.002:  # into a later millisecond
        pass
    later = new_id()
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in earlier)
    assert len(set(earlier)) == len(earlier)
    assert max(earlier) < later
    assert abs(int(later[:12], 16) / 1000 - time.time()) < 5  # the time in ms leads


def test_the_short_form_shown_is_the_random_end() -> None:
    # ids of one minute share their start: the console shows their ends
    ids = {short_id(new_id()) for _ in range(100)}
    assert len(ids) == 100
