"""The whole product: both daemons as subprocesses, BPMN from examples/, links clicked over HTTP,
and what Camunda's history says afterwards."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.ports import free_port
from devstack.rest import EngineRest
from tests.support.linkserver_process import LinkServerProcess, start_linkserver
from tests.support.observe import answer_rows
from tests.support.worker_process import WorkerProcess, running_worker


@dataclass
class System:
    rest: EngineRest
    links: LinkServerProcess
    worker: WorkerProcess

    def start(self, key: str, **variables: Any) -> tuple[str, dict[str, str]]:
        """Start an instance and wait for the worker to hand it its links."""
        typed = {name: {"value": value} for name, value in variables.items()}
        pid = self.rest.start(key, typed)

        def issued() -> dict[str, str] | None:
            found = {
                name[len("link_") :]: item["value"]
                for name, item in self.rest.variables(pid).items()
                if name.startswith("link_")
            }
            return found or None

        urls: dict[str, str] = self.rest.wait_for(issued, what="links issued by the worker")
        return pid, urls


@pytest.fixture
def system(database_url: str, camunda_url: str, engine_rest: EngineRest) -> Iterator[System]:
    for example in ("approval.bpmn", "topup.bpmn"):
        engine_rest.deploy_example(example)
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    links = start_linkserver(database_url, camunda_url, port=port)
    try:
        with running_worker(database_url, camunda_url, public_url) as worker:
            yield System(engine_rest, links, worker)
            assert worker.stop(signal.SIGTERM) == 0
            assert "Traceback" not in worker.log_text()
        assert links.stop(signal.SIGTERM) == 0
        assert "Traceback" not in links.log_text()
    finally:
        if links.process.poll() is None:
            links.kill()
        links.log_path.unlink(missing_ok=True)


async def _request(method: str, url: str, **kw: Any) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, allow_redirects=False, **kw) as response,
    ):
        return response.status, await response.text()


def _ended_at(rest: EngineRest, pid: str) -> str:
    """The end event the instance finished at."""
    history = rest.history_instance(pid)
    assert history["state"] == "COMPLETED", history
    ends = rest.end_events(pid)
    assert len(ends) == 1, ends
    return ends[0]


@pytest.mark.parametrize(
    ("action", "approved", "end"), [("approve", True, "Approved"), ("deny", False, "Rejected")]
)
async def test_approval_paths_end_the_process_with_the_answer(
    system: System, action: str, approved: bool, end: str
) -> None:
    pid, urls = system.start("approval")
    assert set(urls) == {"approve", "deny"}
    for _ in range(2):  # a mail scanner, then the person
        for url in urls.values():
            status, html = await _request("GET", url)
            assert status == 200 and "Confirm:" in html
            assert (await _request("HEAD", url))[0] == 200
    assert system.rest.is_running(pid), "GET or HEAD must not decide anything"
    assert "DecisionReceived" not in system.rest.activities(pid)
    status, _ = await _request("POST", urls[action])
    assert status == 303
    status, html = await _request("GET", urls[action])
    assert status == 200 and "Answer recorded" in html
    assert _ended_at(system.rest, pid) == end
    history = system.rest.history_variables(pid)
    assert history["approved"]["value"] is approved and history["approved"]["type"] == "Boolean"
    assert system.rest.correlation_count(pid) == 1
    other = urls["deny" if action == "approve" else "approve"]
    status, html = await _request("GET", other)
    assert status == 200 and "Already answered" in html
    # Re-click from another browser: the recorded answer again, nothing sent twice.
    await _request("POST", urls[action])
    status, html = await _request("GET", urls[action])
    assert "Answer recorded" in html
    assert system.rest.correlation_count(pid) == 1


async def test_topup_other_amount_valid_and_invalid(system: System) -> None:
    pid, urls = system.start("topup")
    assert set(urls) == {"twenty", "fifty", "other"}
    status, html = await _request("GET", urls["other"])
    assert 'name="amount"' in html
    for bad in ("0", "501", "ten", ""):
        status, html = await _request("POST", urls["other"], data={"amount": bad})
        assert status == 422, (bad, status)
    assert system.rest.is_running(pid) and system.rest.correlation_count(pid) == 0
    status, _ = await _request("POST", urls["other"], data={"amount": "125"})
    assert status == 303
    assert _ended_at(system.rest, pid) == "ToppedUp"
    amount = system.rest.history_variables(pid)["amount"]
    assert amount["value"] == 125 and amount["type"] == "Integer"
    status, html = await _request("GET", urls["twenty"])
    assert "Already answered" in html


async def test_hundred_concurrent_clicks_one_correlation_one_answer(
    system: System, db: AsyncEngine
) -> None:
    pid, urls = system.start("approval")
    clicks = [urls["approve"]] * 50 + [urls["deny"]] * 50
    results = await asyncio.gather(*(_request("POST", url) for url in clicks))
    assert {status for status, _ in results} == {303}
    assert system.rest.correlation_count(pid) == 1
    assert len(await answer_rows(db)) == 1
    end = _ended_at(system.rest, pid)
    winner = "approve" if end == "Approved" else "deny"
    _, html = await _request("GET", urls[winner])
    assert "Answer recorded" in html
    _, html = await _request("GET", urls["deny" if winner == "approve" else "approve"])
    assert "Already answered" in html


async def test_expired_and_revoked_links_never_reach_camunda(
    system: System, db: AsyncEngine
) -> None:
    expired_pid, expired = system.start("approval", linkTtl="PT1S")
    await asyncio.sleep(1.2)
    status, html = await _request("GET", expired["approve"])
    assert status == 410 and "expired" in html
    status, html = await _request("POST", expired["approve"])
    assert status == 303
    status, html = await _request("GET", expired["approve"])
    assert status == 410
    assert system.rest.is_running(expired_pid)
    assert system.rest.correlation_count(expired_pid) == 0

    revoked_pid, revoked = system.start("approval", decisionTimeout="PT1S")
    # The timer fires, revoke-tokens takes both links back, the process ends TimedOut.
    system.rest.wait_for(
        lambda: not system.rest.is_running(revoked_pid), timeout_s=60, what="the timeout path"
    )
    assert _ended_at(system.rest, revoked_pid) == "TimedOut"
    assert system.rest.history_variables(revoked_pid)["revokedCount"]["value"] == 2
    for url in revoked.values():
        status, html = await _request("POST", url)
        status, html = await _request("GET", url)
        assert status == 410 and "withdrawn" in html
    assert system.rest.correlation_count(revoked_pid) == 0
    assert await answer_rows(db) == []


async def test_bot_api_against_the_real_process(system: System) -> None:
    pid, urls = system.start("approval")
    token = urls["deny"].rsplit("/", 1)[1]
    base = system.links.base_url
    status, body = await _request("GET", f"{base}/api/v1/links/{token}")
    assert status == 200 and '"status": "open"' in body
    status, body = await _request("POST", f"{base}/api/v1/links/{token}/redeem")
    assert status == 200 and '"outcome": "accepted"' in body
    assert _ended_at(system.rest, pid) == "Rejected"
