"""The operator's command line against the running product: ``links list/show/revoke`` and
``answers list/show/retry``, with the link server and the worker as subprocesses and a real
engine, counting deliveries through the engine's history."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from devstack import ROOT
from devstack.ports import free_port
from devstack.rest import EngineRest
from tests.support.bpmn import MODELS
from tests.support.linkserver_process import LinkServerProcess, start_linkserver
from tests.support.worker_process import running_worker

UNDELIVERABLE_TIMEOUT_S = 60


@dataclass
class Stack:
    rest: EngineRest
    links: LinkServerProcess
    database_url: str

    def cli(self, *args: str, expect: int = 0) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "actionlinks_cli", *args],
            cwd=ROOT, capture_output=True, text=True, check=False,
            env={"PATH": "/usr/bin:/bin", "ACTION_LINKS_DATABASE_URL": self.database_url},
        )  # fmt: skip
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def cli_json(self, *args: str, expect: int = 0) -> Any:
        return json.loads(self.cli(*args, "--json", expect=expect))

    def start(self, key: str) -> tuple[str, dict[str, str]]:
        pid = self.rest.start(key)
        urls = self.rest.wait_for(
            lambda: {
                name.removeprefix("link_"): item["value"]
                for name, item in self.rest.variables(pid).items()
                if name.startswith("link_")
            },
            what="links issued",
        )
        return pid, urls


@pytest.fixture
def stack(database_url: str, camunda_url: str, engine_rest: EngineRest) -> Iterator[Stack]:
    engine_rest.deploy_example("approval.bpmn")
    for model in ("decision-after-review.bpmn", "decision-twice.bpmn"):
        engine_rest.deploy(MODELS / model, name=model)
    # A short "not yet" window: an answer to a process that does not wait yet becomes
    # undeliverable within seconds instead of ten minutes.
    links = start_linkserver(
        database_url, camunda_url, port=free_port(),
        env={"ACTION_LINKS_NOT_YET_WINDOW": "PT1S"},
    )  # fmt: skip
    try:
        with running_worker(database_url, camunda_url, links.base_url) as worker:
            yield Stack(engine_rest, links, database_url)
            assert worker.stop(signal.SIGTERM) == 0
        assert links.stop(signal.SIGTERM) == 0
        assert "Traceback" not in links.log_text()
    finally:
        if links.process.poll() is None:
            links.kill()
        links.log_path.unlink(missing_ok=True)


def test_revoked_by_the_operator_shows_on_the_links_page(stack: Stack) -> None:
    pid, urls = stack.start("approval")
    listed = stack.cli_json("links", "list", "--process-instance", pid)
    assert {(row["action"], row["state"]) for row in listed} == {
        ("approve", "active"),
        ("deny", "active"),
    }
    table = stack.cli("links", "list", "--process-instance", pid)
    assert "approve" in table and "deny" in table
    # Found by the URL a person got; the token itself is never printed.
    token = urls["approve"].rsplit("/", 1)[-1]
    shown = stack.cli("links", "show", urls["approve"])
    assert "approve" in shown and token not in shown and token.split(".")[1] not in shown
    by_id = stack.cli_json("links", "show", listed[0]["id"])
    assert by_id["link"]["id"] == listed[0]["id"]
    assert stack.cli("links", "show", "00000000-0000-0000-0000-000000000000", expect=1) == ""

    revoked = stack.cli_json(
        "links", "revoke", "--process-instance", pid, "--reason", "customer called"
    )
    assert sorted(revoked["revoked"]) == sorted(row["id"] for row in listed)
    page = httpx.get(urls["approve"], timeout=30)
    assert page.status_code == 410 and "This link was withdrawn" in page.text
    httpx.post(urls["deny"], timeout=30)  # a click on a revoked link decides nothing
    assert "This link was withdrawn" in httpx.get(urls["deny"], timeout=30).text
    assert stack.rest.is_running(pid) and stack.rest.correlation_count(pid) == 0
    # Nothing left to revoke is "nothing matched".
    stack.cli("links", "revoke", "--process-instance", pid, "--reason", "again", expect=1)
    detail = stack.cli_json("links", "show", urls["approve"])
    assert detail["link"]["state"] == "revoked"
    assert detail["link"]["revoked_reason"] == "operator"
    events = [e for e in detail["audit"] if e["action"] == "revoked"]
    assert [e["detail"] for e in events] == [{"actor": "operator", "reason": "customer called"}]


def _undeliverable_answer(stack: Stack, pid: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        rows = stack.cli_json("answers", "list", "--state", "undeliverable")
        return next((r for r in rows if r["process_instance_id"] == pid), None)

    answer: dict[str, Any] = stack.rest.wait_for(
        found, timeout_s=UNDELIVERABLE_TIMEOUT_S, what="the answer to become undeliverable"
    )
    return answer


def test_retry_of_an_undeliverable_answer_delivers_it_once(stack: Stack) -> None:
    pid, urls = stack.start("decisionAfterReview")
    assert httpx.post(urls["approve"], timeout=30).status_code == 303
    answer = _undeliverable_answer(stack, pid)
    assert answer["action"] == "approve" and answer["attempts"] >= 1
    assert answer["last_error"]
    shown = stack.cli("answers", "show", answer["id"])
    assert "undeliverable" in shown and "answered" in shown
    # Now the process waits for the answer.
    stack.rest.correlate("reviewed", pid)
    stack.rest.wait_for(
        lambda: "DecisionReceived" in stack.rest.activities(pid), what="the decision wait"
    )
    assert stack.rest.correlation_count(pid) == 0
    stack.cli("answers", "retry", answer["id"])
    stack.rest.wait_for(lambda: not stack.rest.is_running(pid), what="the process to end")
    assert stack.rest.correlation_count(pid) == 1
    assert stack.rest.history_variables(pid)["approved"]["value"] is True
    detail = stack.cli_json("answers", "show", answer["id"])
    assert detail["answer"]["state"] == "delivered"
    assert [e["action"] for e in detail["audit"]][-2:] == ["retry_requested", "delivered"]
    page = httpx.get(urls["approve"], timeout=30)
    assert page.status_code == 200 and "Answer recorded" in page.text
    # Delivered is final: retrying it is refused, and nothing is sent again.
    stack.cli("answers", "retry", answer["id"], expect=1)
    stack.cli("answers", "retry", "00000000-0000-0000-0000-000000000000", expect=1)
    assert stack.rest.correlation_count(pid) == 1


def test_retry_of_an_answer_that_did_arrive_asks_the_history_and_sends_nothing(
    stack: Stack,
) -> None:
    """The process waits for the same message again, so a second send would be taken."""
    pid, urls = stack.start("decisionTwice")
    assert httpx.post(urls["approve"], timeout=30).status_code == 303
    stack.rest.wait_for(lambda: stack.rest.correlation_count(pid) == 1, what="the delivery")
    delivered = stack.cli_json("links", "show", urls["approve"])["answers"]
    assert [a["state"] for a in delivered] == ["delivered"]
    answer_id = delivered[0]["id"]
    # What a record lost in an outage would look like: the answer arrived, but the store
    # says it never did.
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE redemptions SET state = 'undeliverable', settled_at = now() WHERE id = %s",
            (answer_id,),
        )
        conn.execute(
            "UPDATE links SET state = 'undeliverable' WHERE id = %s",
            (delivered[0]["link_id"],),
        )
    stack.cli("answers", "retry", answer_id)
    stack.rest.wait_for(
        lambda: stack.cli_json("answers", "show", answer_id)["answer"]["state"] == "delivered",
        what="the retried answer to settle",
    )
    assert stack.rest.correlation_count(pid) == 1
    assert stack.rest.is_running(pid), "the second wait must not have taken the answer"
    assert "DecisionAgain" in stack.rest.activities(pid)
