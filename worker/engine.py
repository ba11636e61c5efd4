"""The engine's external-task REST API over one shared ``httpx.AsyncClient``.

Fetches a batch per long poll, completes with typed values, fails, extends and unlocks, and
turns every refusal or transport failure into EngineError.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tokenstore.variables import TypedValue
from worker.errors import EngineError, InstanceNotVisible
from worker.settings import WorkerSettings

HTTP_TIMEOUT_S = 30.0
# The engine's message for a 404 of a variable the instance does not have.
VARIABLE_ABSENT = re.compile(r"^process instance variable with name .* does not exist$", re.S)
# The long poll's HTTP request may take this much longer than the poll itself.
LONG_POLL_SLACK_S = 10.0


def milliseconds(duration: dt.timedelta) -> int:
    return int(duration.total_seconds() * 1000)


@dataclass(frozen=True)
class Topic:
    """One topic to fetch, with the variables its tasks should bring along."""

    name: str
    # Input parameters are local to the task: process variables of the same name
    # (a global "description", say) must not leak into a task that left them out.
    local_variables: bool = True


class EngineClient:
    """Fetch, complete, fail, extend and unlock external tasks for one worker id."""

    def __init__(self, settings: WorkerSettings, http: httpx.AsyncClient) -> None:
        self._http = http
        self.worker_id = settings.worker_id
        self.base_url = settings.shared.camunda_url
        self.tasks_url = f"{self.base_url}/external-task"
        self.lock_duration_ms = milliseconds(settings.lock_duration)
        self.long_poll_ms = milliseconds(settings.long_poll)
        # Auth comes from our settings (basic or bearer).
        self._headers = {"Content-Type": "application/json", **settings.shared.camunda_headers()}

    @property
    def fetch_and_lock_url(self) -> str:
        return f"{self.tasks_url}/fetchAndLock"

    async def _post(self, url: str, body: Mapping[str, Any], timeout_s: float) -> httpx.Response:
        try:
            response = await self._http.post(
                url, json=body, headers=self._headers, timeout=timeout_s
            )
        except httpx.HTTPError as exc:
            raise EngineError(f"POST {url}: {type(exc).__name__}: {exc}") from exc
        _raise_for_status(response)
        return response

    async def fetch_batch(self, topics: Sequence[Topic], max_tasks: int) -> list[dict[str, Any]]:
        """Long-poll for up to ``max_tasks`` tasks of the topics and lock them."""
        body = {
            "workerId": self.worker_id,
            "maxTasks": max_tasks,
            "usePriority": True,
            "asyncResponseTimeout": self.long_poll_ms,
            "topics": [
                {
                    "topicName": topic.name,
                    "lockDuration": self.lock_duration_ms,
                    "localVariables": topic.local_variables,
                    "deserializeValues": False,
                }
                for topic in topics
            ],
        }
        timeout = self.long_poll_ms / 1000 + LONG_POLL_SLACK_S
        response = await self._post(self.fetch_and_lock_url, body, timeout)
        return list(response.json())

    async def complete(
        self,
        task_id: str,
        global_variables: Mapping[str, TypedValue],
        local_variables: Mapping[str, TypedValue] | None = None,
    ) -> bool:
        body = {
            "workerId": self.worker_id,
            "variables": _rest_values(global_variables),
            "localVariables": _rest_values(local_variables or {}),
        }
        await self._post(f"{self.tasks_url}/{task_id}/complete", body, HTTP_TIMEOUT_S)
        return True

    async def failure(
        self,
        task_id: str,
        error_message: str,
        error_details: str | None,
        retries: int,
        retry_timeout: int,
    ) -> bool:
        body: dict[str, Any] = {
            "workerId": self.worker_id,
            "errorMessage": error_message,
            "retries": retries,
            "retryTimeout": retry_timeout,
        }
        if error_details:
            body["errorDetails"] = error_details
        await self._post(f"{self.tasks_url}/{task_id}/failure", body, HTTP_TIMEOUT_S)
        return True

    async def extend_lock(self, task_id: str, duration_ms: int) -> None:
        body = {"workerId": self.worker_id, "newDuration": duration_ms}
        url = f"{self.tasks_url}/{task_id}/extendLock"
        await self._post(url, body, HTTP_TIMEOUT_S)

    async def unlock(self, task_id: str) -> None:
        """Hand a task back so any worker may fetch it at once."""
        await self._post(f"{self.tasks_url}/{task_id}/unlock", {}, HTTP_TIMEOUT_S)

    async def process_variables(
        self, process_instance_id: str, names: Sequence[str]
    ) -> dict[str, Any]:
        """Current values of process-instance variables, as raw typed values; absent ones left out.

        One request per name: correlation keys are few, and reading every variable could
        drag large serialized objects along.
        """
        values: dict[str, Any] = {}
        for name in names:
            url = f"{self.base_url}/process-instance/{process_instance_id}/variables/{name}"
            try:
                response = await self._http.get(
                    url,
                    params={"deserializeValue": "false"},
                    headers=self._headers,
                    timeout=HTTP_TIMEOUT_S,
                )
            except httpx.HTTPError as exc:
                raise EngineError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
            if _variable_absent(response):
                continue
            if response.status_code in (httpx.codes.FORBIDDEN, httpx.codes.NOT_FOUND):
                # Hidden from us (a grant, a tenant) or a wrong URL: no proof of anything.
                raise InstanceNotVisible(
                    f"GET {url}: HTTP {response.status_code}", response.status_code
                )
            _raise_for_status(response)
            values[name] = response.json()
        return values


def _variable_absent(response: httpx.Response) -> bool:
    """The engine's 404 for a variable the instance does not have (and only that one)."""
    if response.status_code != httpx.codes.NOT_FOUND:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    message = body.get("message") if isinstance(body, dict) else None
    return isinstance(message, str) and VARIABLE_ABSENT.match(message) is not None


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = _error_detail(response.status_code, body if isinstance(body, dict) else {})
    raise EngineError(
        f"{response.request.method} {response.request.url}: {detail}", response.status_code
    )


def _error_detail(status: int, body: Mapping[str, Any]) -> str:
    """``received 400 : BadUserRequestException : message``, from the engine's error body."""
    parts = [f"received {status}", str(body.get("type") or ""), str(body.get("message") or "")]
    return " : ".join(part for part in parts if part)


def _rest_values(values: Mapping[str, TypedValue]) -> dict[str, dict[str, Any]]:
    return {name: value.to_json() for name, value in values.items()}
