"""Deliver recorded answers to Camunda exactly once: right after the click, then by a retry loop.

Each attempt first claims the answer in a short transaction of its own: it counts the attempt
and commits a lease, long enough for its calls to the engine and for the engine to finish
with a request left unanswered. No other attempt, on this link server or another, starts
before the lease runs out, even if this one crashes or is cancelled after sending; and only
the attempt holding the newest claim may record an outcome. Any attempt after the first asks
the engine's history whether an earlier one arrived before it correlates again, which turns
a lost response into a delivered answer instead of a second correlation.

Clicks and the retry loop have delivery slots of their own: a click waits for one no longer
than a correlation may take, then hands its answer to the retry loop (the person sees
"Received"); the retry loop never waits behind clicks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from linkserver import metrics
from linkserver.camunda import CamundaClient
from linkserver.outcomes import Attempt, CorrelationResult, Visibility
from linkserver.retry import (
    INVISIBLE_ERROR,
    Delivered,
    DeliveryPolicy,
    RetryAt,
    Step,
    Undeliverable,
    backoff_s,
    next_step,
)
from tokenstore import deliveries
from tokenstore.backoff import exponential_s
from tokenstore.db import Database
from tokenstore.errors import StoreUnavailable
from tokenstore.model import Delivery
from tokenstore.types import RedemptionId, utcnow

log = logging.getLogger(__name__)

LOOP_IDLE_S = 1.0
NOISY_AFTER_ATTEMPTS = 3
MAX_CONCURRENT_DELIVERIES = 8  # first attempts, made by the requests of clicks
MAX_CONCURRENT_RETRIES = 4  # attempts of the retry loop, on slots of its own
LOOP_ERROR_BACKOFF_CAP_S = 30.0
# "Cannot see the process instance" is said at most this often, however many answers wait.
INVISIBLE_LOG_INTERVAL_S = 60.0
DEFAULT_SLOT_WAIT = dt.timedelta(seconds=10)


@dataclass
class Deliverer:
    db: Database
    camunda: CamundaClient
    policy: DeliveryPolicy
    # How long a claimed attempt keeps others away: its own calls to the engine (history,
    # message, instance) plus the time the engine may still be busy with an unanswered one.
    attempt_lease: dt.timedelta
    clock: Callable[[], dt.datetime] = utcnow
    max_concurrent: int = MAX_CONCURRENT_DELIVERIES
    max_concurrent_retries: int = MAX_CONCURRENT_RETRIES
    # How long a click waits for a free slot before the retry loop takes its answer over:
    # the correlation timeout, so nobody waits for a page much longer than one correlation.
    slot_wait: dt.timedelta = DEFAULT_SLOT_WAIT
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        # Attempts wait on the engine; capping them keeps the engine's slowness from
        # becoming ours everywhere. No database connection is held while they wait.
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._retry_slots = asyncio.Semaphore(self.max_concurrent_retries)
        self._invisible_said_at: float | None = None
        self._invisible_since_said = 0

    async def deliver_now(self, redemption_id: RedemptionId) -> Step | None:
        """The first attempt, by the request that recorded the answer; None if taken over."""
        try:
            async with asyncio.timeout(self.slot_wait.total_seconds()):
                await self._slots.acquire()
        except TimeoutError:
            await self._hand_over(redemption_id)
            return None
        try:
            async with self.db.transaction() as conn:
                delivery = await deliveries.claim_delivery(
                    conn, redemption_id, self.clock(), self.attempt_lease
                )
            if delivery is None:
                return None  # the retry loop got there first, or it is settled
            return await self._attempt(delivery)
        finally:
            self._slots.release()

    async def deliver_claimed(self, delivery: Delivery) -> Step | None:
        """The first attempt, claimed in the statement that recorded the answer (no claim
        transaction of its own); None if no slot came free and it was handed back."""
        try:
            async with asyncio.timeout(self.slot_wait.total_seconds()):
                await self._slots.acquire()
        except TimeoutError:
            await self._hand_over(delivery.redemption_id, claimed=True)
            return None
        try:
            return await self._attempt(delivery)
        finally:
            self._slots.release()

    async def _hand_over(self, redemption_id: RedemptionId, claimed: bool = False) -> None:
        # Nothing was sent: let the retry loop take it now, not when the click's lease ends.
        release = (
            deliveries.hand_back_claimed_first_attempt
            if claimed
            else deliveries.release_first_attempt
        )
        async with self.db.transaction() as conn:
            released = await release(conn, redemption_id, self.clock())
        log.info(
            "no free delivery slot; the retry loop takes the answer over",
            extra={
                "action": "delivery_handed_over",
                "redemption_id": str(redemption_id),
                "released": released,
            },
        )

    async def deliver_one_due(self) -> bool:
        """Retry the most overdue answer, if any; True if there was one."""
        attempt = await self.start_due()
        if attempt is None:
            return False
        await attempt
        return True

    async def start_due(self) -> asyncio.Task[Step] | None:
        """Claim the most overdue answer on a retry slot and attempt it in the background.

        Waits for a free retry slot; None if nothing is due. The slot is freed when the
        returned task ends.
        """
        await self._retry_slots.acquire()
        try:
            async with self.db.transaction() as conn:
                delivery = await deliveries.claim_due_delivery(
                    conn, self.clock(), self.attempt_lease
                )
        except BaseException:
            self._retry_slots.release()
            raise
        if delivery is None:
            self._retry_slots.release()
            return None
        task = asyncio.create_task(self._attempt(delivery), name="delivery-retry")
        task.add_done_callback(lambda _: self._retry_slots.release())
        return task

    async def report_pending(self) -> None:
        async with self.db.connection() as conn:
            count, oldest = await deliveries.count_pending(conn)
            invisible = await deliveries.count_pending_with_error(conn, INVISIBLE_ERROR)
        metrics.PENDING.set(count)
        age = (self.clock() - oldest).total_seconds() if oldest else 0.0
        metrics.OLDEST_PENDING_AGE.set(age)
        metrics.INVISIBLE_INSTANCES.set(invisible)

    async def _attempt(self, delivery: Delivery) -> Step:
        # Only a first claim is sure that nothing was sent before it.
        earlier_may_have_arrived = delivery.attempts > 1
        attempt: Attempt | None = None
        if earlier_may_have_arrived:
            attempt = await self._look_in_history(delivery)
        if attempt is None:
            attempt = await self.camunda.correlate(delivery)
        visibility = Visibility.UNKNOWN
        if attempt.result is CorrelationResult.NO_MATCH:
            visibility = await self.camunda.instance_visibility(delivery.process_instance_id)
        step = next_step(
            attempt,
            visibility,
            delivery.attempts - 1,
            delivery.answered_at,
            self.clock(),
            self.policy,
            random.random(),
            refusals_before=delivery.refusals,
        )
        if isinstance(step, Undeliverable) and earlier_may_have_arrived:
            step = await self._confirm_undeliverable(delivery, step)
        await self._record(delivery, step)
        return step

    async def _look_in_history(self, delivery: Delivery) -> Attempt | None:
        """Did an earlier attempt arrive? Correlating again without knowing could deliver twice."""
        arrived = await self.camunda.redemption_arrived(delivery)
        if arrived is None:
            return Attempt(CorrelationResult.UNREACHABLE, "history not readable")
        if arrived:
            return Attempt(CorrelationResult.DELIVERED, "found in history")
        return None

    async def _confirm_undeliverable(self, delivery: Delivery, step: Undeliverable) -> Step:
        # An earlier request may have landed after our look and be why nothing waits now.
        arrived = await self.camunda.redemption_arrived(delivery)
        if arrived:
            return Delivered()
        if arrived is None:
            retry_s = backoff_s(delivery.attempts, self.policy, random.random())
            return RetryAt(self.clock() + dt.timedelta(seconds=retry_s), "history not readable")
        return step

    async def _write(self, delivery: Delivery, step: Step, now: dt.datetime) -> bool:
        """Record the attempt's outcome; False when a newer attempt took over."""
        if isinstance(step, Undeliverable):  # may close the group too: several statements
            async with self.db.transaction() as conn:
                return await deliveries.settle_undeliverable(
                    conn,
                    delivery,
                    now,
                    step.reason,
                    close_group=step.close_group,
                    refused=step.refused,
                )
        # A settle or a reschedule is one statement, atomic by itself: no BEGIN and COMMIT
        # round trips around it.
        async with self.db.single_statement() as conn:
            if isinstance(step, Delivered):
                return await deliveries.settle_delivered(conn, delivery, now)
            return await deliveries.reschedule(conn, delivery, step.at, step.error, step.refused)

    async def _record(self, delivery: Delivery, step: Step) -> None:
        now = self.clock()
        recorded = await self._write(delivery, step, now)
        extra = {
            "action": "delivery",
            "redemption_id": str(delivery.redemption_id),
            "process_instance_id": delivery.process_instance_id,
            "attempt": delivery.attempts,
        }
        if isinstance(step, Delivered):
            result, level, text = "delivered", logging.INFO, "answer delivered"
        elif isinstance(step, Undeliverable):
            result = "refused" if step.refused else "undeliverable"
            level, text = logging.WARNING, f"undeliverable: {step.reason}"
        else:
            result, level, text = self._retry_log(delivery, step)
        if not recorded:
            log.warning("a newer attempt took over; outcome dropped", extra=extra)
            return
        metrics.DELIVERIES.labels(result).inc()
        log.log(level, text, extra=extra)
        if isinstance(step, RetryAt) and step.invisible:
            self._say_invisible()

    def _retry_log(self, delivery: Delivery, step: RetryAt) -> tuple[str, int, str]:
        text = f"delivery will be retried: {step.error}"
        if step.invisible:  # said once an interval instead, by _say_invisible
            return "invisible", logging.DEBUG, text
        # Quiet for the usual "not yet"; loud once it keeps failing.
        level = logging.WARNING if delivery.attempts >= NOISY_AFTER_ATTEMPTS else logging.INFO
        return "retry", level, text

    def _say_invisible(self) -> None:
        """Once an interval, not once an attempt: many answers may wait on one missing grant."""
        self._invisible_since_said += 1
        now = self.monotonic()
        said = self._invisible_said_at
        if said is not None and now - said < INVISIBLE_LOG_INTERVAL_S:
            return
        log.warning(
            "%s (%d delivery attempts could not see their instance)",
            INVISIBLE_ERROR,
            self._invisible_since_said,
            extra={"action": "instance_invisible", "attempts": self._invisible_since_said},
        )
        self._invisible_said_at = now
        self._invisible_since_said = 0


class DeliveryLoop:
    """Background task: deliver every due answer, then wait a little; survive any outage."""

    def __init__(self, deliverer: Deliverer, idle_s: float = LOOP_IDLE_S) -> None:
        self.deliverer = deliverer
        self.idle_s = idle_s
        self._stopping = asyncio.Event()
        self._errors = 0
        self._running: set[asyncio.Task[Step]] = set()

    def stop(self) -> None:
        self._stopping.set()

    def _error_wait_s(self) -> float:
        return exponential_s(self._errors, self.idle_s, LOOP_ERROR_BACKOFF_CAP_S, max_exponent=10)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._start_all_due()
                await self.deliverer.report_pending()
                self._errors = 0
                wait_s = self.idle_s
            except StoreUnavailable as exc:
                self._errors += 1
                wait_s = self._error_wait_s()
                log.warning(
                    "delivery loop cannot reach the database: %s",
                    type(exc).__name__,
                    extra={"action": "delivery_loop_error"},
                )
            except Exception:
                # Whatever it was, pending answers must not wait for a restart.
                self._errors += 1
                wait_s = self._error_wait_s()
                log.exception("delivery loop error", extra={"action": "delivery_loop_error"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait_s)
        # The attempts under way finish (the app gives the loop its grace period for them).
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _start_all_due(self) -> None:
        """Start an attempt for every due answer, as many at once as there are retry slots."""
        while not self._stopping.is_set():
            attempt = await self.deliverer.start_due()
            if attempt is None:
                return
            self._running.add(attempt)
            attempt.add_done_callback(self._finished)

    def _finished(self, attempt: asyncio.Task[Step]) -> None:
        self._running.discard(attempt)
        if attempt.cancelled():
            return
        exc = attempt.exception()
        if exc is None:
            return
        # The answer stays pending; its lease runs out and the next attempt takes it.
        if isinstance(exc, StoreUnavailable):
            log.warning(
                "delivery attempt could not reach the database: %s",
                type(exc).__name__,
                extra={"action": "delivery_loop_error"},
            )
        else:
            log.error(
                "delivery attempt failed",
                exc_info=exc,
                extra={"action": "delivery_loop_error"},
            )
