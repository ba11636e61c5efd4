"""A few calls to the engine REST API: to deploy and start processes, and for tests to check
what Camunda holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from devstack import ROOT

EXAMPLES = ROOT / "examples"


class EngineRest:
    def __init__(self, base_url: str, auth: tuple[str, str] | None = None) -> None:
        self.base_url = base_url
        # ``auth``: basic auth, for an engine with authorization on (tests/support/authz.py).
        self.http = httpx.Client(base_url=base_url, timeout=30, auth=auth)

    def close(self) -> None:
        self.http.close()

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise AssertionError(
                f"{response.request.url} -> {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def deploy(self, *paths: Path, name: str = "test") -> dict[str, Any]:
        files = {p.name: (p.name, p.read_bytes(), "application/xml") for p in paths}
        response = self.http.post(
            "/deployment/create",
            data={"deployment-name": name, "enable-duplicate-filtering": "true"},
            files=files,
        )
        return dict(self._ok(response))

    def deploy_xml(self, name: str, xml: str) -> dict[str, Any]:
        response = self.http.post(
            "/deployment/create",
            data={"deployment-name": name},
            files={f"{name}.bpmn": (f"{name}.bpmn", xml.encode(), "application/xml")},
        )
        return dict(self._ok(response))

    def deploy_example(self, filename: str) -> dict[str, Any]:
        return self.deploy(EXAMPLES / filename, name=filename)

    def start(
        self, key: str, variables: dict[str, Any] | None = None, business_key: str | None = None
    ) -> str:
        body: dict[str, Any] = {"variables": variables or {}}
        if business_key:
            body["businessKey"] = business_key
        return str(
            self._ok(self.http.post(f"/process-definition/key/{key}/start", json=body))["id"]
        )

    def correlate(self, message: str, instance_id: str) -> None:
        """Send ``message`` to one process instance (what a model's other participants do)."""
        body = {"messageName": message, "processInstanceId": instance_id}
        self._ok(self.http.post("/message", json=body))

    def variables(self, instance_id: str) -> dict[str, Any]:
        # Without deserializeValues=false, Json values come back as Jackson node dumps.
        response = self.http.get(
            f"/process-instance/{instance_id}/variables", params={"deserializeValues": "false"}
        )
        return dict(self._ok(response))

    def history_variables(self, instance_id: str) -> dict[str, Any]:
        items = self._ok(
            self.http.get(
                "/history/variable-instance",
                params={"processInstanceId": instance_id, "deserializeValues": "false"},
            )
        )
        return {item["name"]: item for item in items}

    def history_instance(self, instance_id: str) -> dict[str, Any]:
        return dict(self._ok(self.http.get(f"/history/process-instance/{instance_id}")))

    def is_running(self, instance_id: str) -> bool:
        return self.http.get(f"/process-instance/{instance_id}").status_code == 200

    def activities(self, instance_id: str) -> list[str]:
        items = self._ok(
            self.http.get(
                "/history/activity-instance",
                params={
                    "processInstanceId": instance_id,
                    "sortBy": "startTime",
                    "sortOrder": "asc",
                },
            )
        )
        return [item["activityId"] for item in items]

    def end_events(self, instance_id: str) -> list[str]:
        items = self._ok(
            self.http.get(
                "/history/activity-instance",
                params={"processInstanceId": instance_id, "activityType": "noneEndEvent"},
            )
        )
        return [item["activityId"] for item in items]

    def incidents(self, instance_id: str) -> list[dict[str, Any]]:
        return list(self._ok(self.http.get("/incident", params={"processInstanceId": instance_id})))

    def external_tasks(self, instance_id: str, topic: str | None = None) -> list[dict[str, Any]]:
        params = {"processInstanceId": instance_id}
        if topic:
            params["topicName"] = topic
        return list(self._ok(self.http.get("/external-task", params=params)))

    def correlation_count(self, instance_id: str, variable: str = "actionLinkRedemptionId") -> int:
        """How many times an answer arrived: updates of the redemption id in the history."""
        details = self._ok(
            self.http.get(
                "/history/detail",
                params={"processInstanceId": instance_id, "variableUpdates": "true"},
            )
        )
        return sum(1 for d in details if d.get("variableName") == variable)

    def wait_for(self, predicate: Any, timeout_s: float = 30, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
