"""What the link server asks of the engine, checked at start and by ``serve --check``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp

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
from tokenstore.vocabulary import ANSWER_MARKER_PREFIX

log = logging.getLogger(__name__)

TIMEOUT_S = 5
# The reads delivery makes, each harmless: a variable no answer ever has, and counts.
READS: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("/history/variable-instance/count", {"variableName": f"{ANSWER_MARKER_PREFIX}preflight"}),
    ("/history/process-instance/count", {}),
    ("/process-instance/count", {}),
)
# Measured on Camunda 7.24; each permission also comes with the definitions' variant.
REQUIREMENTS = (
    Requirement(
        (grant(PROCESS_INSTANCES, "UPDATE"), grant(PROCESS_DEFINITIONS, "UPDATE_INSTANCE")),
        "to correlate answers (POST /message)",
    ),
    Requirement(
        (grant(PROCESS_INSTANCES, "READ"), grant(PROCESS_DEFINITIONS, "READ_INSTANCE")),
        "to see whether an instance still runs (GET /process-instance/{id})",
    ),
    Requirement(
        (grant(PROCESS_DEFINITIONS, "READ_HISTORY"),),
        "to see in the history whether an answer arrived or an instance ended",
    ),
)


NEEDS = Needs("link server", READS, REQUIREMENTS)


@asynccontextmanager
async def _engine_get(settings: Settings) -> AsyncIterator[Get]:
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(
        headers=settings.camunda_headers(), timeout=timeout
    ) as session:

        async def get(path: str, params: Mapping[str, str]) -> Reply | Unreachable:
            try:
                async with session.get(settings.camunda_url + path, params=params) as response:
                    text = await response.text()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                return Unreachable(type(exc).__name__)
            try:
                body: object = json.loads(text) if text else None
            except ValueError:
                body = None
            return Reply(response.status, body)

        yield get


async def log_checks(settings: Settings) -> None:
    """At start: say what is missing, then serve anyway (an engine may come up later)."""
    await preflight.log_checks(_engine_get, settings, NEEDS, log)


async def check_command(settings: Settings) -> int:
    """``action-links serve --check``: the database and the engine, then an exit code."""
    return await preflight.check_command(_engine_get, settings, NEEDS, log)
