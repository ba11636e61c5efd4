"""The worker's admin listener (``/healthz``, ``/metrics``) and JSON logs, from a real worker
serving a real engine."""

from __future__ import annotations

import json
import re
import signal

import httpx

from devstack.rest import EngineRest
from tests.support.worker_process import running_worker


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_health_metrics_and_json_logs(
    database_url: str, camunda_url: str, engine_rest: EngineRest
) -> None:
    engine_rest.deploy_example("approval.bpmn")
    with running_worker(
        database_url, camunda_url, "http://links.test", LOG_FORMAT="json"
    ) as worker:
        lines = [json.loads(line) for line in worker.log_text().splitlines()]
        (bound,) = [e for e in lines if e.get("action") == "admin_listening"]
        host, port = bound["address"].rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0  # port 0 asked: the one chosen is logged
        admin = f"http://{bound['address']}"
        health = httpx.get(f"{admin}/healthz", timeout=10)
        assert health.status_code == 200 and health.text == "ok\n"

        pid = engine_rest.start("approval")
        engine_rest.wait_for(
            lambda: "link_approve" in engine_rest.variables(pid), what="links issued"
        )
        text = httpx.get(f"{admin}/metrics", timeout=10).text
        assert text.startswith("# HELP")
        completed = 'action_links_worker_tasks_total{outcome="completed",topic="issue-token"}'
        assert _metric(text, completed) == 1.0
        assert _metric(text, "action_links_worker_links_issued_total") == 2.0
        assert _metric(text, "action_links_worker_fetch_seconds_count") >= 1.0
        for name in ("links_revoked", "links_expired", "groups_reaped"):
            assert _metric(text, f"action_links_worker_{name}_total") >= 0.0
        assert worker.stop(signal.SIGTERM) == 0
        log = worker.log_text()
    # Every line of the log is one JSON object with a level and a stable action.
    entries = [json.loads(line) for line in log.splitlines()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert {"started", "issued", "completed", "stopped"} <= {e.get("action") for e in entries}
