"""The link server in-process against real Postgres and the real engine."""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import pytest
import sqlalchemy as sa

from linkserver.security import SECURITY_HEADERS
from tests.support.harness import (
    AMOUNT,
    WAIT_FOR_DECISION,
    Harness,
    link_and_admin_server,
    page,
    settings_for,
)
from tokenstore.model import ActionSpec
from tokenstore.tables import links
from tokenstore.tokens import Keyring
from tokenstore.types import CorrelateBy
from tokenstore.variables import TypedValue


@pytest.fixture
def harness(direct_harness: Harness) -> Harness:
    return direct_harness


async def test_get_and_head_show_the_link_and_change_nothing(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    for _ in range(3):
        for token in issued.tokens.values():
            status, html, headers = await page(harness, "GET", harness.url(token))
            assert status == 200
            assert "Confirm:" in html and '<form method="post"' in html
            assert "<script" not in html
            for name in SECURITY_HEADERS:
                assert name in headers
            assert headers["Server"] == "action-links"
            status, _, _ = await page(harness, "HEAD", harness.url(token))
            assert status == 200
    assert await harness.answers() == 0
    async with harness.db.connect() as conn:
        states = (await conn.execute(sa.select(links.c.state))).scalars().all()
    assert set(states) == {"active"}
    assert harness.rest.is_running(pid)


async def test_confirm_page_says_what_the_link_does(harness: Harness) -> None:
    issued = await harness.issue(await harness.instance())
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert "Approve?" in html and "Purchase request 4711" in html
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["other"]))
    assert 'name="amount"' in html and 'min="1"' in html and 'max="500"' in html


async def test_post_correlates_once_and_shows_the_recorded_answer(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    status, _, headers = await page(harness, "POST", harness.url(issued.tokens["approve"]))
    assert status == 303 and headers["Location"] == f"./{issued.tokens['approve']}"
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert status == 200 and "Answer recorded" in html and "“Approve”" in html
    assert "refresh" not in html
    history = harness.rest.history_variables(pid)
    assert history["approved"]["value"] is True
    assert history["approved"]["type"] == "Boolean"
    assert not harness.rest.is_running(pid)
    # Again, from "another browser": the same answer, not an error, and no second correlation.
    status, _, _ = await page(harness, "POST", harness.url(issued.tokens["approve"]))
    assert status == 303
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["deny"]))
    assert status == 200 and "Already answered" in html and "“Approve” was chosen" in html
    status, _, _ = await page(harness, "POST", harness.url(issued.tokens["deny"]))
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["deny"]))
    assert "Already answered" in html
    assert harness.rest.correlation_count(pid) == 1
    assert await harness.answers() == 1


async def test_correlation_by_business_key_with_tenant_and_by_correlation_keys(
    harness: Harness,
) -> None:
    rest = harness.rest
    response = rest.http.post(
        "/deployment/create",
        data={"deployment-name": "tenant-wait", "tenant-id": "acme"},
        files={"w.bpmn": ("w.bpmn", WAIT_FOR_DECISION.encode(), "application/xml")},
    )
    assert response.status_code == 200, response.text
    started = rest.http.post(
        "/process-definition/key/wait-for-decision/tenant-id/acme/start",
        json={"businessKey": "order-77"},
    ).json()
    by_key = started["id"]
    harness.release(by_key)
    issued = await harness.issue(
        by_key, correlate_by=CorrelateBy.BUSINESS_KEY, business_key="order-77", tenant_id="acme"
    )
    assert (await page(harness, "POST", harness.url(issued.tokens["approve"])))[0] == 303
    assert rest.history_variables(by_key)["approved"]["value"] is True
    assert not rest.is_running(by_key)

    # Two instances wait; the keys bound at issue time pick the right one.
    keyed = {
        key: rest.start("wait-for-decision", {"decisionID": {"value": key, "type": "String"}})
        for key in ("D-1", "D-2")
    }
    for pid in keyed.values():
        harness.release(pid)
    issued = await harness.issue(
        keyed["D-2"],
        correlate_by=CorrelateBy.CORRELATION_KEYS,
        correlation_keys={"decisionID": TypedValue("String", "D-2")},
    )
    assert (await page(harness, "POST", harness.url(issued.tokens["deny"])))[0] == 303
    assert not rest.is_running(keyed["D-2"])
    assert rest.is_running(keyed["D-1"])
    assert rest.history_variables(keyed["D-2"])["approved"]["value"] is False


async def test_form_input_is_validated_and_typed(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    url = harness.url(issued.tokens["other"])
    status, html, _ = await page(harness, "POST", url, data={"amount": "501"})
    assert status == 422 and "must be at most 500" in html and 'value="501"' in html
    status, html, _ = await page(harness, "POST", url, data={"amount": "abc"})
    assert status == 422
    assert await harness.answers() == 0 and harness.rest.is_running(pid)
    status, _, _ = await page(harness, "POST", url, data={"amount": "42", "approved": "true"})
    assert status == 303
    history = harness.rest.history_variables(pid)
    assert history["amount"]["value"] == 42 and history["amount"]["type"] == "Integer"
    assert history["choice"]["value"] == "other"
    assert "approved" not in history  # a field the schema does not name never rides along


async def test_garbled_and_unknown_tokens(harness: Harness) -> None:
    issued = await harness.issue(await harness.instance())
    good = issued.tokens["approve"]
    for token in ["nonsense", good[:-2] + "AA", "k0." + good.split(".", 1)[1], "x" * 300]:
        status, html, headers = await page(harness, "GET", harness.url(token))
        assert status == 404 and "not valid" in html
        assert headers["Referrer-Policy"] == "no-referrer"
        status, _, _ = await page(harness, "POST", harness.url(token))
        assert status == 404
    assert await harness.answers() == 0


async def test_click_before_the_process_waits_is_delivered_later(harness: Harness) -> None:
    pid = await harness.instance(waiting=False)
    issued = await harness.issue(pid)
    await page(harness, "POST", harness.url(issued.tokens["approve"]))
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert status == 200 and "Received" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert harness.rest.is_running(pid)
    harness.release(pid)

    async def recorded() -> bool:
        _, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
        return "Answer recorded" in html

    for _ in range(100):
        if await recorded():
            break
        await asyncio.sleep(0.2)
    assert await recorded()
    assert not harness.rest.is_running(pid)
    assert harness.rest.correlation_count(pid) == 1


async def test_answer_after_the_process_ended_is_undeliverable(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    harness.rest.http.delete(f"/process-instance/{pid}").raise_for_status()
    await page(harness, "POST", harness.url(issued.tokens["deny"]))
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["deny"]))
    assert status == 200 and "no longer open" in html


async def test_an_empty_answer_to_a_link_with_a_schema_is_checked_against_it(
    harness: Harness,
) -> None:
    # Posted empty, the answer is first checked against no schema without reading the link;
    # the link has one, so nothing is written and the answer is checked again against it.
    pid = await harness.instance()
    issued = await harness.issue(pid)
    status, html, _ = await page(harness, "POST", harness.url(issued.tokens["other"]), data={})
    assert status == 422 and "please fill this in" in html
    async with harness.http.post(
        f"{harness.base}/api/v1/links/{issued.tokens['other']}/redeem"
    ) as r:
        body = await r.json()
        assert r.status == 422 and body["error"]["fields"] == {"amount": "please fill this in"}
    assert await harness.answers() == 0 and harness.rest.is_running(pid)


async def test_api_flow_and_error_codes(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    api = f"{harness.base}/api/v1/links"
    async with harness.http.get(f"{api}/{issued.tokens['other']}") as r:
        body = await r.json()
        assert (
            r.status == 200 and body["status"] == "open" and body["input"]["required"] == ["amount"]
        )
    async with harness.http.post(f"{api}/bad-token/redeem") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "invalid_token"
    async with harness.http.post(f"{api}/{issued.tokens['other']}/redeem", data=b"{nope") as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
    async with harness.http.post(
        f"{api}/{issued.tokens['other']}/redeem", json={"input": {"amount": 0}}
    ) as r:
        body = await r.json()
        assert r.status == 422 and body["error"]["fields"] == {"amount": "must be at least 1"}
        assert body["error"]["problems"] == {
            "amount": {"code": "minimum", "message": "must be at least 1", "params": {"limit": 1}}
        }
    async with harness.http.post(
        f"{api}/{issued.tokens['other']}/redeem", data=b"x" * 100_000
    ) as r:
        assert r.status == 413 and (await r.json())["error"]["code"] == "too_large"
    assert await harness.answers() == 0
    async with harness.http.post(
        f"{api}/{issued.tokens['other']}/redeem", json={"input": {"amount": 7}}
    ) as r:
        body = await r.json()
        assert r.status == 200 and body["outcome"] == "accepted" and body["status"] == "recorded"
    async with harness.http.post(f"{api}/{issued.tokens['other']}/redeem") as r:
        body = await r.json()
        assert r.status == 200 and body["outcome"] == "already_answered"
        assert body["answer"]["label"] == "Other amount"
    async with harness.http.post(f"{api}/{issued.tokens['approve']}/redeem") as r:
        assert r.status == 409 and (await r.json())["error"]["code"] == "answered_elsewhere"
    assert harness.rest.history_variables(pid)["amount"]["value"] == 7
    async with harness.http.get(f"{harness.base}/api/openapi.json") as r:
        doc = await r.json()
        assert doc["openapi"].startswith("3.") and "/api/v1/links/{token}/redeem" in doc["paths"]


async def test_health_readiness_and_metrics(
    database_url: str, keyring: Keyring, camunda_url: str
) -> None:
    settings = settings_for(database_url, keyring, camunda_url)
    async with (
        link_and_admin_server(settings) as (base, admin),
        aiohttp.ClientSession() as http,
    ):
        for url in (base, admin):
            async with http.get(f"{url}/healthz") as r:
                assert r.status == 200
            async with http.get(f"{url}/readyz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ready"
        async with http.get(f"{admin}/metrics") as r:
            assert r.status == 200 and "action_links_redemptions" in await r.text()
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        # Metrics are for operators: the public port does not serve them.
        async with http.get(f"{base}/metrics") as r:
            assert r.status == 404 and "X-Frame-Options" in r.headers
        async with http.get(f"{base}/nowhere") as r:
            assert r.status == 404 and "X-Frame-Options" in r.headers


async def test_no_token_in_logs(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pid = await harness.instance()
    issued = await harness.issue(pid)
    for token in issued.tokens.values():
        await page(harness, "GET", harness.url(token))
    await page(harness, "POST", harness.url(issued.tokens["approve"]))
    await page(harness, "POST", harness.url(issued.tokens["deny"]))
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "answer recorded" in text
    for token in issued.tokens.values():
        assert token.split(".")[1] not in text


async def test_the_confirm_page_follows_accept_language(harness: Harness) -> None:
    issued = await harness.issue(await harness.instance())
    url = harness.url(issued.tokens["other"])
    status, html, headers = await page(
        harness, "GET", url, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    )
    assert status == 200 and '<html lang="de">' in html
    assert "Bestätigen: Other amount" in html and "(Pflichtfeld)" in html
    assert headers["Content-Language"] == "de" and "Accept-Language" in headers["Vary"]
    _, html, headers = await page(harness, "GET", url, headers={"Accept-Language": "fr, en"})
    assert '<html lang="en">' in html and "Confirm: Other amount" in html
    # A refused answer is explained in the reader's language too.
    status, html, _ = await page(
        harness, "POST", url, data={"amount": "501"}, headers={"Accept-Language": "de"}
    )
    assert status == 422 and "darf höchstens 500 sein" in html and 'role="alert"' in html


async def test_unknown_form_fields_are_refused_when_the_schema_says_so(harness: Harness) -> None:
    pid = await harness.instance()
    strict = {**AMOUNT, "additionalProperties": False}
    issued = await harness.issue(pid, actions=(ActionSpec("other", "Other amount", {}, strict),))
    url = harness.url(issued.tokens["other"])
    status, html, _ = await page(harness, "POST", url, data={"amount": "35", "bonus": "1"})
    assert status == 422 and "This form has no field “bonus”." in html
    assert 'value="35"' in html  # what was typed is kept
    assert await harness.answers() == 0 and harness.rest.is_running(pid)
    # The page's own form posts only the schema's fields: it is taken as it is.
    _, form_page, _ = await page(harness, "GET", url)
    names = set(re.findall(r'name="([^"]+)"', form_page.split("<form", 1)[1]))
    assert names == {"amount"}
    status, _, _ = await page(harness, "POST", url, data={"amount": "35"})
    assert status == 303
    assert harness.rest.history_variables(pid)["amount"]["value"] == 35


async def test_the_already_answered_page_shows_the_typed_in_values(harness: Harness) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    status, _, _ = await page(
        harness, "POST", harness.url(issued.tokens["other"]), data={"amount": "350"}
    )
    assert status == 303
    status, html, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
    assert status == 200 and "Already answered" in html
    assert "“Other amount”: Amount 350 was chosen on" in html
    _, html, _ = await page(harness, "GET", harness.url(issued.tokens["other"]))
    assert "You chose “Other amount”: Amount 350 on" in html
    _, html, _ = await page(
        harness, "GET", harness.url(issued.tokens["approve"]), headers={"Accept-Language": "de"}
    )
    assert "Bereits beantwortet" in html and "„Other amount“: Amount 350 wurde am" in html
