"""Running steps' handlers: API calls, event deliveries and cron ticks. Each
invocation is recorded as a span and its failure logged under its trace; a
failed delivery is retried or dead-lettered as the retry policy says. The
dispatch owns the workers that feed event and cron steps."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from .config import ApiStepConfig, CronStepConfig, EventStepConfig, Settings
from .errors import InvalidInput, MotiadError, RemoteError, StorageError, StorageUnavailable
from .invocations import InFlight, Invocation, Invocations, storage_failure
from .protocol import ErrorCode
from .protocol.messages import (
    ApiRequest,
    ApiResult,
    ApiTrigger,
    CronTrigger,
    ErrorInfo,
    EventTrigger,
    InvokeParams,
    Trigger,
)
from .request_stream import RequestBodyStream
from .response_stream import ResponseSink
from .retry import GiveUp, RetryPolicy
from .schemas import Issue
from .signals import CURRENT_REQUEST, DeadLetterNote
from .steps import Step
from .storage import Delivery, Store
from .supervisor import InvocationTimeout, handler_error
from .trace_context import format_traceparent, span_id_of
from .tracing import Bus, Level, LogBus, Span, SpanBus, new_id
from .triggers import with_index
from .worker import FollowUp, Worker

_api_result_decoder = msgspec.json.Decoder(ApiResult)


def failure_info(exc: MotiadError) -> ErrorInfo:
    """What a failed invocation records: the handler's own error, or what
    happened to the invocation (timed out, child died), which is retryable."""
    if isinstance(exc, RemoteError):
        if exc.code == ErrorCode.HANDLER_FAILED:
            return handler_error(exc)
        # SPEC errors.retryable: some codes would come back the same on a retry.
        retryable = handler_error(exc).retryable
        return ErrorInfo("InvocationError", f"{exc.message} (code {exc.code})", retryable=retryable)
    if isinstance(exc, InvocationTimeout):
        return ErrorInfo("TimeoutError", str(exc))
    return ErrorInfo(type(exc).__name__, str(exc))


class Dispatch:
    """Invokes steps and feeds event and cron steps from their workers.

    ``spans`` gets every finished invocation; ``invocations`` is the table the
    child services find an invocation in while it runs."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        logs: LogBus,
        spans: SpanBus,
        invocations: Invocations,
        *,
        dead_letters: Bus[DeadLetterNote] | None = None,
        dev: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.logs = logs
        self.spans = spans
        self.dead_letters: Bus[DeadLetterNote] = dead_letters or Bus()
        """Told each delivery moved to the dead-letter queue (the metrics count them)."""
        self.dev = dev
        """Development checks on: API responses are checked against responseSchema."""
        self.retry_policy = RetryPolicy.of(settings.queue)
        self._invocations = invocations
        self._workers: dict[str, Worker[Any]] = {}
        self._acking: dict[asyncio.Future[None], list[tuple[Step, Delivery]]] = {}
        """Acks not committed yet, by the store's future: a batch of acks shares
        one, and one callback per future, not per delivery, looks at the outcome."""
        """Per step name, what feeds it (event deliveries or cron ticks)."""
        self._tg: TaskGroup | None = None

    # --- workers ------------------------------------------------------------

    def serve(self, tg: TaskGroup, steps: Sequence[Step]) -> None:
        """Start consuming events for every event step and the schedule of every
        cron step of ``steps``, in ``tg`` (and later ones, in :meth:`start`)."""
        self._tg = tg
        for step in steps:
            self.start(step)

    def start(self, step: Step) -> None:
        """Start feeding ``step`` (an event or cron step; others need no worker)."""
        assert self._tg is not None, "serve() first"
        worker: Worker[Any]
        if isinstance(step.config, EventStepConfig):
            fifo = step.config.infrastructure.queue.type == "fifo"
            self.store.open_queue(step.name, fifo=fifo, lease_s=step.lease_s(self.settings))
            worker = Worker(
                step.name,
                partial(self.store.take, step.name),
                partial(self._deliver, step),
                abandon=self.store.release,
            )
        elif isinstance(step.config, CronStepConfig):
            worker = self._cron_worker(step)
        else:
            return
        self._workers[step.name] = worker
        self._tg.start_soon(worker.run)

    def stop(self, step: Step) -> None:
        """Stop feeding ``step`` (what runs is abandoned; its deliveries stay due)."""
        worker = self._workers.pop(step.name, None)
        if worker is not None:
            worker.cancel()
        if isinstance(step.config, EventStepConfig):
            self.store.close_queue(step.name)

    async def drain(self, grace_s: float) -> None:
        """Stop taking events and ticks; wait up to ``grace_s`` for the running ones."""
        with anyio.move_on_after(grace_s):
            async with anyio.create_task_group() as tg:
                for worker in self._workers.values():
                    tg.start_soon(worker.drain)

    def in_flight(self) -> InFlight:
        """What runs now (``motiad run`` says it when asked to stop)."""
        return self._invocations.in_flight()

    def cancel(self) -> None:
        """Abandon deliveries still running (they stay due in storage)."""
        for worker in self._workers.values():
            worker.cancel()

    # --- invoking -----------------------------------------------------------

    async def call_api(
        self,
        step: Step,
        request: ApiRequest,
        trace_id: str,
        sink: ResponseSink | None = None,
        *,
        parent_id: str | None = None,
        body_stream: RequestBodyStream | None = None,
        caller_id: str | None = None,
    ) -> ApiResult:
        """Run an API step's handler under ``trace_id``, as a child of the
        request's span ``parent_id`` (itself a child of the caller's span
        ``caller_id``, if any); returns its response. With ``sink``, the
        handler may stream its response there instead (``http.write``); the
        result is then ignored once ``sink.started``. With ``body_stream``, it
        reads the request body from there (``http.read``; ``request.body_stream``).

        Raises :class:`InvalidInput` (the body fails ``bodySchema``), or what
        :meth:`invoke` raises. A step with middleware is invoked even then, as
        Motia runs middleware before anything reads the body: its chain gets
        the 400 in place of the handler's response (SPEC ``invoke.refusal``).
        """
        trigger = ApiTrigger()
        if step.body_schema is not None:
            body = request.body
            if request.body_encoding is not None:
                kind = request.headers.get("content-type") or "no Content-Type"
                issues = [Issue("body", f"expected JSON, got bytes ({kind})")]
            else:
                value = msgspec.json.decode(body) if isinstance(body, msgspec.Raw) else body
                issues = step.body_schema.issues(value, root="body")
            if issues:
                refused = InvalidInput("request body does not match the step's bodySchema", issues)
                if not isinstance(step.config, ApiStepConfig) or not step.config.middleware:
                    detail = f"{request.method} {request.path}"
                    self.refused(step.name, detail, trace_id, 400, str(refused))
                    raise refused
                body_400 = msgspec.Raw(msgspec.json.encode(refused.payload(trace_id)))
                trigger = ApiTrigger(refusal=ApiResult(400, body_400))
        raw = await self.invoke(
            step,
            trigger,
            request,
            trace_id,
            sink=sink,
            parent_id=parent_id,
            body=body_stream,
            caller_id=caller_id,
        )
        if sink is not None and sink.started:
            return ApiResult(200)
        try:
            result = _api_result_decoder.decode(raw or b"null")
        except msgspec.ValidationError as exc:
            message = f"handler must return {{status, body?, headers?}}: {exc}"
            self.logs.log("error", message, step=step.name, trace_id=trace_id)
            raise RemoteError(ErrorCode.HANDLER_FAILED, message) from None
        if self.dev and step.response_schemas:
            self._check_response(step, result, trace_id)
        return result

    def _check_response(self, step: Step, result: ApiResult, trace_id: str) -> None:
        """``motiad dev``: warn when a response breaks the step's responseSchema."""
        schema = step.response_schemas.get(result.status)
        if schema is None:
            declared = ", ".join(str(s) for s in sorted(step.response_schemas))
            self.logs.log(
                "warn",
                f"responded {result.status}, which config.responseSchema does not declare"
                f" (declared: {declared})",
                step=step.name,
                trace_id=trace_id,
            )
            return
        issues = schema.issues(msgspec.json.decode(result.body), root="body")
        if issues:
            detail = "; ".join(f"{path}: {message}" for path, message in issues)
            self.logs.log(
                "warn",
                f"response {result.status} does not match config.responseSchema.{result.status}:"
                f" {detail}",
                step=step.name,
                trace_id=trace_id,
            )

    async def invoke(
        self,
        step: Step,
        trigger: Trigger,
        payload: Any,
        trace_id: str,
        attempt: int = 1,
        sink: ResponseSink | None = None,
        *,
        parent_id: str | None = None,
        body: RequestBodyStream | None = None,
        caller_id: str | None = None,
    ) -> msgspec.Raw | None:
        """One invocation of ``step``'s handler; failures are logged under the
        trace. Its span is a child of the span ``parent_id`` (W3C ids, see
        :mod:`motiad.trace_context`), and the handler gets its ``traceparent``.

        Raises :class:`RemoteError` (the handler failed), :class:`StorageError`
        (it failed because a storage call made for it did),
        :class:`InvocationTimeout` or :class:`ChildError` (the child died or is
        unavailable).
        """
        invocation_id = new_id()
        params = InvokeParams(
            str(step.file.path),
            with_index(step.config, trigger),
            payload,
            trace_id,
            invocation_id,
            attempt,
            int(step.timeout_s(self.settings) * 1000),
            format_traceparent(trace_id, span_id_of(invocation_id)),
        )
        invocation = self._invocations.start(invocation_id, step, trace_id, sink, body)
        started = time.time()
        record = partial(
            self._record_span, step, params, payload, started, invocation, parent_id, caller_id
        )
        try:
            result = await step.pool.invoke(params)
        except anyio.get_cancelled_exc_class():
            record(ErrorInfo("CancelledError", "the invocation was cancelled"))
            raise
        except MotiadError as exc:
            cause = invocation.storage_failure
            if cause is not None and isinstance(exc, RemoteError):
                # the handler failed because storage did: say so (HTTP 503, retryable);
                # an outage is logged once by the store, not once per invocation
                level: Level = "debug" if isinstance(cause, StorageUnavailable) else "error"
                self.logs.log(level, f"failed: {cause}", step=step.name, trace_id=trace_id)
                failed = StorageError(f"{step.name} failed: {cause}")
                record(failure_info(failed))
                raise failed from None
            error = failure_info(exc)
            record(error)
            self.logs.log(
                "error",
                f"handler failed: {error.type}: {error.message}"
                if isinstance(exc, RemoteError)
                else str(exc),
                step=step.name,
                trace_id=trace_id,
                invocation_id=invocation_id,
                fields={"stack": error.stack} if error.stack else None,
            )
            raise
        finally:
            self._invocations.finish(invocation_id)
        record(None)
        return result

    def refused(self, step: str, detail: str, trace_id: str, status: int, why: str) -> None:
        """Record a request answered with an error before any handler ran (a
        body that is not JSON or not the step's, too large, no route): a trace
        of one span and a log line, so the trace id the response carries
        leads somewhere. ``step`` is ``""`` when no step serves the path."""
        now = time.time()
        error = ErrorInfo(f"HTTP {status}", why, retryable=False)
        request = CURRENT_REQUEST.get()  # its server span is the parent (http.observed)
        parent, caller = (request.span_id, request.parent_id) if request else (None, None)
        self.spans.publish(
            Span(
                new_id(),
                trace_id,
                step,
                "api",
                detail,
                now,
                now,
                "error",
                1,
                error,
                parent_id=parent,
                caller_id=caller,
            )
        )
        self.logs.log("warn", f"{detail}: {status} {why}", step=step or None, trace_id=trace_id)

    def _record_span(
        self,
        step: Step,
        params: InvokeParams,
        payload: Any,
        started: float,
        invocation: Invocation,
        parent_id: str | None,
        caller_id: str | None,
        error: ErrorInfo | None,
    ) -> None:
        """Publish the span of a finished invocation (subscribers only buffer it)."""
        trigger = params.trigger
        if isinstance(trigger, EventTrigger):
            detail = trigger.topic
        elif isinstance(payload, ApiRequest):
            detail = f"{payload.method} {payload.path}"
        else:
            detail = step.trigger
        self.spans.publish(
            Span(
                params.invocation_id,
                params.trace_id,
                step.name,
                trigger.__struct_config__.tag,  # type: ignore[arg-type]
                detail,
                started,
                time.time(),
                "ok" if error is None else "error",
                params.attempt,
                error,
                parent_id,
                caller_id,
                invocation.emitted or None,
            )
        )

    # --- deliveries ---------------------------------------------------------

    async def _deliver(self, step: Step, delivery: Delivery) -> FollowUp:
        """Invoke the subscriber; a failure is settled here, a success returns
        its ack, which the worker awaits after freeing the delivery's slot."""
        event = delivery.event
        trigger = EventTrigger(event.topic, event.id, event.message_group_id)
        try:
            try:
                await self.invoke(
                    step,
                    trigger,
                    event.data,
                    event.trace_id,
                    delivery.attempt,
                    parent_id=span_id_of(event.id),  # the emit's span
                )
            except MotiadError as exc:
                # a storage outage under the handler is logged once, by the store
                quiet = isinstance(exc, StorageError)
                await self._settle_failure(step, delivery, failure_info(exc), quiet=quiet)
                return None
        except StorageError as exc:
            self._not_settled(step, delivery, exc)
            return None
        try:
            acked = self.store.ack(delivery)
        except StorageError as exc:  # closed under us: the ack is not queued
            self._not_settled(step, delivery, exc)
            return None
        acking = self._acking.get(acked)
        if acking is None:
            acking = self._acking[acked] = []
            acked.add_done_callback(self._acked)
        acking.append((step, delivery))
        return acked

    def _acked(self, acked: asyncio.Future[None]) -> None:
        settled = self._acking.pop(acked)
        failure = storage_failure(acked)
        if failure is not None:
            for step, delivery in settled:
                self._not_settled(step, delivery, failure)

    def _not_settled(self, step: Step, delivery: Delivery, exc: StorageError) -> None:
        # the outcome did not reach storage: the delivery comes back when its
        # lease runs out (at least once); the outage itself is logged by the store
        self.logs.log("debug", f"delivery {delivery.id} not settled: {exc}", step=step.name)

    async def _settle_failure(
        self, step: Step, delivery: Delivery, error: ErrorInfo, *, quiet: bool = False
    ) -> None:
        """Apply the retry policy's verdict on a failed delivery to storage."""
        max_retries = step.config.infrastructure.queue.max_retries
        verdict = self.retry_policy.after_failure(delivery.attempt, error, max_retries)
        trace_id = delivery.event.trace_id
        if isinstance(verdict, GiveUp):
            await self.store.dead_letter(delivery, error)  # then say so: it is there now
            self.dead_letters.publish(DeadLetterNote(step.name, delivery.event.topic, trace_id))
            self.logs.log(
                "error",
                f"event {delivery.event.id} ({delivery.event.topic}) moved to the dead-letter"
                f" queue {verdict.reason}",
                step=step.name,
                trace_id=trace_id,
            )
            return
        self.logs.log(
            "debug" if quiet else "warn",
            f"attempt {delivery.attempt}/{verdict.attempts} failed;"
            f" retrying in {verdict.delay_s:.1f}s",
            step=step.name,
            trace_id=trace_id,
        )
        await self.store.retry(delivery, error, verdict.delay_s)

    # --- cron ---------------------------------------------------------------

    def _cron_worker(self, step: Step) -> Worker[datetime]:
        """Fires each tick of the step's schedule, computed in local time as
        node-cron does. Ticks missed while motiad was down are not replayed."""
        schedule = step.schedule
        assert schedule is not None
        assert isinstance(step.config, CronStepConfig)
        skip = step.config.skip_if_running

        async def next_tick(_limit: int) -> Sequence[datetime]:
            while True:
                due = schedule.next_after(datetime.now().astimezone())
                await anyio.sleep(max(0.0, (due - datetime.now().astimezone()).total_seconds()))
                if not (skip and worker.running):
                    return [due]
                self.logs.log(
                    "warn", "tick skipped: the previous run is still going", step=step.name
                )

        async def tick(due: datetime) -> FollowUp:
            try:  # several brokers may share the storage: the first to claim runs it
                if not await self.store.claim_tick(step.name, due.timestamp()):
                    return None
            except StorageError as exc:
                self.logs.log("warn", f"tick {due:%H:%M:%S} skipped: {exc}", step=step.name)
                return None
            trace_id = new_id()
            self.logs.log("debug", f"cron tick {due:%H:%M:%S}", step=step.name, trace_id=trace_id)
            with contextlib.suppress(MotiadError):  # logged by invoke; the next tick runs
                await self.invoke(step, CronTrigger(), None, trace_id)
            return None

        worker: Worker[datetime] = Worker(step.name, next_tick, tick, concurrency=1_000)
        return worker
