"""What to do after an attempt to deliver an answer: pure rules and backoff arithmetic."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from linkserver.outcomes import Attempt, CorrelationResult, Visibility
from tokenstore.backoff import exponential_s

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
LEASE_MARGIN_S = 5
# An unanswered correlation is looked at again only after this many correlation timeouts.
SETTLE_TIMEOUTS = 3
# An attempt makes up to four calls: history, message, instance, history again.
ATTEMPT_CALLS = 4
# Deterministic refusals by the engine (a value its column cannot hold, a type it cannot
# read) before an answer is given up: more than one, since a refusal that names no such
# reason could still pass; few, since the person is waiting to hear.
MAX_REFUSED_ATTEMPTS = 3
# The error recorded while the engine hides the instance; operators count it (a gauge).
INVISIBLE_ERROR = (
    "cannot see the process instance: check the link server's engine permissions and tenants"
)


@dataclass(frozen=True)
class DeliveryPolicy:
    # How long a "no matching execution" counts as "not yet" while the instance still runs.
    not_yet_window: dt.timedelta = dt.timedelta(minutes=10)
    # After a request went out unanswered, how long until the engine has surely finished
    # with it; only then can its history say whether it arrived.
    settle_after_timeout: dt.timedelta = dt.timedelta(seconds=30)
    base_s: float = BACKOFF_BASE_S
    cap_s: float = BACKOFF_CAP_S
    # The HTTP timeout of one call to the engine.
    correlation_timeout: dt.timedelta = dt.timedelta(seconds=10)

    @classmethod
    def from_timeouts(
        cls, correlation_timeout: dt.timedelta, not_yet_window: dt.timedelta
    ) -> DeliveryPolicy:
        """The policy of a link server whose engine calls time out after ``correlation_timeout``."""
        return cls(
            not_yet_window=not_yet_window,
            settle_after_timeout=correlation_timeout * SETTLE_TIMEOUTS,
            correlation_timeout=correlation_timeout,
        )

    @property
    def attempt_lease(self) -> dt.timedelta:
        """How long one attempt holds a delivery: each of its calls bounded by the timeout, and
        a request it leaves unanswered may keep the engine busy for the settle time after that."""
        return (
            self.correlation_timeout * ATTEMPT_CALLS
            + self.settle_after_timeout
            + dt.timedelta(seconds=LEASE_MARGIN_S)
        )

    @property
    def fresh_answer_lease(self) -> dt.timedelta:
        """How long the retry loop keeps off a fresh answer: nothing is sent before the click's
        first claim, so the loop need wait only briefly for it."""
        return self.correlation_timeout + dt.timedelta(seconds=LEASE_MARGIN_S)


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class Undeliverable:
    reason: str
    # The history shows the instance has ended: no sibling link can be answered either.
    close_group: bool = False
    # The engine refused the answer itself (the person's page says it could not be applied).
    refused: bool = False


@dataclass(frozen=True)
class RetryAt:
    at: dt.datetime
    error: str
    refused: bool = False  # this attempt counts towards MAX_REFUSED_ATTEMPTS
    invisible: bool = False  # the engine hides the instance from the link server


Step = Delivered | Undeliverable | RetryAt


def backoff_s(attempts: int, policy: DeliveryPolicy, jitter: float) -> float:
    """Capped exponential backoff; ``jitter`` in [0, 1) spreads retries of many link servers."""
    delay = exponential_s(attempts, policy.base_s, policy.cap_s, max_exponent=30)
    return delay * (0.5 + jitter / 2)


def next_step(
    attempt: Attempt,
    visibility: Visibility,
    attempts_before: int,
    answered_at: dt.datetime,
    now: dt.datetime,
    policy: DeliveryPolicy,
    jitter: float,
    refusals_before: int = 0,
) -> Step:
    """From one attempt's result: delivered, too late for good, or to be retried.

    ``visibility`` matters only for NO_MATCH: an instance the history shows ended will
    never take the answer; a running one may simply not have reached its message event yet;
    one the engine hides (permissions, tenants) or an engine that does not answer proves
    nothing, so the answer is kept. ``refusals_before`` counts earlier REFUSED attempts.
    """
    if attempt.result is CorrelationResult.DELIVERED:
        return Delivered()
    retry_at = now + dt.timedelta(seconds=backoff_s(attempts_before, policy, jitter))
    if attempt.result is CorrelationResult.NO_MATCH:
        return _no_match(visibility, retry_at, answered_at, now, policy)
    if attempt.result is CorrelationResult.AMBIGUOUS:
        # A model whose keys match several waiting executions: maybe one moves on soon.
        if now - answered_at >= policy.not_yet_window:
            return Undeliverable("more than one process waits for this answer")
        return RetryAt(retry_at, "more than one execution waits for the message")
    if attempt.result is CorrelationResult.REFUSED:
        if refusals_before + 1 >= MAX_REFUSED_ATTEMPTS:
            return Undeliverable(f"the engine refused the answer: {attempt.detail}", refused=True)
        return RetryAt(retry_at, attempt.detail or attempt.result.value, refused=True)
    if attempt.maybe_arrived:
        retry_at = max(retry_at, now + policy.settle_after_timeout)
    return RetryAt(retry_at, attempt.detail or attempt.result.value)


def _no_match(
    visibility: Visibility,
    retry_at: dt.datetime,
    answered_at: dt.datetime,
    now: dt.datetime,
    policy: DeliveryPolicy,
) -> Step:
    if visibility is Visibility.ENDED:
        return Undeliverable("the process instance has ended", close_group=True)
    if visibility is Visibility.INVISIBLE:
        return RetryAt(retry_at, INVISIBLE_ERROR, invisible=True)
    if visibility is Visibility.RUNNING and now - answered_at >= policy.not_yet_window:
        return Undeliverable("the process no longer waits for this answer")
    return RetryAt(retry_at, "no execution waits for the message yet")
