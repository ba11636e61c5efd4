"""What to do after an attempt to deliver an answer: pure rules and backoff arithmetic."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from linkserver.camunda import Attempt, CorrelationResult

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0


@dataclass(frozen=True)
class DeliveryPolicy:
    # How long a "no matching execution" counts as "not yet" while the instance still runs.
    not_yet_window: dt.timedelta = dt.timedelta(minutes=10)
    # After a request went out unanswered, how long until the engine has surely finished
    # with it; only then can its history say whether it arrived.
    settle_after_timeout: dt.timedelta = dt.timedelta(seconds=30)
    base_s: float = BACKOFF_BASE_S
    cap_s: float = BACKOFF_CAP_S


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Undeliverable:
    reason: str


@dataclass(frozen=True)
class RetryAt:
    at: dt.datetime
    error: str


Step = Delivered | Undeliverable | RetryAt


def backoff_s(attempts: int, policy: DeliveryPolicy, jitter: float) -> float:
    """Capped exponential backoff; ``jitter`` in [0, 1) spreads retries of many link servers."""
    exponent = min(attempts, 30)
    delay = min(policy.cap_s, policy.base_s * float(2**exponent))
    return delay * (0.5 + jitter / 2)


def next_step(
    attempt: Attempt,
    instance_alive: bool | None,
    attempts_before: int,
    answered_at: dt.datetime,
    now: dt.datetime,
    policy: DeliveryPolicy,
    jitter: float,
) -> Step:
    """From one attempt's result: delivered, too late for good, or to be retried.

    ``instance_alive`` matters only for NO_MATCH: an ended instance will never take the
    answer; a running one may simply not have reached its message event yet.
    """
    if attempt.result is CorrelationResult.DELIVERED:
        return Delivered()
    retry_at = now + dt.timedelta(seconds=backoff_s(attempts_before, policy, jitter))
    if attempt.result is CorrelationResult.NO_MATCH:
        if instance_alive is False:
            return Undeliverable("the process instance has ended")
        if instance_alive and now - answered_at >= policy.not_yet_window:
            return Undeliverable("the process no longer waits for this answer")
        return RetryAt(retry_at, "no execution waits for the message yet")
    if attempt.result is CorrelationResult.AMBIGUOUS:
        # A model whose keys match several waiting executions: maybe one moves on soon.
        if now - answered_at >= policy.not_yet_window:
            return Undeliverable("more than one process waits for this answer")
        return RetryAt(retry_at, "more than one execution waits for the message")
    if attempt.maybe_arrived:
        retry_at = max(retry_at, now + policy.settle_after_timeout)
    return RetryAt(retry_at, attempt.detail or attempt.result.value)
