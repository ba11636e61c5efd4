from __future__ import annotations

import datetime as dt

import pytest

from linkserver.camunda import classify, visibility_of
from linkserver.outcomes import Attempt, CorrelationResult, Visibility
from linkserver.retry import (
    MAX_REFUSED_ATTEMPTS,
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


def step(
    attempt: Attempt, seen: Visibility = Visibility.RUNNING, answered: dt.datetime = FRESH
) -> object:
    return next_step(attempt, seen, 0, answered, NOW, POLICY, jitter=0.0)


@pytest.mark.parametrize(
    ("attempt", "seen", "answered", "expected"),
    [
        (Attempt(CorrelationResult.DELIVERED), Visibility.UNKNOWN, FRESH, Delivered()),
        (
            Attempt(CorrelationResult.NO_MATCH),
            Visibility.ENDED,
            FRESH,
            Undeliverable("the process instance has ended", close_group=True),
        ),
        (
            Attempt(CorrelationResult.NO_MATCH),
            Visibility.RUNNING,
            OLD,
            Undeliverable("the process no longer waits for this answer"),
        ),
        (
            Attempt(CorrelationResult.AMBIGUOUS),
            Visibility.RUNNING,
            OLD,
            Undeliverable("more than one process waits for this answer"),
        ),
    ],
)
def test_settling_outcomes(
    attempt: Attempt, seen: Visibility, answered: dt.datetime, expected: object
) -> None:
    assert step(attempt, seen, answered) == expected


@pytest.mark.parametrize(
    ("attempt", "seen"),
    [
        (Attempt(CorrelationResult.NO_MATCH), Visibility.RUNNING),  # not yet at its event
        (Attempt(CorrelationResult.NO_MATCH), Visibility.UNKNOWN),  # never give up on a guess
        (Attempt(CorrelationResult.NO_MATCH), Visibility.INVISIBLE),  # permissions, tenants
        (Attempt(CorrelationResult.AMBIGUOUS), Visibility.RUNNING),
        (Attempt(CorrelationResult.UNREACHABLE, "refused"), Visibility.UNKNOWN),
        (Attempt(CorrelationResult.REJECTED, "HTTP 401"), Visibility.UNKNOWN),
        (Attempt(CorrelationResult.REFUSED, "HTTP 500 X"), Visibility.UNKNOWN),
    ],
)
def test_retry_soon(attempt: Attempt, seen: Visibility) -> None:
    result = step(attempt, seen)
    assert isinstance(result, RetryAt)
    assert NOW < result.at <= NOW + dt.timedelta(seconds=1)


# What becomes of an answer, for every result and every visibility of its instance, fresh
# (inside the not-yet window) and old (past it): "retry", "invisible" (retry and tell the
# operators), "refused" (retry, counted as a refusal), "delivered", or the reason it ends.
ENDED = "undeliverable: the process instance has ended (group closed)"
NO_LONGER = "undeliverable: the process no longer waits for this answer"
SEVERAL = "undeliverable: more than one process waits for this answer"
EVERY_PAIR: dict[tuple[CorrelationResult, Visibility], tuple[str, str]] = {
    (CorrelationResult.NO_MATCH, Visibility.RUNNING): ("retry", NO_LONGER),
    (CorrelationResult.NO_MATCH, Visibility.ENDED): (ENDED, ENDED),
    (CorrelationResult.NO_MATCH, Visibility.INVISIBLE): ("invisible", "invisible"),
    (CorrelationResult.NO_MATCH, Visibility.UNKNOWN): ("retry", "retry"),
    **{(CorrelationResult.DELIVERED, v): ("delivered", "delivered") for v in Visibility},
    **{(CorrelationResult.AMBIGUOUS, v): ("retry", SEVERAL) for v in Visibility},
    **{(CorrelationResult.UNREACHABLE, v): ("retry", "retry") for v in Visibility},
    **{(CorrelationResult.REJECTED, v): ("retry", "retry") for v in Visibility},
    **{(CorrelationResult.REFUSED, v): ("refused", "refused") for v in Visibility},
}


def _kind(result: object) -> str:
    if isinstance(result, Delivered):
        return "delivered"
    if isinstance(result, Undeliverable):
        closed = " (group closed)" if result.close_group else ""
        return f"undeliverable: {result.reason}{closed}"
    assert isinstance(result, RetryAt)
    assert not (result.invisible and result.refused)
    return "invisible" if result.invisible else "refused" if result.refused else "retry"


def test_the_table_covers_every_pair() -> None:
    assert set(EVERY_PAIR) == {(r, v) for r in CorrelationResult for v in Visibility}


@pytest.mark.parametrize(("result", "seen"), sorted(EVERY_PAIR))
def test_every_result_and_visibility(result: CorrelationResult, seen: Visibility) -> None:
    fresh, old = EVERY_PAIR[(result, seen)]
    attempt = Attempt(result, "detail")
    assert _kind(step(attempt, seen, FRESH)) == fresh
    assert _kind(step(attempt, seen, OLD)) == old


@pytest.mark.parametrize("seen", [Visibility.INVISIBLE, Visibility.UNKNOWN])
def test_an_instance_nobody_can_see_never_loses_the_answer(seen: Visibility) -> None:
    """Only the history's word that the instance ended gives an answer up, however long."""
    ancient = NOW - dt.timedelta(days=30)
    for attempts in (0, 5, 500):
        result = next_step(
            Attempt(CorrelationResult.NO_MATCH), seen, attempts, ancient, NOW, POLICY, 0.5
        )
        assert isinstance(result, RetryAt)
        assert result.at == NOW + dt.timedelta(seconds=backoff_s(attempts, POLICY, 0.5))


def test_refusals_are_bounded_then_undeliverable() -> None:
    refused = Attempt(CorrelationResult.REFUSED, "HTTP 500 ProcessEnginePersistenceException: x")
    for before in range(MAX_REFUSED_ATTEMPTS - 1):
        result = next_step(refused, Visibility.UNKNOWN, before, FRESH, NOW, POLICY, 0.0, before)
        assert isinstance(result, RetryAt) and result.refused
    last = MAX_REFUSED_ATTEMPTS - 1
    result = next_step(refused, Visibility.UNKNOWN, last, FRESH, NOW, POLICY, 0.0, last)
    assert result == Undeliverable(
        "the engine refused the answer: HTTP 500 ProcessEnginePersistenceException: x",
        refused=True,
    )


def test_an_unreachable_engine_is_never_counted_as_a_refusal() -> None:
    many = MAX_REFUSED_ATTEMPTS * 10
    for attempt in (
        Attempt(CorrelationResult.UNREACHABLE, "refused"),
        Attempt(CorrelationResult.REJECTED, "HTTP 403"),
    ):
        result = next_step(attempt, Visibility.UNKNOWN, many, OLD, NOW, POLICY, 0.0, many)
        assert isinstance(result, RetryAt) and not result.refused


def test_an_unanswered_request_is_looked_at_only_after_it_settled() -> None:
    result = step(
        Attempt(CorrelationResult.UNREACHABLE, "timeout", maybe_arrived=True), Visibility.UNKNOWN
    )
    assert isinstance(result, RetryAt)
    assert result.at == NOW + POLICY.settle_after_timeout


def test_never_undeliverable_while_the_engine_is_unreachable() -> None:
    result = step(Attempt(CorrelationResult.UNREACHABLE, "refused"), Visibility.UNKNOWN, OLD)
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
        (400, "Cannot convert value", CorrelationResult.REFUSED),
        (401, "", CorrelationResult.REJECTED),
        (403, '{"type": "AuthorizationException"}', CorrelationResult.REJECTED),
        (404, "Not Found", CorrelationResult.REJECTED),
        (500, "boom", CorrelationResult.UNREACHABLE),
        (
            500,
            '{"type": "ProcessEnginePersistenceException", "message": "value too long"}',
            CorrelationResult.REFUSED,
        ),
        (
            500,
            '{"type": "RestException", "message": "Cannot deserialize"}',
            CorrelationResult.REFUSED,
        ),
        (
            500,
            '{"type": "OptimisticLockingException", "message": "x"}',
            CorrelationResult.UNREACHABLE,
        ),
        (500, '{"type": "ProcessEngineException", "message": "x"}', CorrelationResult.UNREACHABLE),
        (502, '{"type": "ProcessEnginePersistenceException"}', CorrelationResult.UNREACHABLE),
        (503, "", CorrelationResult.UNREACHABLE),
        (429, "", CorrelationResult.UNREACHABLE),
    ],
)
def test_engine_answers_are_classified(status: int, text: str, result: CorrelationResult) -> None:
    assert classify(status, text).result is result


def test_a_conflict_inside_the_engine_is_retried_without_the_settle_wait() -> None:
    attempt = classify(500, '{"type": "OptimisticLockingException", "message": "x"}')
    assert attempt.result is CorrelationResult.UNREACHABLE and not attempt.maybe_arrived
    assert attempt.detail == "HTTP 500 OptimisticLockingException: x"


def test_a_refusal_names_the_engine_exception() -> None:
    body = '{"type": "ProcessEnginePersistenceException", "message": "value too long for type"}'
    attempt = classify(500, body)
    assert attempt.detail == "HTTP 500 ProcessEnginePersistenceException: value too long for type"
    assert not attempt.maybe_arrived


ENDED_HISTORY = {"state": "COMPLETED", "endTime": "2026-11-28T10:00:00.000+0000"}


@pytest.mark.parametrize(
    ("runtime", "history_status", "history", "seen"),
    [
        (200, 0, None, Visibility.RUNNING),
        (404, 200, ENDED_HISTORY, Visibility.ENDED),
        (404, 200, {"state": "EXTERNALLY_TERMINATED"}, Visibility.ENDED),
        (404, 200, {"state": "INTERNALLY_TERMINATED"}, Visibility.ENDED),
        (404, 200, {"state": None, "endTime": "2026-11-28T10:00:00.000+0000"}, Visibility.ENDED),
        (404, 200, {"state": "ACTIVE", "endTime": None}, Visibility.RUNNING),  # READ_HISTORY only
        (404, 404, {"type": "InvalidRequestException"}, Visibility.INVISIBLE),
        (403, 403, None, Visibility.INVISIBLE),
        (404, 500, None, Visibility.UNKNOWN),
        (404, 200, "not json", Visibility.UNKNOWN),
        (503, 0, None, Visibility.UNKNOWN),
        (401, 0, None, Visibility.UNKNOWN),
    ],
)
def test_only_the_history_proves_an_end(
    runtime: int, history_status: int, history: object, seen: Visibility
) -> None:
    assert visibility_of(runtime, history_status, history) is seen


def test_policy_from_timeouts_derives_settle_time_and_leases() -> None:
    policy = DeliveryPolicy.from_timeouts(dt.timedelta(seconds=10), dt.timedelta(minutes=10))
    assert policy.not_yet_window == dt.timedelta(minutes=10)
    # An unanswered request is looked at again after three correlation timeouts.
    assert policy.settle_after_timeout == dt.timedelta(seconds=30)
    # Four calls of 10 s, the 30 s settle time and a 5 s margin.
    assert policy.attempt_lease == dt.timedelta(seconds=75)
    # One call and the margin.
    assert policy.fresh_answer_lease == dt.timedelta(seconds=15)
    slow = DeliveryPolicy.from_timeouts(dt.timedelta(seconds=2), dt.timedelta(minutes=1))
    assert (slow.settle_after_timeout, slow.attempt_lease, slow.fresh_answer_lease) == (
        dt.timedelta(seconds=6),
        dt.timedelta(seconds=19),
        dt.timedelta(seconds=7),
    )
