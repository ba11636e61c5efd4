"""The outcome of a handled task, and the loop's backoff: pure choices."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy.exc as sa_exc

from tokenstore.backoff import MAX_DELAY_S, backoff_delay
from tokenstore.db import wrap_exceptions
from tokenstore.errors import GroupAlreadyUsed, StoreUnavailable
from tokenstore.variables import TypedValue
from worker.errors import EngineError, ModelingError
from worker.outcome import (
    MAX_ERROR_MESSAGE_CHARS,
    Complete,
    Failure,
    RetryPolicy,
    choose_outcome,
    is_transient,
    retries_left,
)

POLICY = RetryPolicy(retries=3, retry_timeout=dt.timedelta(seconds=30))


def test_variables_complete() -> None:
    variables = {"revokedCount": TypedValue("Integer", 2)}
    assert choose_outcome("revoke-tokens", variables, None, POLICY) == Complete(variables)


def test_modeling_error_is_an_incident_with_a_readable_message() -> None:
    error = ModelingError("ttl 'P7X' is not an ISO 8601 duration (e.g. P7D, PT12H)")
    outcome = choose_outcome("issue-token", error, 3, POLICY)
    assert isinstance(outcome, Failure)
    assert outcome.incident
    assert outcome.retries == 0
    assert outcome.message == "issue-token: ttl 'P7X' is not an ISO 8601 duration (e.g. P7D, PT12H)"
    assert "P7X" in outcome.details


def test_long_messages_are_clipped_and_details_keep_all() -> None:
    outcome = choose_outcome("issue-token", ModelingError("x" * 2000), None, POLICY)
    assert isinstance(outcome, Failure)
    assert len(outcome.message) == MAX_ERROR_MESSAGE_CHARS
    assert "x" * 2000 in outcome.details


def _operational() -> StoreUnavailable:
    # What the store's boundary makes of a refused connection: the worker sees only that.
    with pytest.raises(StoreUnavailable) as caught, wrap_exceptions():
        raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    return caught.value


@pytest.mark.parametrize(
    ("error", "what"),
    [
        (_operational(), "the link database is unreachable"),
        (StoreUnavailable("down"), "the link database is unreachable"),
        (ConnectionRefusedError(111, "refused"), "the link database is unreachable"),
        (EngineError("GET …: ConnectError", None), "the Camunda engine did not answer"),
        (EngineError("POST …: received 503", 503), "the Camunda engine did not answer"),
        (httpx.ConnectError("refused"), "the Camunda engine did not answer"),
    ],
)
def test_transient_faults_retry(error: BaseException, what: str) -> None:
    assert is_transient(error)
    outcome = choose_outcome("issue-token", error, None, POLICY)
    assert isinstance(outcome, Failure)
    assert outcome.message == f"issue-token: {what}; will retry"
    assert outcome.retries == 3
    assert outcome.retry_timeout_ms == 30_000
    assert not outcome.incident


def test_unknown_errors_retry_with_a_traceback() -> None:
    try:
        raise KeyError("surprise")
    except KeyError as exc:
        error = exc
    assert not is_transient(error)
    assert not is_transient(EngineError("received 400", 400))
    outcome = choose_outcome("revoke-tokens", error, 2, POLICY)
    assert isinstance(outcome, Failure)
    assert outcome.message == "revoke-tokens: unexpected KeyError; will retry"
    assert "Traceback" in outcome.details
    assert outcome.retries == 1


@pytest.mark.parametrize(("task_retries", "left"), [(None, 3), (3, 2), (1, 0), (0, 0)])
def test_retries_count_down_from_the_policy(task_retries: int | None, left: int) -> None:
    assert retries_left(task_retries, POLICY) == left


def test_links_already_in_use_become_an_incident_at_once() -> None:
    outcome = choose_outcome("issue-token", GroupAlreadyUsed("g-1"), None, POLICY)
    assert isinstance(outcome, Failure)
    assert outcome.incident
    assert outcome.message.startswith("issue-token: The task was delivered again, but its links")


def test_the_last_retry_becomes_an_incident() -> None:
    outcome = choose_outcome("issue-token", _operational(), 1, POLICY)
    assert isinstance(outcome, Failure)
    assert outcome.incident
    assert outcome.message == (
        "issue-token: the link database is unreachable; "
        "no retries left; fix the cause, then retry the incident"
    )


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (500, 30.0)]
)
def test_backoff_doubles_up_to_the_cap(failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay


def test_jitter_lengthens_but_never_passes_the_cap() -> None:
    assert backoff_delay(2, jitter=0.5) == pytest.approx(1.125)
    assert backoff_delay(2, jitter=7.0) == pytest.approx(1.25)  # jitter is clamped to [0, 1]
    assert backoff_delay(6, jitter=0.999) == pytest.approx(19.996)
    assert backoff_delay(7, jitter=0.999) == MAX_DELAY_S
    assert backoff_delay(3, base_s=1.0, cap_s=5.0) == 4.0
