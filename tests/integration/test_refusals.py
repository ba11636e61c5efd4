"""An answer the engine refuses for good (a value its column cannot hold) ends undeliverable
after a bounded number of attempts, each after a look in the history; an engine that is
unreachable, busy or misconfigured never ends an answer. Real engine behind the fault proxy."""

from __future__ import annotations

import json

import pytest

from linkserver.retry import MAX_REFUSED_ATTEMPTS
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import Harness, page, wait_until
from tests.support.observe import answer_rows, audit_rows, metric
from tokenstore.model import ActionSpec
from tokenstore.variables import TypedValue

MESSAGE = r"/message$"
MARKER_LOOKUP = r"/history/variable-instance/count$"
# 2,001 emoji are 4,002 UTF-16 units: more than the engine's text column holds (4,000).
TOO_LONG = "\U0001f600" * 2001


async def _states(h: Harness) -> list[str]:
    return [row["state"] for row in await answer_rows(h.db)]


async def test_an_answer_the_engine_cannot_store_ends_undeliverable_and_says_so(
    harness: Harness, proxy: FaultProxy
) -> None:
    pid = await harness.instance()
    # Written with the store directly: the worker's length cap would refuse this link.
    note = ActionSpec("approve", "Approve", {"note": TypedValue("String", TOO_LONG)})
    deny = ActionSpec("deny", "Deny", {"approved": TypedValue("Boolean", False)})
    issued = await harness.issue(pid, actions=(note, deny))
    token = issued.tokens["approve"]
    refused_before = await metric(harness, "action_links_deliveries_total", 'result="refused"')
    status, _, _ = await page(harness, "POST", harness.url(token))
    assert status == 303

    async def settled() -> bool:
        return await _states(harness) == ["undeliverable"]

    await wait_until(settled, timeout_s=60, what="the refused answer to settle")
    (row,) = await answer_rows(harness.db)
    assert row["attempts"] == MAX_REFUSED_ATTEMPTS
    assert row["refusals"] == MAX_REFUSED_ATTEMPTS
    # Every attempt reached the engine and was refused; none of them arrived.
    assert proxy.count("POST", MESSAGE) == MAX_REFUSED_ATTEMPTS
    assert all(s.upstream_status == 500 for s in proxy.seen if s.path.endswith("/message"))
    # Each attempt after the first looked for the marker first (and once more before giving up).
    assert proxy.count("GET", MARKER_LOOKUP) >= MAX_REFUSED_ATTEMPTS
    assert harness.rest.correlation_count(pid) == 0
    assert harness.rest.is_running(pid)

    status, html, _ = await page(harness, "GET", harness.url(token))
    assert status == 200
    assert "Your answer could not be applied" in html
    assert "no longer open" not in html
    async with harness.http.get(f"{harness.base}/api/v1/links/{token}") as response:
        body = await response.json()
    assert body["status"] == "refused" and body["answer"]["delivery"] == "undeliverable"

    after = await metric(harness, "action_links_deliveries_total", 'result="refused"')
    assert after == refused_before + 1
    audit = await audit_rows(harness.db)
    (given_up,) = [r for r in audit if r["action"] == "undeliverable"]
    assert given_up["outcome"] == "undeliverable"
    assert "ProcessEnginePersistenceException" in given_up["detail"]["reason"]
    trail = json.dumps([r["detail"] for r in audit])
    assert token not in trail and token.split(".")[-1] not in trail


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"type": "OptimisticLockingException", "message": "another transaction won"}),
        (403, {"type": "AuthorizationException", "message": "no UPDATE permission"}),
        (503, None),
    ],
    ids=["optimistic-locking-500", "rejected-403", "gateway-503"],
)
async def test_transient_or_misconfigured_engines_never_end_an_answer(
    harness: Harness, proxy: FaultProxy, status: int, body: object
) -> None:
    pid = await harness.instance()
    issued = await harness.issue(pid)
    text = json.dumps(body) if body is not None else ""
    times = MAX_REFUSED_ATTEMPTS + 1
    proxy.add(Rule(Fault.RESPOND, "POST", MESSAGE, times=times, status=status, body=text))
    await page(harness, "POST", harness.url(issued.tokens["approve"]))

    async def delivered() -> bool:
        return await _states(harness) == ["delivered"]

    await wait_until(delivered, timeout_s=90, what="the answer to arrive")
    (row,) = await answer_rows(harness.db)
    assert row["attempts"] == times + 1 and row["refusals"] == 0
    assert proxy.count("POST", MESSAGE, fault=Fault.RESPOND) == times
    assert harness.rest.correlation_count(pid) == 1
