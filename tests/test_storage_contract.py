"""One contract, two backends: every test here runs against SQLite (a file in
tmp_path) and against a real redis-server, and must behave the same (as do
test_storage_streams.py and test_storage_traces.py, through the same fixture).

"Another store on the same storage" stands for another process: ``motiad
emit``/``motiad dlq`` on SQLite, another ``motiad run`` instance on Redis.
"""

from __future__ import annotations

import itertools
import time

import anyio
import anyio.lowlevel
import msgspec
import pytest

from motiad.protocol.messages import ErrorInfo
from motiad.storage import DeadLetterFilter, Event, Target, durable

from .conftest import Opener

pytestmark = pytest.mark.anyio
_ids = itertools.count()
BOOM = ErrorInfo("ValueError", "boom", "Traceback ...")
LEASE_S = 30.0
"""Longer than any test: a lease never runs out unless a test says so."""


def event(topic: str = "t", group: str | None = None, n: int = 0) -> Event:
    data = msgspec.json.encode({"n": n})
    return Event(f"e{next(_ids)}", topic, msgspec.Raw(data), "trace", group, time.time())


async def test_state_round_trip(opened: Opener) -> None:
    async with opened() as store:
        await store.state_set("g", "b", msgspec.Raw(b'{"v":2}'))
        await store.state_set("g", "a", msgspec.Raw(b"1"))
        assert await store.state_get("g", "a") == msgspec.Raw(b"1")
        assert [bytes(v) for v in await store.state_group("g")] == [b"1", b'{"v":2}']
        assert await store.state_delete("g", "a") == msgspec.Raw(b"1")
        assert await store.state_delete("g", "a") is None
        assert await store.state_get("g", "a") is None
        await store.state_clear("g")
        assert await store.state_group("g") == []


async def test_many_concurrent_writes_are_all_durable(opened: Opener) -> None:
    # SQLite commits them in a few batches, Redis pipelines them
    async with opened() as store, anyio.create_task_group() as writers:
        for n in range(300):
            writers.start_soon(store.state_set, "g", f"k{n:03}", msgspec.Raw(b"1"))
    async with opened() as store:
        assert len(await store.state_group("g")) == 300


async def test_published_events_are_delivered_to_each_subscriber(opened: Opener) -> None:
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=LEASE_S)
        store.open_queue("B", fifo=False, lease_s=LEASE_S)
        await durable(store.publish(event(), [Target("A"), Target("B")]))
        with anyio.fail_after(5):
            (a,) = await store.take("A", 10)
            (b,) = await store.take("B", 10)
        assert a.event == b.event
        assert a.attempt == 1


async def test_a_taken_delivery_comes_back_when_its_taker_goes_away(opened: Opener) -> None:
    # SQLite: the next broker on the file; Redis: any broker once the lease ran
    # out. The delivery that died with its taker counts (issue 19, D9): a
    # handler can tell a redelivery from a first try.
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=0.2)
        await durable(store.publish(event(), [Target("A")]))
        await durable(store.publish(event(), [Target("A")]))
        with anyio.fail_after(5):
            first, second = await store.take("A", 10)
        await durable(store.ack(first))
        store.close_queue("A")
    async with opened() as again:
        again.open_queue("A", fifo=False, lease_s=0.2)
        with anyio.fail_after(5):
            (redelivered,) = await again.take("A", 10)
        assert (redelivered.event.id, redelivered.attempt) == (second.event.id, 2)
        await again.dead_letter(redelivered, BOOM)
        (letter,) = await again.dead_letters(DeadLetterFilter(all=True))
        assert letter.attempts == 2


async def test_attempt_counts_every_delivery_made_and_none_that_was_not(opened: Opener) -> None:
    # a retry counts; a release (taken, never run: the consumer stopped) does
    # not; a delivery lost with its taker does, whatever happened before it
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=0.2)
        await durable(store.publish(event(), [Target("A")]))
        with anyio.fail_after(5):
            (first,) = await store.take("A", 10)
            await store.retry(first, BOOM, 0)
            (second,) = await store.take("A", 10)
            store.release([second])
            (third,) = await store.take("A", 10)
        assert [first.attempt, second.attempt, third.attempt] == [1, 2, 2]
        store.close_queue("A")
    async with opened() as again:
        again.open_queue("A", fifo=False, lease_s=0.2)
        with anyio.fail_after(5):
            (after_a_crash,) = await again.take("A", 10)
        assert (after_a_crash.id, after_a_crash.attempt) == (first.id, 3)


async def test_a_retry_waits_for_its_delay_and_counts_the_attempt(opened: Opener) -> None:
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=LEASE_S)
        await durable(store.publish(event(), [Target("A")]))
        with anyio.fail_after(5):
            (delivery,) = await store.take("A", 10)
            retried_at = time.time()
            await store.retry(delivery, BOOM, 0.2)
            (again,) = await store.take("A", 10)
        assert time.time() >= retried_at + 0.2
        assert (again.id, again.attempt) == (delivery.id, 2)


async def test_a_delayed_delivery_is_not_due_before_its_time(opened: Opener) -> None:
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=LEASE_S)
        published = event()
        await durable(store.publish(published, [Target("A", delay_s=0.2)]))
        with anyio.fail_after(5):
            (delivery,) = await store.take("A", 10)
        assert time.time() >= published.created_at + 0.2
        assert delivery.event.id == published.id


async def test_fifo_hands_out_one_event_per_group_in_emit_order(opened: Opener) -> None:
    async with opened() as store:
        store.open_queue("F", fifo=True, lease_s=LEASE_S)
        fifo = [Target("F", fifo=True)]
        for n in range(3):
            await durable(store.publish(event(group="g1", n=n), fifo))
            await durable(store.publish(event(group="g2", n=n), fifo))
        with anyio.fail_after(5):
            heads = await store.take("F", 10)
            assert [(d.event.message_group_id, d.event.data) for d in heads] == [
                ("g1", msgspec.Raw(b'{"n":0}')),
                ("g2", msgspec.Raw(b'{"n":0}')),
            ]
            g1, g2 = heads
            await store.retry(g1, BOOM, 0)  # a failing head keeps its place
            (again,) = await store.take("F", 10)
            assert (again.id, again.attempt) == (g1.id, 2)
            await durable(store.ack(again))
            (next_g1,) = await store.take("F", 10)
            assert next_g1.event.data == msgspec.Raw(b'{"n":1}')
            await store.dead_letter(g2, BOOM)  # a dead head frees its group too
            (next_g2,) = await store.take("F", 10)
            assert next_g2.event.message_group_id == "g2"


async def test_dead_letters_keep_their_error_and_can_be_redriven_or_purged(
    opened: Opener,
) -> None:
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=LEASE_S)
        await durable(store.publish(event("orders"), [Target("A")]))
        await durable(store.publish(event("other"), [Target("A")]))
        with anyio.fail_after(5):
            first, second = await store.take("A", 10)
        await store.dead_letter(first, BOOM)
        await store.dead_letter(second, BOOM)
        assert await store.dead_letters(DeadLetterFilter()) == []  # nothing unless told what
        letters = await store.dead_letters(DeadLetterFilter(all=True))
        assert [(d.event.topic, d.error, d.attempts, d.step) for d in letters] == [
            ("orders", BOOM, 1, "A"),
            ("other", BOOM, 1, "A"),
        ]
        assert letters[0].event == first.event
        assert await store.redrive(DeadLetterFilter(topic="orders")) == 1
        with anyio.fail_after(5):
            (redriven,) = await store.take("A", 10)
        assert (redriven.event.topic, redriven.attempt) == ("orders", 1)
        assert await store.purge(DeadLetterFilter(ids=(second.id,))) == 1
        assert await store.dead_letters(DeadLetterFilter(all=True)) == []


async def test_events_and_redrives_from_another_process_are_picked_up(opened: Opener) -> None:
    async with opened() as broker:
        broker.open_queue("A", fifo=False, lease_s=LEASE_S)
        broker.route_enqueued(lambda topic: [Target("A")] if topic == "cli" else [])
        async with opened() as cli:  # as `motiad emit` would
            await cli.enqueue(event("cli", n=5))
        with anyio.fail_after(5):
            (delivery,) = await broker.take("A", 10)
        assert delivery.event.data == msgspec.Raw(b'{"n":5}')
        await broker.dead_letter(delivery, BOOM)
        async with opened() as cli:  # as `motiad dlq redrive` would
            assert await cli.redrive(DeadLetterFilter(all=True)) == 1
        with anyio.fail_after(5):
            (again,) = await broker.take("A", 10)
        assert again.id == delivery.id


async def test_a_released_delivery_is_due_again_at_once(opened: Opener) -> None:
    async with opened() as store:
        store.open_queue("A", fifo=False, lease_s=LEASE_S)
        await durable(store.publish(event(), [Target("A")]))
        with anyio.fail_after(5):
            (delivery,) = await store.take("A", 10)
            store.release([delivery])
            (again,) = await store.take("A", 10)
        assert (again.id, again.attempt) == (delivery.id, 1)


async def test_the_first_claim_of_a_cron_tick_wins(opened: Opener) -> None:
    async with opened() as store:
        assert await store.claim_tick("Cron", 1_700_000_000.0)


async def test_queue_stats_count_unsettled_deliveries_and_the_oldest_due_time(
    opened: Opener,
) -> None:
    """The metrics' queue depth and lag (issue #21): waiting, delayed and running
    deliveries count until settled, FIFO groups included."""
    async with opened() as store:
        store.open_queue("S", fifo=False, lease_s=LEASE_S)
        store.open_queue("F", fifo=True, lease_s=LEASE_S)
        assert (await store.queue_stats()).get("S") is None
        before = time.time()
        for n in range(3):
            await durable(store.publish(event(n=n), [Target("S")]))
            await durable(store.publish(event(group="g", n=n), [Target("F", fifo=True)]))
        await durable(store.publish(event(n=9), [Target("S", 60.0)]))  # delayed a minute
        stats = await store.queue_stats()
        assert stats["S"].pending == 4
        assert stats["F"].pending == 3
        assert before - 1 <= stats["S"].oldest_due_at <= time.time()
        with anyio.fail_after(5):
            taken = await store.take("S", 1)
            (head,) = await store.take("F", 10)  # one at a time in a group
        stats = await store.queue_stats()
        assert (stats["S"].pending, stats["F"].pending) == (4, 3)  # running still counts
        await durable(store.ack(taken[0]))
        await durable(store.ack(head))
        stats = await store.queue_stats()
        assert (stats["S"].pending, stats["F"].pending) == (3, 2)
