from __future__ import annotations

import datetime as dt

import pytest

from linkserver.camunda import Attempt, CorrelationResult, classify
from linkserver.retry import (
    Delivered,
    DeliveryPolicy,
    RetryAt,
    Undeliverable,
    backoff_s,
    next_step,
)

NOW = dt.datetime(2026, 11, 28, 10, 42, tzinfo=dt.UTC)
POLICY = DeliveryPolicy(
    not_yet_window=dt.timedelta(minutes=10), settle_after_timeout=dt.timedelta(seconds=30)
)
FRESH = NOW - dt.timedelta(seconds=5)
OLD = NOW - dt.timedelta(minutes=11)


def step(attempt: Attempt, alive: bool | None = True, answered: dt.datetime = FRESH) -> object:
    return next_step(attempt, alive, 0, answered, NOW, POLICY, jitter=0.0)


@pytest.mark.parametrize(
    ("attempt", "alive", "answered", "expected"),
    [
        (Attempt(CorrelationResult.DELIVERED), None, FRESH, Delivered()),
        (
            Attempt(CorrelationResult.NO_MATCH),
            False,
            FRESH,
            Undeliverable("the process instance has ended"),
        ),
        (
            Attempt(CorrelationResult.NO_MATCH),
            True,
            OLD,
            Undeliverable("the process no longer waits for this answer"),
        ),
        (
            Attempt(CorrelationResult.AMBIGUOUS),
            True,
            OLD,
            Undeliverable("more than one process waits for this answer"),
        ),
    ],
)
def test_settling_outcomes(
    attempt: Attempt, alive: bool | None, answered: dt.datetime, expected: object
) -> None:
    assert step(attempt, alive, answered) == expected


@pytest.mark.parametrize(
    ("attempt", "alive"),
    [
        (Attempt(CorrelationResult.NO_MATCH), True),  # not yet at its message event
        (Attempt(CorrelationResult.NO_MATCH), None),  # cannot tell: never give up on a guess
        (Attempt(CorrelationResult.AMBIGUOUS), True),
        (Attempt(CorrelationResult.UNREACHABLE, "refused"), None),
        (Attempt(CorrelationResult.REJECTED, "HTTP 401"), None),
    ],
)
def test_retry_soon(attempt: Attempt, alive: bool | None) -> None:
    result = step(attempt, alive)
    assert isinstance(result, RetryAt)
    assert NOW < result.at <= NOW + dt.timedelta(seconds=1)


def test_an_unanswered_request_is_looked_at_only_after_it_settled() -> None:
    result = step(Attempt(CorrelationResult.UNREACHABLE, "timeout", maybe_arrived=True), None)
    assert isinstance(result, RetryAt)
    assert result.at == NOW + POLICY.settle_after_timeout


def test_never_undeliverable_while_the_engine_is_unreachable() -> None:
    result = step(Attempt(CorrelationResult.UNREACHABLE, "refused"), None, answered=OLD)
    assert isinstance(result, RetryAt)


@pytest.mark.parametrize(
    ("attempts", "jitter", "seconds"),
    [
        (0, 0.0, 0.5),
        (0, 0.999, 0.9995),
        (1, 0.0, 1.0),
        (3, 0.0, 4.0),
        (8, 0.0, 128.0),
        (9, 0.0, 150.0),
        (500, 0.999, 299.85),
    ],
)
def test_backoff_is_capped_exponential_with_jitter(
    attempts: int, jitter: float, seconds: float
) -> None:
    assert backoff_s(attempts, POLICY, jitter) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("status", "text", "result"),
    [
        (200, "{}", CorrelationResult.DELIVERED),
        (204, "", CorrelationResult.DELIVERED),
        (
            400,
            "Cannot correlate message 'd': "
            "No process definition or execution matches the parameters",
            CorrelationResult.NO_MATCH,
        ),
        (
            400,
            "Cannot correlate a message with name 'd' to a single execution. 2 executions match",
            CorrelationResult.AMBIGUOUS,
        ),
        (400, "Cannot convert value", CorrelationResult.REJECTED),
        (401, "", CorrelationResult.REJECTED),
        (500, "boom", CorrelationResult.UNREACHABLE),
        (503, "", CorrelationResult.UNREACHABLE),
        (429, "", CorrelationResult.UNREACHABLE),
    ],
)
def test_engine_answers_are_classified(status: int, text: str, result: CorrelationResult) -> None:
    assert classify(status, text).result is result
