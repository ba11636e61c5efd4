"""Running the worker's channel topics in-process: fetch a task by topic, issue links first."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.harness import Harness
from tests.support.keys import SIGNING_KEYS
from tokenstore.db import Database
from tokenstore.tokens import Keyring
from worker import letter
from worker.daemon import Worker
from worker.engine import EngineClient
from worker.mail import SmtpConfig
from worker.outcome import Complete
from worker.settings import WorkerSettings
from worker.task import Task
from worker.topics import Context

PUBLIC_URL = "https://links.example.test"
APPROVER = "anna.berg@example.com"


def worker_env(database_url: str, camunda_url: str) -> dict[str, str]:
    return {
        "ACTION_LINKS_DATABASE_URL": database_url,
        "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
        "ACTION_LINKS_CAMUNDA_URL": camunda_url,
        "ACTION_LINKS_PUBLIC_URL": PUBLIC_URL,
        "ACTION_LINKS_WORKER_ID": f"it-{uuid.uuid4().hex[:8]}",
    }


@dataclasses.dataclass
class Rig:
    harness: Harness
    settings: WorkerSettings
    client: EngineClient
    ctx: Context

    @property
    def worker(self) -> Worker:
        return Worker(self.settings, self.client, self.ctx)

    async def fetch(self, topic: str, business_key: str) -> Task:
        body = {
            "workerId": self.client.worker_id,
            "maxTasks": 1,
            "topics": [
                {
                    "topicName": topic,
                    "lockDuration": 60_000,
                    "businessKey": business_key,
                    "localVariables": True,
                    "deserializeValues": False,
                }
            ],
        }
        for _ in range(50):
            response = await self.client._http.post(self.client.fetch_and_lock_url, json=body)
            response.raise_for_status()
            if items := response.json():
                return Task.from_json(items[0])
            await asyncio.sleep(0.2)
        raise AssertionError(f"no {topic} task for {business_key}")

    async def issued(
        self,
        started: list[str],
        key: str = "approval-by-email",
        topic: str = "send-links-email",
        variables: Mapping[str, Any] | None = None,
    ) -> tuple[str, Task]:
        """An instance of ``key`` whose links are issued, and its ``topic`` task."""
        business_key = f"it-{uuid.uuid4().hex}"
        typed = {
            name: {"type": "String", "value": value}
            for name, value in {"approver": APPROVER, **(variables or {})}.items()
        }
        pid = self.harness.rest.start(key, typed, business_key)
        started.append(pid)
        outcome = await self.worker.process(await self.fetch("issue-token", business_key))
        assert isinstance(outcome, Complete)
        return pid, await self.fetch(topic, business_key)


@asynccontextmanager
async def rig(harness: Harness, settings: WorkerSettings, keyring: Keyring) -> AsyncIterator[Rig]:
    """A worker context as the daemon builds it from ``settings``."""
    database = Database(harness.db)
    try:
        async with httpx.AsyncClient() as http:
            client = EngineClient(settings, http)
            ctx = Context(
                database,
                client,
                keyring,
                PUBLIC_URL,
                smtp=SmtpConfig.from_settings(settings),
                templates=letter.environment(settings.template_dir),
                webhooks=settings.webhooks,
            )
            yield Rig(harness, settings, client, ctx)
    finally:
        await database.dispose()
