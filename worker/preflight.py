"""What the worker asks of the engine, checked at start and by ``worker --check``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx

from tokenstore import preflight
from tokenstore.preflight import (
    PROCESS_DEFINITIONS,
    PROCESS_INSTANCES,
    Get,
    Needs,
    Reply,
    Requirement,
    Unreachable,
    grant,
)
from tokenstore.settings import Settings

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0
READS: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("/external-task/count", {}),
    ("/process-instance/count", {}),
)
# Camunda accepts either grant for each: on instances, or on the definitions' instances.
REQUIREMENTS = (
    Requirement(
        (grant(PROCESS_INSTANCES, "READ"), grant(PROCESS_DEFINITIONS, "READ_INSTANCE")),
        "to fetch tasks and read the variables bound into links",
    ),
    Requirement(
        (grant(PROCESS_INSTANCES, "UPDATE"), grant(PROCESS_DEFINITIONS, "UPDATE_INSTANCE")),
        "to lock, extend, complete and fail tasks",
    ),
)


NEEDS = Needs("worker", READS, REQUIREMENTS)


@asynccontextmanager
async def _engine_get(settings: Settings) -> AsyncIterator[Get]:
    async with httpx.AsyncClient(headers=settings.camunda_headers(), timeout=TIMEOUT_S) as http:

        async def get(path: str, params: Mapping[str, str]) -> Reply | Unreachable:
            try:
                response = await http.get(settings.camunda_url + path, params=params)
            except httpx.HTTPError as exc:
                return Unreachable(type(exc).__name__)
            try:
                body: object = response.json() if response.content else None
            except ValueError:
                body = None
            return Reply(response.status_code, body)

        yield get


async def log_checks(settings: Settings) -> None:
    """At start: say what is missing, then serve anyway (an engine may come up later)."""
    await preflight.log_checks(_engine_get, settings, NEEDS, log)


async def check_command(settings: Settings) -> int:
    """``action-links worker --check``: the database and the engine, then an exit code."""
    return await preflight.check_command(_engine_get, settings, NEEDS, log)
