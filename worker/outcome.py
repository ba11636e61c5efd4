"""What becomes of a handled task: one value chosen by a pure function.

``Complete`` carries the variables to write; ``Failure`` carries the retries left. A
modeling error leaves no retries, which makes Camunda raise an incident the modeler sees
in Cockpit; a transient or unknown fault keeps retrying with a retry timeout.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from tokenstore.errors import GroupAlreadyUsed, StoreUnavailable
from tokenstore.variables import TypedValue
from worker.errors import ChannelUnavailable, EngineError, InstanceNotVisible, ModelingError

# Camunda keeps the error message in a short column; details have room for the rest.
MAX_ERROR_MESSAGE_CHARS = 500
MAX_ERROR_DETAILS_CHARS = 8000


@dataclass(frozen=True)
class Complete:
    variables: Mapping[str, TypedValue]


@dataclass(frozen=True)
class Failure:
    message: str
    details: str
    retries: int
    retry_timeout: dt.timedelta

    @property
    def incident(self) -> bool:
        return self.retries == 0

    @property
    def retry_timeout_ms(self) -> int:
        return int(self.retry_timeout.total_seconds() * 1000)


Outcome = Complete | Failure


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for a task that has none yet, and how long the engine waits between them."""

    retries: int
    retry_timeout: dt.timedelta


def retries_left(task_retries: int | None, policy: RetryPolicy) -> int:
    """Camunda leaves ``retries`` null until the first failure; count down from there."""
    if task_retries is None:
        return policy.retries
    return max(task_retries - 1, 0)


def is_transient(exc: BaseException) -> bool:
    """A fault of the surroundings (database or engine unreachable), not of the task."""
    if isinstance(exc, EngineError):
        return exc.transient
    if isinstance(exc, StoreUnavailable):
        return exc.transient
    return isinstance(exc, ChannelUnavailable | httpx.TransportError | OSError | TimeoutError)


def _what_failed(exc: BaseException) -> str:
    if isinstance(exc, ChannelUnavailable):
        return exc.detail or "the receiving server did not take the message"
    if isinstance(exc, InstanceNotVisible):
        return "cannot see the process instance: check the worker's engine permissions and tenants"
    if isinstance(exc, EngineError | httpx.HTTPError):
        return "the Camunda engine did not answer"
    return "the link database is unreachable"


def choose_outcome(
    topic: str,
    result: Mapping[str, TypedValue] | BaseException,
    task_retries: int | None,
    policy: RetryPolicy,
) -> Outcome:
    """Complete with the handler's variables, or fail: incident, or retry later."""
    if not isinstance(result, BaseException):
        return Complete(result)
    if isinstance(result, GroupAlreadyUsed):
        # Retrying cannot help: the links are in people's hands, and replacing them would
        # break them. An operator decides (the task's earlier attempt completed it, or not).
        return Failure(
            _clip(f"{topic}: {result}", MAX_ERROR_MESSAGE_CHARS),
            _clip(str(result), MAX_ERROR_DETAILS_CHARS),
            retries=0,
            retry_timeout=dt.timedelta(0),
        )
    if isinstance(result, ModelingError):
        detail = result.detail or str(result)
        return Failure(
            _clip(f"{topic}: {detail}", MAX_ERROR_MESSAGE_CHARS),
            _clip(f"{detail}\n\n{result}", MAX_ERROR_DETAILS_CHARS),
            retries=0,
            retry_timeout=dt.timedelta(0),
        )
    retries = retries_left(task_retries, policy)
    # With no retries left the engine raises an incident: say so instead of "will retry".
    then = "will retry" if retries else "no retries left; fix the cause, then retry the incident"
    if is_transient(result):
        message = f"{topic}: {_what_failed(result)}; {then}"
        details = f"{type(result).__name__}: {result}"
    else:
        message = f"{topic}: unexpected {type(result).__name__}; {then}"
        details = "".join(traceback.format_exception(result))
    return Failure(
        _clip(message, MAX_ERROR_MESSAGE_CHARS),
        _clip(details, MAX_ERROR_DETAILS_CHARS),
        retries=retries,
        retry_timeout=policy.retry_timeout,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
