"""Schemathesis against the served OpenAPI document: no 5xx, and every answer as documented."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.openapi import OPENAPI
from tests.support.harness import WAIT_FOR_DECISION, Harness
from tests.support.linkserver_process import running_linkserver
from tokenstore.tokens import Keyring

EXAMPLES_PER_MODE = 100  # x 2 operations x positive/negative: about 400 requests
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(base_url: str, live_tokens: list[str]) -> int:
    """Run every operation in both modes; a live token stands in for a generated one now and
    then, so the fuzz reaches real links too. Returns how many requests were checked."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    calls = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_MODE,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(
                case=operation.as_strategy(generation_mode=mode),
                live=st.sampled_from([None, None, *live_tokens]),
            )
            def run(case: schemathesis.Case[Any], live: str | None) -> None:
                nonlocal calls
                if live is not None:
                    case.path_parameters = {**(case.path_parameters or {}), "token": live}
                case.call_and_validate(base_url=base_url, checks=CHECKS)
                calls += 1

            run()
    return calls


async def test_the_api_answers_fuzzed_requests_as_its_openapi_document_says(
    database_url: str,
    db: AsyncEngine,
    camunda_url: str,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    # Fuzzing is one client making thousands of failed look-ups; let it reach the handlers.
    env = {"ACTION_LINKS_FAILED_LOOKUP_BURST": "1000000"}
    with running_linkserver(database_url, camunda_url, env=env, log_level="INFO") as server:
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        issued = await h.issue(await h.instance())
        calls = await asyncio.to_thread(_fuzz, server.base_url, list(issued.tokens.values()))
        log = server.log_text()
    assert calls >= len(OPENAPI["paths"]) * 2 * EXAMPLES_PER_MODE // 2
    assert "Traceback" not in log
