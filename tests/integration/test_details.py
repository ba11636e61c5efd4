"""What a request is about, its language and time zone: the worker reads them from the model,
the store keeps them (and takes them anew on a re-issue), the JSON API serves them, and the
answer says what was typed in."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.bpmn import model_xml
from tests.support.builders import issue_request
from tests.support.channels import rig, worker_env
from tests.support.harness import WAIT_FOR_DECISION, Harness, link_server, settings_for
from tokenstore import answering, issuing, tokens
from tokenstore.model import ActionSpec, Detail
from tokenstore.tokens import Keyring
from tokenstore.types import utcnow
from worker.outcome import Complete
from worker.settings import WorkerSettings

DETAILS = (
    Detail("Amount", 4800),
    Detail("Requester", "<script>alert(1)</script>"),
    Detail("Rate", 0.25),
    Detail("Urgent", True),
    Detail("Cost centre", None),
)
# As a modeler writes it as a Json map: not in alphabetical order, nor by key length (jsonb's).
ORDER_DETAILS = '{"Requester": "Anna Berg", "Amount": 4800, "Cost centre": "CC-7", "Due": null}'


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, camunda_url: str, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    engine_rest.deploy_xml("worker_details", model_xml("worker-details"))
    async with (
        link_server(settings_for(database_url, keyring, camunda_url)) as base,
        aiohttp.ClientSession() as http,
    ):
        yield Harness(base, http, db, engine_rest, keyring)


async def test_details_locale_and_time_zone_are_stored_as_given(
    db: AsyncEngine, keyring: Keyring
) -> None:
    request = issue_request(details=DETAILS, locale="de-CH", time_zone="Europe/Zurich")
    async with db.begin() as conn:
        issued = await issuing.issue_group(conn, request, keyring, utcnow())
    async with db.connect() as conn:
        view = await answering.find_link(
            conn, tokens.verify(keyring, issued.tokens["yes"]) or pytest.fail("no hash")
        )
    assert view is not None
    assert view.group.details == DETAILS
    assert [type(d.value) for d in view.group.details] == [int, str, float, bool, type(None)]
    assert (view.group.locale, view.group.time_zone) == ("de-CH", "Europe/Zurich")


async def test_a_reissued_task_takes_its_details_anew(db: AsyncEngine, keyring: Keyring) -> None:
    """A task retried after an incident (the modeler fixed an expression) shows what it says
    now, not what its first attempt said."""
    async with db.begin() as conn:
        await issuing.issue_group(conn, issue_request(details=DETAILS), keyring, utcnow())
    fixed = issue_request(details=(Detail("Amount", 480),), locale="de", time_zone="UTC")
    async with db.begin() as conn:
        again = await issuing.issue_group(conn, fixed, keyring, utcnow())
    assert again.reissued
    async with db.connect() as conn:
        view = await answering.find_link(
            conn, tokens.verify(keyring, again.tokens["no"]) or pytest.fail("no hash")
        )
    assert view is not None
    assert view.group.details == (Detail("Amount", 480),)
    assert (view.group.locale, view.group.time_zone) == ("de", "UTC")


async def test_details_travel_from_the_model_to_the_api_and_the_answer_says_what_was_typed(
    harness: Harness, database_url: str, camunda_url: str, keyring: Keyring, started: list[str]
) -> None:
    business_key = f"it-{uuid.uuid4().hex}"
    pid = harness.rest.start(
        "worker_details", {"orderDetails": {"type": "Json", "value": ORDER_DETAILS}}, business_key
    )
    started.append(pid)
    settings = WorkerSettings.from_env(worker_env(database_url, camunda_url))
    async with rig(harness, settings, keyring) as worker:
        outcome = await worker.worker.process(await worker.fetch("issue-token", business_key))
    assert isinstance(outcome, Complete), outcome
    urls = json.loads(harness.rest.history_variables(pid)["actionLinks"]["value"])
    approve, other = (urls[name].rsplit("/", 1)[1] for name in ("approve", "other"))

    async with harness.http.get(f"{harness.base}/api/v1/links/{approve}") as response:
        assert response.status == 200
        body = await response.json()
    assert body["details"] == [
        {"label": "Requester", "value": "Anna Berg"},
        {"label": "Amount", "value": 4800},
        {"label": "Cost centre", "value": "CC-7"},
        {"label": "Due", "value": None},
    ]
    assert body["locale"] == "de-CH" and body["timeZone"] == "Europe/Zurich"

    redeem = f"{harness.base}/api/v1/links/{other}/redeem"
    async with harness.http.post(redeem, json={"input": {"amount": 35}}) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert body["answer"]["label"] == "Other amount"
    # approved is bound by the model, amount typed in: only amount is the person's input.
    assert body["answer"]["input"] == {"amount": 35}
    assert harness.rest.history_variables(pid)["amount"]["value"] == 35
    async with harness.http.get(f"{harness.base}/api/v1/links/{approve}") as response:
        body = await response.json()
    assert body["status"] == "answered_elsewhere"
    assert body["answer"]["input"] == {"amount": 35}


async def test_the_approval_by_email_example_shows_its_purchase_as_details(
    harness: Harness, database_url: str, camunda_url: str, keyring: Keyring, started: list[str]
) -> None:
    harness.rest.deploy_example("approval-by-email.bpmn")
    settings = WorkerSettings.from_env(worker_env(database_url, camunda_url))
    purchase = '[{"label": "Amount", "value": 4800}, {"label": "Requested by", "value": "Anna"}]'
    async with rig(harness, settings, keyring) as worker:
        for business_key, variables in (
            (f"it-{uuid.uuid4().hex}", {"purchase": {"type": "Json", "value": purchase}}),
            (f"it-{uuid.uuid4().hex}", {}),  # without it: no table, no incident
        ):
            variables["approver"] = {"type": "String", "value": "anna@example.com"}
            pid = harness.rest.start("approval-by-email", variables, business_key)
            started.append(pid)
            task = await worker.fetch("issue-token", business_key)
            assert isinstance(await worker.worker.process(task), Complete)
            urls = json.loads(harness.rest.history_variables(pid)["actionLinks"]["value"])
            token = urls["approve"].rsplit("/", 1)[1]
            async with harness.http.get(f"{harness.base}/api/v1/links/{token}") as response:
                body = await response.json()
            expected = json.loads(purchase) if "purchase" in variables else []
            assert body["details"] == expected


async def test_a_forms_fields_keep_the_order_the_model_wrote(
    db: AsyncEngine, keyring: Keyring
) -> None:
    """jsonb would sort them shortest name first (by, note, amount, zeta): the page's fields
    and the typed-in values are listed in the model's order instead."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in ("zeta", "amount", "by", "note")},
    }
    request = issue_request(actions=(ActionSpec("other", "Other", {}, schema),))
    async with db.begin() as conn:
        issued = await issuing.issue_group(conn, request, keyring, utcnow())
    async with db.connect() as conn:
        view = await answering.find_link(
            conn, tokens.verify(keyring, issued.tokens["other"]) or pytest.fail("no hash")
        )
    assert view is not None and view.link.input_schema is not None
    assert list(view.link.input_schema["properties"]) == ["zeta", "amount", "by", "note"]
