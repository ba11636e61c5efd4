"""Stopping the worker: SIGTERM mid-batch, a task stuck past the grace period, a dead engine."""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

import psycopg

from devstack.ports import free_port
from devstack.rest import EngineRest
from tests.support.worker_process import link_rows, running_worker
from tokenstore import tokens
from tokenstore.tokens import Keyring

PUBLIC_URL = "https://links.example.test"
INSTANCES = 60


def group_count(database_url: str, instances: list[str]) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM link_groups WHERE process_instance_id = ANY(%s)", (instances,)
        ).fetchone()
    return int(row[0]) if row else 0


def issue_task(engine_rest: EngineRest, instance: str) -> dict[str, Any] | None:
    tasks = engine_rest.external_tasks(instance, topic="issue-token")
    return tasks[0] if tasks else None


def assert_nothing_half_done(engine_rest: EngineRest, database_url: str, instance: str) -> bool:
    """Every group has all its links; its task either completed or is free for any worker.

    Returns whether the instance got its links.
    """
    rows = link_rows(database_url, instance)
    groups = {r["group_id"] for r in rows}
    assert len(groups) <= 1
    if groups:
        assert sorted(r["action"] for r in rows) == ["approve", "deny"]
    task = issue_task(engine_rest, instance)
    if task is None:  # completed: Camunda holds the group the database holds
        held = engine_rest.variables(instance)["actionLinkGroupId"]["value"]
        assert {str(g) for g in groups} == {held}
        return True
    assert task["lockExpirationTime"] is None, f"{instance}: task still locked: {task}"
    return False


def assert_one_live_set(
    engine_rest: EngineRest, database_url: str, keyring: Keyring, instance: str
) -> None:
    urls = json.loads(engine_rest.variables(instance)["actionLinks"]["value"])
    rows = link_rows(database_url, instance)
    assert len({r["group_id"] for r in rows}) == 1
    assert {bytes(r["token_hash"]) for r in rows if r["state"] == "active"} == {
        bytes(tokens.verify(keyring, url.rsplit("/", 1)[1])) for url in urls.values()
    }


def test_sigterm_mid_batch_leaves_no_half_issued_group(
    engine_rest: EngineRest,
    camunda_url: str,
    database_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    started += [engine_rest.start("approval") for _ in range(INSTANCES)]
    with running_worker(database_url, camunda_url, PUBLIC_URL, MAX_TASKS="3") as worker:
        engine_rest.wait_for(lambda: group_count(database_url, started), what="a first group")
        assert worker.stop(signal.SIGTERM) == 0
        log = worker.log_text()
    issued = [assert_nothing_half_done(engine_rest, database_url, i) for i in started]
    assert any(issued)
    assert "Traceback" not in log

    # Whatever the first worker left is there for the next one, which finishes the batch.
    with running_worker(database_url, camunda_url, PUBLIC_URL, MAX_TASKS="10") as worker:
        for instance in started:
            engine_rest.wait_for(
                lambda instance=instance: issue_task(engine_rest, instance) is None,
                what=f"links for {instance}",
            )
        assert worker.stop(signal.SIGTERM) == 0
    for instance in started:
        assert_one_live_set(engine_rest, database_url, keyring, instance)


def test_a_task_stuck_past_the_grace_period_is_handed_back(
    engine_rest: EngineRest,
    camunda_url: str,
    database_url: str,
    keyring: Keyring,
    started: list[str],
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    instance = engine_rest.start("approval")
    started.append(instance)
    task = issue_task(engine_rest, instance)
    assert task is not None
    # An uncommitted group with the same external task id makes the worker's insert wait.
    with psycopg.connect(database_url) as blocker:
        blocker.execute(
            "INSERT INTO link_groups (id, external_task_id, process_instance_id, activity_id,"
            " message_name, correlate_by, created_at, expires_at)"
            " VALUES (%s, %s, 'x', 'x', 'x', 'processInstance', now(), now())",
            (uuid.uuid4(), task["id"]),
        )
        with running_worker(database_url, camunda_url, PUBLIC_URL, SHUTDOWN_GRACE="PT1S") as worker:
            engine_rest.wait_for(
                lambda: (
                    (issue_task(engine_rest, instance) or {}).get("workerId") == worker.worker_id
                ),
                what="the worker to lock the task",
            )
            assert worker.stop(signal.SIGTERM) == 0
            log = worker.log_text()
        blocker.rollback()
    assert "handed back" in log
    assert link_rows(database_url, instance) == []
    held = issue_task(engine_rest, instance)
    assert held is not None
    assert held["lockExpirationTime"] is None  # free for any worker at once

    with running_worker(database_url, camunda_url, PUBLIC_URL) as worker:
        engine_rest.wait_for(lambda: issue_task(engine_rest, instance) is None, what="links")
        assert worker.stop(signal.SIGINT) == 0
    assert_one_live_set(engine_rest, database_url, keyring, instance)


def test_an_unreachable_engine_is_retried_and_the_worker_still_stops_cleanly(
    database_url: str,
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/engine-rest"
    with running_worker(database_url, nowhere, PUBLIC_URL) as worker:
        # It backs off and tries again rather than crashing.
        worker.wait_for_log("fetch-and-lock failed", times=3)
        assert worker.process.poll() is None
        assert worker.stop(signal.SIGINT) == 0
        log = worker.log_text()
    assert "Traceback" not in log
    assert "worker stopped" in log
