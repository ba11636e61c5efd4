"""The in-process link server the integration tests talk to, in its two usual set-ups."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support.faultproxy import FaultProxy
from tests.support.harness import WAIT_FOR_DECISION, Harness, link_server, serving, settings_for
from tokenstore.tokens import Keyring


@pytest.fixture
async def harness(
    database_url: str, db: AsyncEngine, proxy: FaultProxy, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    """The link server talking to the engine through the fault proxy, with a correlation
    timeout of one second so that injected delays become timeouts quickly."""
    async with serving(
        database_url,
        db,
        engine_rest,
        keyring,
        proxy.url,
        {"wait-for-decision": WAIT_FOR_DECISION},
        correlation_timeout=dt.timedelta(seconds=1),
    ) as h:
        yield h


@pytest.fixture
async def direct_harness(
    database_url: str, db: AsyncEngine, camunda_url: str, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    """The link server talking to the engine directly, with the default settings."""
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    async with (
        link_server(settings_for(database_url, keyring, camunda_url)) as base,
        aiohttp.ClientSession() as http,
    ):
        yield Harness(base, http, db, engine_rest, keyring)
