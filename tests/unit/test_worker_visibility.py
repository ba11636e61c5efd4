"""The worker never takes "I cannot see the instance" for "the instance has no such variable"."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.support.keys import SIGNING_KEYS
from worker.engine import EngineClient
from worker.errors import InstanceNotVisible
from worker.outcome import Failure, RetryPolicy, choose_outcome
from worker.settings import WorkerSettings

BASE = "http://engine.test/engine-rest"
ABSENT = {
    "type": "InvalidRequestException",
    "message": "process instance variable with name billId does not exist",
}


def client(status: int, body: object) -> EngineClient:
    settings = WorkerSettings.from_env(
        {
            "ACTION_LINKS_DATABASE_URL": "postgresql://x@localhost/x",
            "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
            "ACTION_LINKS_CAMUNDA_URL": BASE,
        }
    )
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json=body))
    return EngineClient(settings, httpx.AsyncClient(transport=transport))


async def test_the_engines_404_for_a_missing_variable_means_absent() -> None:
    assert await client(404, ABSENT).process_variables("pi-1", ["billId"]) == {}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"type": "InvalidRequestException", "message": "Process instance with id x"}),
        (404, "<html>Not Found</html>"),  # a misrouted URL, a proxy's page
        (403, {"type": "AuthorizationException", "message": "The user 'links' does not have"}),
    ],
)
async def test_any_other_404_or_403_is_an_instance_it_cannot_see(status: int, body: object) -> None:
    with pytest.raises(InstanceNotVisible) as raised:
        await client(status, body).process_variables("pi-1", ["billId"])
    outcome = choose_outcome("issue-token", raised.value, None, RetryPolicy(3, dt.timedelta(1)))
    # Retried like an engine outage, with a message that names the fix, never an incident
    # that blames the model for a missing variable.
    assert isinstance(outcome, Failure) and outcome.retries == 3
    assert outcome.message == (
        "issue-token: cannot see the process instance: check the worker's engine permissions "
        "and tenants; will retry"
    )
