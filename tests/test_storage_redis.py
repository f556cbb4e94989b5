"""What only a shared backend has to get right: several brokers on one Redis
(leases, FIFO groups and cron ticks across them, wake-ups between them), and
Redis going away and coming back."""

from __future__ import annotations

import asyncio
import gc
import itertools
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest
import redis.asyncio as aioredis

from motiad.errors import StorageError, StorageUnavailable
from motiad.protocol.messages import ErrorInfo
from motiad.storage import Event, RedisStore, Target, durable
from motiad.storage.base import Health
from motiad.storage.redis.queue import POLL_S

from .redis_server import RedisServer

pytestmark = pytest.mark.anyio
_ids = itertools.count()
BOOM = ErrorInfo("ValueError", "boom")


def event(group: str | None = None, n: int = 0) -> Event:
    data = msgspec.Raw(msgspec.json.encode({"n": n}))
    return Event(f"r{next(_ids)}", "t", data, "trace", group, time.time())


@asynccontextmanager
async def broker(url: str, health: Health | None = None) -> AsyncIterator[RedisStore]:
    store = RedisStore(url, health=health)
    async with anyio.create_task_group() as tg:
        await tg.start(store.serve)
        yield store
        tg.cancel_scope.cancel()


async def test_a_leased_delivery_goes_to_another_broker_only_when_the_lease_runs_out(
    redis_url: str,
) -> None:
    async with broker(redis_url) as a, broker(redis_url) as b:
        a.open_queue("S", fifo=False, lease_s=0.3)
        b.open_queue("S", fifo=False, lease_s=30)
        await durable(a.publish(event(), [Target("S")]))
        await durable(a.publish(event(), [Target("S")]))
        with anyio.fail_after(5):
            (of_b,) = await b.take("S", 1)
            (of_a,) = await a.take("S", 10)  # the other one: B holds the first
            assert of_a.id != of_b.id
            a.close_queue("S")  # A stops renewing, as if it died
            (taken_over,) = await b.take("S", 10)
        assert (taken_over.id, taken_over.attempt) == (of_a.id, 2)  # A's counts (D9)
        await durable(a.ack(of_a))  # too late: B holds it now, so this settles nothing
        await b.retry(taken_over, BOOM, 0)
        with anyio.fail_after(5):
            (again,) = await b.take("S", 10)
        assert (again.id, again.attempt) == (of_a.id, 3)


async def test_a_broker_renews_the_leases_it_holds(redis_url: str) -> None:
    async with broker(redis_url) as a:
        a.open_queue("S", fifo=False, lease_s=30)
        await durable(a.publish(event(), [Target("S")]))
        with anyio.fail_after(5):
            (held,) = await a.take("S", 1)
        lease = aioredis.Redis.from_url(redis_url)
        try:
            first = await lease.zscore("motiad:lease:S", str(held.id))
            await a.queue.renew_held()
            renewed = await lease.zscore("motiad:lease:S", str(held.id))
        finally:
            await lease.aclose()
        assert first is not None
        assert renewed is not None
        assert renewed > first


async def test_fifo_groups_stay_in_order_across_brokers(redis_url: str) -> None:
    async with broker(redis_url) as a, broker(redis_url) as b:
        fifo = [Target("F", fifo=True)]
        for store in (a, b):
            store.open_queue("F", fifo=True, lease_s=30)
        for n in range(3):
            await durable(a.publish(event("g", n), fifo))
        with anyio.fail_after(5):
            (head,) = await a.take("F", 10)
        with anyio.move_on_after(0.3):  # the group is A's until its head is settled
            (early,) = await b.take("F", 10)
            pytest.fail(f"B took {early.event.data!r} while A holds the head")
        await durable(a.ack(head))
        seen = [head.event.data]
        with anyio.fail_after(5):
            for _ in range(2):
                (d,) = await b.take("F", 10)
                seen.append(d.event.data)
                await durable(b.ack(d))
        assert seen == [msgspec.Raw(msgspec.json.encode({"n": n})) for n in range(3)]


async def test_a_publish_on_one_broker_wakes_a_consumer_waiting_on_another(
    redis_url: str,
) -> None:
    async with broker(redis_url) as a, broker(redis_url) as b:
        b.open_queue("S", fifo=False, lease_s=30)
        got: list[int] = []

        async def consume() -> None:
            (d,) = await b.take("S", 10)
            got.append(d.id)

        # inside the idle poll (POLL_S), so only the wake-up can deliver it in time
        with anyio.fail_after(POLL_S - 1):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await durable(a.publish(event(), [Target("S")]))
        assert len(got) == 1


async def test_each_cron_tick_is_claimed_by_one_broker(redis_url: str) -> None:
    async with broker(redis_url) as a, broker(redis_url) as b:
        claims = [await s.claim_tick("Cron", 1_700_000_000.0) for s in (a, b, a)]
        assert claims == [True, False, False]
        assert await b.claim_tick("Cron", 1_700_000_001.0)


async def test_an_outage_fails_fast_is_reported_once_and_heals(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    reports: list[tuple[str, str]] = []
    try:
        async with broker(server.url(), lambda level, text: reports.append((level, text))) as s:
            s.open_queue("S", fifo=False, lease_s=30)
            await durable(s.publish(event(n=1), [Target("S")]))
            server.stop()
            for _ in range(3):
                with anyio.fail_after(10), pytest.raises(StorageUnavailable):
                    await s.state_set("g", "k", msgspec.Raw(b"1"))
            assert [level for level, _ in reports] == ["error"]
            assert "unreachable" in reports[0][1]
            server.start()
            with anyio.fail_after(10):
                (delivery,) = await s.take("S", 10)  # accepted before the outage: kept
            assert delivery.event.data == msgspec.Raw(b'{"n":1}')
            await s.state_set("g", "k", msgspec.Raw(b"1"))
            assert [level for level, _ in reports] == ["error", "info"]
    finally:
        server.stop()


async def test_a_redis_that_stops_answering_fails_requests_within_the_socket_timeout(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    assert server.process is not None
    try:
        async with broker(server.url()) as store:
            await store.state_set("g", "k", msgspec.Raw(b"1"))
            server.process.send_signal(signal.SIGSTOP)  # connected, silent: a hung server
            try:
                with anyio.fail_after(10), pytest.raises(StorageUnavailable):
                    await store.state_get("g", "k")
            finally:
                server.process.send_signal(signal.SIGCONT)
            with anyio.fail_after(10):
                assert await store.state_get("g", "k") == msgspec.Raw(b"1")
    finally:
        server.stop()


async def test_a_broker_that_stops_hands_what_it_holds_to_the_others(redis_url: str) -> None:
    async with broker(redis_url) as b:
        b.open_queue("S", fifo=False, lease_s=30)
        async with broker(redis_url) as a:
            a.open_queue("S", fifo=False, lease_s=30)
            await durable(a.publish(event(), [Target("S")]))
            with anyio.fail_after(5):
                (held,) = await a.take("S", 10)
        with anyio.fail_after(5):  # long before the 30 s lease would run out
            (again,) = await b.take("S", 10)
        assert (again.id, again.attempt) == (held.id, 1)


async def test_connections_dropped_under_load_are_retried_without_an_error(
    redis_url: str,
) -> None:
    # Every pooled connection is cut (CLIENT KILL, as a Redis failover or an idle
    # timeout in a proxy does) while writes are in flight: each is retried once on
    # a fresh connection, so no caller (no step) sees an error. With redis-py's
    # synchronous Retry on the asyncio client the retry never ran (issue #15).
    reports: list[tuple[str, str]] = []
    done = 0
    reached = {mark: anyio.Event() for mark in (120, 240, 360)}  # cut mid-load, three times
    killer = aioredis.Redis.from_url(redis_url)
    try:
        async with broker(redis_url, lambda level, text: reports.append((level, text))) as store:
            store.open_queue("S", fifo=False, lease_s=30)

            async def writes(lane: int) -> None:
                nonlocal done
                for n in range(150):
                    await store.state_set(f"g{lane}", str(n), msgspec.Raw(b"1"))
                    await durable(store.publish(event(n=n), [Target("S")]))
                    done += 1
                    if done in reached:
                        reached[done].set()

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for lane in range(4):
                        tg.start_soon(writes, lane)
                    for mark in reached.values():
                        await mark.wait()
                        killed = await killer.client_kill_filter(_type="normal", skipme=True)
                        assert killed >= 1
            assert done == 600
            assert len(await store.state_group("g3")) == 150
    finally:
        await killer.aclose()
    assert reports == []  # no outage was reported: nothing failed


async def test_writes_left_in_flight_by_a_closing_store_are_all_answered(
    redis_url: str,
) -> None:
    # A flood of emits whose broker stops under them: every publish is a future
    # (no task, no coroutine that could be left never awaited), and each one is
    # answered (committed, or failed with StorageError) rather than left pending.
    written: list[asyncio.Future[None]] = []
    async with broker(redis_url) as store:
        store.open_queue("S", fifo=False, lease_s=30)
        written = [store.publish(event(n=n), [Target("S")]) for n in range(2000)]
        await anyio.lowlevel.checkpoint()  # the first pipeline goes out; the rest wait
    gc.collect()  # a coroutine never awaited would warn here (warnings are errors)
    assert all(future.done() for future in written)
    failures = {type(f.exception()) for f in written if f.exception() is not None}
    assert failures <= {StorageError}


async def test_publishes_and_acks_made_before_a_pipeline_leaves_share_one_script_call(
    redis_url: str,
) -> None:
    # The emits a child sends in one burst, and the acks of a burst of deliveries,
    # each join the one PUBLISH_MANY / SETTLE_MANY call waiting for the pipeline:
    # one queued call and one future for all of them, and every delivery is stored.
    async with broker(redis_url) as a:
        a.open_queue("S", fifo=False, lease_s=30)
        published = {a.publish(event(n=n), [Target("S")]) for n in range(300)}
        assert len(published) == 1
        with anyio.fail_after(5):
            await durable(published.pop())
            taken = await a.take("S", 1000)
        assert sorted(msgspec.json.decode(d.event.data)["n"] for d in taken) == list(range(300))
        acked = {a.ack(delivery) for delivery in taken}
        assert len(acked) == 1
        with anyio.fail_after(5):
            await durable(acked.pop())
        stats = await a.queue_stats()
        assert "S" not in stats  # nothing pending or leased is left


async def test_commands_are_packed_and_replies_parsed_by_hiredis(redis_url: str) -> None:
    # redis-py packs commands and parses replies in C once hiredis is installed
    # (a dependency): in pure Python, packing re-formats the whole buffer for each
    # argument and each reply element is a readline, the largest costs of an
    # event on Redis (~25 arguments per event in PUBLISH_MANY, SETTLE_MANY, RECORD).
    from redis.connection import HiredisRespSerializer
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE
    async with broker(redis_url) as a:
        stored = await a.conn.redis.set("motiad:t:packed", "é")
        assert stored
        assert await a.conn.redis.get("motiad:t:packed") == "é".encode()
        pool = a.conn.redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            assert isinstance(connection._command_packer, HiredisRespSerializer)
            assert type(connection._parser).__name__ == "_AsyncHiredisParser"
        finally:
            await pool.release(connection)


async def test_a_flush_updates_each_trace_once_not_once_per_span(redis_url: str) -> None:
    # A burst's hundred deliveries are spans of one trace: the flush folds them
    # into the trace's summary and indexes the trace once (was ~10 commands per
    # span, the largest part of redis-server's work per event). The summary is
    # the same: see test_storage_traces's folding test, run on both backends.
    from motiad.records import Span

    async with broker(redis_url) as a:
        stats = aioredis.Redis.from_url(redis_url)
        await stats.config_resetstat()
        now = time.time()
        for n in range(100):
            a.record_span(
                Span(f"s{n}", "burst", "Noop", "event", "burst.noop", now + n, now + n + 1, "ok", 1)
            )
        await a.flush_traces()
        zadd = (await stats.info("commandstats")).get("cmdstat_zadd", {}).get("calls", 0)
        summary = await a.trace("burst")
        await stats.aclose()
    assert zadd <= 2  # the trace in 'traces' and in its step's 'steptraces'
    assert summary is not None
    assert (summary.summary.spans, summary.summary.started_at) == (100, now)
    assert summary.summary.ended_at == now + 100
