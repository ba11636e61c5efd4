"""Deliver recorded answers to Camunda exactly once: right after the click, then by a retry loop.

Each attempt runs under the answer's row lock (``SKIP LOCKED``), so several link servers
never work on one answer at once. The loop asks the engine's history whether an earlier
attempt already arrived before it correlates again, which turns a lost response into a
delivered answer instead of a second correlation.
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
from linkserver.retry import Delivered, DeliveryPolicy, RetryAt, Step, Undeliverable, next_step
from tokenstore import store
from tokenstore.model import Delivery
from tokenstore.types import RedemptionId

log = logging.getLogger(__name__)

LOOP_IDLE_S = 1.0
MAX_CONCURRENT_DELIVERIES = 8  # of the pool's connections (tokenstore.db: 10 + 10 overflow)
LOOP_ERROR_BACKOFF_CAP_S = 30.0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Deliverer:
    engine: AsyncEngine
    camunda: CamundaClient
    policy: DeliveryPolicy
    clock: Callable[[], dt.datetime] = utcnow
    max_concurrent: int = MAX_CONCURRENT_DELIVERIES

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.max_concurrent)

    async def deliver_now(self, redemption_id: RedemptionId) -> Step | None:
        """The first attempt, made by the request that recorded the answer."""
        # Deliveries hold a pooled connection while they wait for the engine; capping them
        # leaves connections for pages when the engine is slow.
        async with self._slots, self.engine.begin() as conn:
            delivery = await store.lock_delivery(conn, redemption_id)
            if delivery is None:
                return None  # settled already, or another process holds it
            # Past its lease the retry loop may have tried already: then look first.
            return await self._attempt(conn, delivery, check_history=delivery.attempts > 0)

    async def deliver_one_due(self) -> bool:
        """Retry the most overdue answer, if any; True if there was one."""
        async with self._slots, self.engine.begin() as conn:
            delivery = await store.claim_due_delivery(conn, self.clock())
            if delivery is None:
                return False
            await self._attempt(conn, delivery, check_history=True)
            return True

    async def _attempt(
        self, conn: AsyncConnection, delivery: Delivery, check_history: bool
    ) -> Step:
        attempt: Attempt | None = None
        if check_history:
            # An earlier attempt may have arrived with its response lost; correlating again
            # without knowing would deliver the answer twice.
            arrived = await self.camunda.redemption_arrived(delivery)
            if arrived is None:
                attempt = Attempt(CorrelationResult.UNREACHABLE, "history not readable")
            elif arrived:
                attempt = Attempt(CorrelationResult.DELIVERED, "found in history")
        if attempt is None:
            attempt = await self.camunda.correlate(delivery)
        alive = None
        if attempt.result is CorrelationResult.NO_MATCH:
            alive = await self.camunda.instance_alive(delivery.process_instance_id)
        step = next_step(
            attempt,
            alive,
            delivery.attempts,
            delivery.answered_at,
            self.clock(),
            self.policy,
            random.random(),
        )
        await self._record(conn, delivery, step)
        return step

    async def _record(self, conn: AsyncConnection, delivery: Delivery, step: Step) -> None:
        now = self.clock()
        extra = {
            "action": "delivery",
            "redemption_id": str(delivery.redemption_id),
            "process_instance_id": delivery.process_instance_id,
            "attempt": delivery.attempts + 1,
        }
        if isinstance(step, Delivered):
            await store.settle_delivered(conn, delivery, now)
            metrics.DELIVERIES.labels("delivered").inc()
            log.info("answer delivered", extra=extra)
        elif isinstance(step, Undeliverable):
            await store.settle_undeliverable(conn, delivery, now, step.reason)
            metrics.DELIVERIES.labels("undeliverable").inc()
            log.warning("answer undeliverable: %s", step.reason, extra=extra)
        elif isinstance(step, RetryAt):
            await store.reschedule(conn, delivery, step.at, step.error)
            metrics.DELIVERIES.labels("retry").inc()
            log.info("delivery will be retried: %s", step.error, extra=extra)


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
