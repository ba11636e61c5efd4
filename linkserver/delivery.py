"""Deliver recorded answers to Camunda exactly once: right after the click, then by a retry loop.

Each attempt first claims the answer in a short transaction of its own: it counts the attempt
and commits a lease, long enough for its calls to the engine and for the engine to finish
with a request left unanswered. No other attempt, on this link server or another, starts
before the lease runs out, even if this one crashes or is cancelled after sending; and only
the attempt holding the newest claim may record an outcome. Any attempt after the first asks
the engine's history whether an earlier one arrived before it correlates again, which turns
a lost response into a delivered answer instead of a second correlation.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from linkserver import metrics
from linkserver.camunda import Attempt, CamundaClient, CorrelationResult
from linkserver.retry import (
    Delivered,
    DeliveryPolicy,
    RetryAt,
    Step,
    Undeliverable,
    backoff_s,
    next_step,
)
from tokenstore import store
from tokenstore.model import Delivery
from tokenstore.types import RedemptionId, utcnow

log = logging.getLogger(__name__)

LOOP_IDLE_S = 1.0
NOISY_AFTER_ATTEMPTS = 3
MAX_CONCURRENT_DELIVERIES = 8
LOOP_ERROR_BACKOFF_CAP_S = 30.0


@dataclass
class Deliverer:
    engine: AsyncEngine
    camunda: CamundaClient
    policy: DeliveryPolicy
    # How long a claimed attempt keeps others away: its own calls to the engine (history,
    # message, instance) plus the time the engine may still be busy with an unanswered one.
    attempt_lease: dt.timedelta
    clock: Callable[[], dt.datetime] = utcnow
    max_concurrent: int = MAX_CONCURRENT_DELIVERIES

    def __post_init__(self) -> None:
        # Attempts wait on the engine; capping them keeps the engine's slowness from
        # becoming ours everywhere. No database connection is held while they wait.
        self._slots = asyncio.Semaphore(self.max_concurrent)

    async def deliver_now(self, redemption_id: RedemptionId) -> Step | None:
        """The first attempt, by the request that recorded the answer; None if taken over."""
        async with self._slots:
            async with self.engine.begin() as conn:
                delivery = await store.claim_delivery(
                    conn, redemption_id, self.clock(), self.attempt_lease
                )
            if delivery is None:
                return None  # the retry loop got there first, or it is settled
            return await self._attempt(delivery)

    async def deliver_one_due(self) -> bool:
        """Retry the most overdue answer, if any; True if there was one."""
        async with self._slots:
            async with self.engine.begin() as conn:
                delivery = await store.claim_due_delivery(conn, self.clock(), self.attempt_lease)
            if delivery is None:
                return False
            await self._attempt(delivery)
            return True

    async def report_pending(self) -> None:
        async with self.engine.connect() as conn:
            count, oldest = await store.count_pending(conn)
        metrics.PENDING.set(count)
        age = (self.clock() - oldest).total_seconds() if oldest else 0.0
        metrics.OLDEST_PENDING_AGE.set(age)

    async def _attempt(self, delivery: Delivery) -> Step:
        # Only a first claim is sure that nothing was sent before it.
        earlier_may_have_arrived = delivery.attempts > 1
        attempt: Attempt | None = None
        if earlier_may_have_arrived:
            attempt = await self._look_in_history(delivery)
        if attempt is None:
            attempt = await self.camunda.correlate(delivery)
        alive = None
        if attempt.result is CorrelationResult.NO_MATCH:
            alive = await self.camunda.instance_alive(delivery.process_instance_id)
        step = next_step(
            attempt,
            alive,
            delivery.attempts - 1,
            delivery.answered_at,
            self.clock(),
            self.policy,
            random.random(),
        )
        if isinstance(step, Undeliverable) and earlier_may_have_arrived:
            step = await self._confirm_undeliverable(delivery, step)
        async with self.engine.begin() as conn:
            await self._record(conn, delivery, step, ended=alive is False)
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

    async def _record(
        self, conn: AsyncConnection, delivery: Delivery, step: Step, ended: bool
    ) -> None:
        now = self.clock()
        extra = {
            "action": "delivery",
            "redemption_id": str(delivery.redemption_id),
            "process_instance_id": delivery.process_instance_id,
            "attempt": delivery.attempts,
        }
        if isinstance(step, Delivered):
            recorded = await store.settle_delivered(conn, delivery, now)
            result, level, text = "delivered", logging.INFO, "answer delivered"
        elif isinstance(step, Undeliverable):
            recorded = await store.settle_undeliverable(
                conn, delivery, now, step.reason, close_group=ended
            )
            result, level, text = "undeliverable", logging.WARNING, f"undeliverable: {step.reason}"
        else:
            recorded = await store.reschedule(conn, delivery, step.at, step.error)
            # Quiet for the usual "not yet"; loud once it keeps failing.
            level = logging.WARNING if delivery.attempts >= NOISY_AFTER_ATTEMPTS else logging.INFO
            result, text = "retry", f"delivery will be retried: {step.error}"
        if not recorded:
            log.warning("a newer attempt took over; outcome dropped", extra=extra)
            return
        metrics.DELIVERIES.labels(result).inc()
        log.log(level, text, extra=extra)


class DeliveryLoop:
    """Background task: deliver every due answer, then wait a little; survive any outage."""

    def __init__(self, deliverer: Deliverer, idle_s: float = LOOP_IDLE_S) -> None:
        self.deliverer = deliverer
        self.idle_s = idle_s
        self._stopping = asyncio.Event()
        self._errors = 0

    def stop(self) -> None:
        self._stopping.set()

    def _error_wait_s(self) -> float:
        return float(min(LOOP_ERROR_BACKOFF_CAP_S, self.idle_s * 2 ** min(self._errors, 10)))

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                while not self._stopping.is_set() and await self.deliverer.deliver_one_due():
                    pass
                await self.deliverer.report_pending()
                self._errors = 0
                wait_s = self.idle_s
            except (SQLAlchemyError, OSError) as exc:
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
