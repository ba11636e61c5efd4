"""The engine's external-task REST API, on the library's client with one shared connection pool.

camunda-external-task-client-python3 fetches one task per call and opens a new HTTP client
for every request; this subclass fetches a batch, reuses one ``httpx.AsyncClient``, adds
extendLock and unlock, and turns every refusal into EngineError.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from camunda.client.async_external_task_client import AsyncExternalTaskClient
from camunda.utils.response_utils import get_response_error_message
from camunda.variables.variables import Variables

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


class EngineClient(AsyncExternalTaskClient):  # type: ignore[misc]
    """Fetch, complete, fail, extend and unlock external tasks for one worker id."""

    def __init__(self, settings: WorkerSettings, http: httpx.AsyncClient) -> None:
        super().__init__(
            settings.worker_id,
            settings.shared.camunda_url,
            {
                "lockDuration": milliseconds(settings.lock_duration),
                "asyncResponseTimeout": milliseconds(settings.long_poll),
                "retries": settings.task_retries,
                "retryTimeout": milliseconds(settings.retry_timeout),
                "httpTimeoutMillis": int(HTTP_TIMEOUT_S * 1000),
                "deserializeValues": False,
            },
        )
        self._http = http
        self._auth = settings.shared.camunda_headers()
        self.base_url = settings.shared.camunda_url

    def _get_headers(self) -> dict[str, str]:
        # Auth comes from our settings (basic or bearer), not the library's config dicts.
        return {"Content-Type": "application/json", **self._auth}

    async def _post(self, url: str, body: Mapping[str, Any], timeout_s: float) -> httpx.Response:
        try:
            response = await self._http.post(
                url, json=body, headers=self._get_headers(), timeout=timeout_s
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
            "asyncResponseTimeout": self.config["asyncResponseTimeout"],
            "topics": [
                {
                    "topicName": topic.name,
                    "lockDuration": self.config["lockDuration"],
                    "localVariables": topic.local_variables,
                    "deserializeValues": False,
                }
                for topic in topics
            ],
        }
        timeout = self.config["asyncResponseTimeout"] / 1000 + LONG_POLL_SLACK_S
        response = await self._post(self.get_fetch_and_lock_url(), body, timeout)
        return list(response.json())

    async def complete(
        self,
        task_id: str,
        global_variables: Mapping[str, Any],
        local_variables: Mapping[str, Any] | None = None,
    ) -> bool:
        body = {
            "workerId": self.worker_id,
            "variables": Variables.format(dict(global_variables)),
            "localVariables": Variables.format(dict(local_variables or {})),
        }
        await self._post(self.get_task_complete_url(task_id), body, self.http_timeout_seconds)
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
        await self._post(self.get_task_failure_url(task_id), body, self.http_timeout_seconds)
        return True

    async def extend_lock(self, task_id: str, duration_ms: int) -> None:
        body = {"workerId": self.worker_id, "newDuration": duration_ms}
        url = f"{self.external_task_base_url}/{task_id}/extendLock"
        await self._post(url, body, self.http_timeout_seconds)

    async def unlock(self, task_id: str) -> None:
        """Hand a task back so any worker may fetch it at once."""
        await self._post(f"{self.external_task_base_url}/{task_id}/unlock", {}, HTTP_TIMEOUT_S)

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
                    headers=self._get_headers(),
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
    detail = get_response_error_message(
        response.status_code, body if isinstance(body, dict) else {}
    )
    raise EngineError(
        f"{response.request.method} {response.request.url}: {detail}", response.status_code
    )
