"""The worker under faults: SIGKILL between the insert and ``complete``, and Postgres restarted
under it. Nothing lost, nothing issued twice, and the daemon keeps running by itself."""

from __future__ import annotations

import asyncio
import signal

import psycopg

from devstack.postgres import PostgresCluster
from devstack.rest import EngineRest
from tests.support.faultproxy import Fault, FaultProxy, Rule
from tests.support.harness import wait_until
from tests.support.worker_process import link_rows, running_worker

COMPLETE = r"/external-task/[^/]+/complete$"
PUBLIC_URL = "http://links.test"


def _issued_links(rest: EngineRest, pid: str) -> dict[str, str]:
    return {
        name: item["value"]
        for name, item in rest.variables(pid).items()
        if name.startswith("link_")
    }


def _audit_actions(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute("SELECT action FROM audit_events ORDER BY id")]


async def test_sigkill_between_insert_and_complete_leaves_one_live_set(
    database_url: str, proxy: FaultProxy, camunda_url: str, engine_rest: EngineRest
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    # The worker's complete never reaches the engine: it is held, then dropped.
    hold = proxy.add(Rule(Fault.HOLD_THEN_RESET, "POST", COMPLETE, times=1))
    env = {"LOCK_DURATION": "PT3S"}
    with running_worker(database_url, proxy.url, PUBLIC_URL, **env) as first:
        pid = engine_rest.start("approval")

        async def complete_sent() -> bool:
            return proxy.count("POST", COMPLETE) == 1

        await wait_until(complete_sent, what="the worker to send complete")
        rows = link_rows(database_url, pid)
        assert [r["action"] for r in rows] == ["approve", "deny"]  # inserted, committed
        first.stop(signal.SIGKILL)
    hold.release.set()
    assert _issued_links(engine_rest, pid) == {}
    # The lock runs out; another worker gets the task again and finishes it.
    with running_worker(database_url, camunda_url, PUBLIC_URL, **env):
        urls = await asyncio.to_thread(
            engine_rest.wait_for, lambda: _issued_links(engine_rest, pid), 60, "the re-issue"
        )
    rows = link_rows(database_url, pid)
    assert len({r["group_id"] for r in rows}) == 1
    assert [r["action"] for r in rows] == ["approve", "deny"]
    assert all(r["state"] == "active" for r in rows)
    assert set(urls) == {"link_approve", "link_deny"}
    assert _audit_actions(database_url) == ["issued", "reissued"]
    assert engine_rest.external_tasks(pid, "issue-token") == []


async def test_postgres_restart_fails_tasks_with_retries_then_recovers(
    own_postgres: tuple[PostgresCluster, str], camunda_url: str, engine_rest: EngineRest
) -> None:
    cluster, url = own_postgres
    engine_rest.deploy_example("approval.bpmn")
    env = {"TASK_RETRIES": "20", "RETRY_TIMEOUT": "PT1S"}
    with running_worker(url, camunda_url, PUBLIC_URL, **env) as worker:
        before = engine_rest.start("approval")
        await asyncio.to_thread(
            engine_rest.wait_for, lambda: _issued_links(engine_rest, before), 30, "links"
        )
        await asyncio.to_thread(cluster.stop)
        during = engine_rest.start("approval")

        def failed_with_retries() -> bool:
            tasks = engine_rest.external_tasks(during, "issue-token")
            return bool(tasks and tasks[0]["retries"] is not None and tasks[0]["retries"] < 20)

        await asyncio.to_thread(engine_rest.wait_for, failed_with_retries, 30, "a retried failure")
        task = engine_rest.external_tasks(during, "issue-token")[0]
        assert task["errorMessage"]  # says what went wrong, for the operator
        assert engine_rest.incidents(during) == []  # transient: no incident
        await asyncio.to_thread(cluster.start)
        urls = await asyncio.to_thread(
            engine_rest.wait_for, lambda: _issued_links(engine_rest, during), 60, "recovery"
        )
        assert set(urls) == {"link_approve", "link_deny"}
        assert worker.process.poll() is None  # it kept running through the outage
        assert worker.stop(signal.SIGTERM) == 0
        assert "Traceback" not in worker.log_text()
    assert len({r["group_id"] for r in link_rows(url, during)}) == 1
