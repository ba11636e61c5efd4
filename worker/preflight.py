"""What the worker asks of the engine, checked at start and by ``worker --check``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from tokenstore.preflight import (
    PROCESS_DEFINITIONS,
    PROCESS_INSTANCES,
    Reply,
    Report,
    Requirement,
    Unreachable,
    check_database,
    check_engine,
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


async def run_checks(settings: Settings, *, database: bool) -> Report:
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

        findings = await check_engine(
            get, settings.camunda_url, settings.camunda_user, READS, REQUIREMENTS
        )
    if database:
        findings = (*await check_database(settings.database_url), *findings)
    return Report(findings)


async def log_checks(settings: Settings) -> None:
    """At start: say what is missing, then serve anyway (an engine may come up later)."""
    (await run_checks(settings, database=False)).log(log, "worker")


async def check_command(settings: Settings) -> int:
    """``action-links worker --check``: the database and the engine, then an exit code."""
    report = await run_checks(settings, database=True)
    report.log(log, "worker")
    return int(report.exit_code)
