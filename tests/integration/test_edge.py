"""The link server's edge in-process, on real Postgres and the real engine: one URL per link,
a clean User-Agent, and guessing limited per client."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from tests.support import rawhttp
from tests.support.harness import WAIT_FOR_DECISION, Harness, page, serving
from tokenstore.tables import audit_events
from tokenstore.tokens import Keyring

GUESSES = 10_000
GUESSER, CLICKER = "203.0.113.7", "203.0.113.8"


@pytest.fixture
async def edge(
    database_url: str,
    db: AsyncEngine,
    engine_rest: EngineRest,
    keyring: Keyring,
    camunda_url: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Harness]:
    changes: dict[str, Any] = getattr(request, "param", {})
    async with serving(
        database_url,
        db,
        engine_rest,
        keyring,
        camunda_url,
        {"wait-for-decision": WAIT_FOR_DECISION},
        **changes,
    ) as h:
        yield h


def _random_token() -> str:
    return f"k1.{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(12)}"


async def test_only_the_canonical_spelling_of_a_link_is_accepted(edge: Harness) -> None:
    token = (await edge.issue(await edge.instance())).tokens["approve"]
    kid, secret, mac = token.split(".")
    unknown = await rawhttp.exchange(edge.base, rawhttp.get(f"/l/{_random_token()}"))
    assert unknown.status == 404 and b"This link is not valid" in unknown.body
    canonical = await rawhttp.exchange(edge.base, rawhttp.get(f"/l/{token}"))
    assert canonical.status == 200 and b"Confirm: Approve" in canonical.body
    for path in (
        f"/l/{kid}%2E{secret}%2E{mac}",
        f"/l/%6B1.{secret}.{mac}",
        f"/l/{kid}.{secret}.{mac[:-1]}%{ord(mac[-1]):02X}",
        f"/l/{token}/",
        f"/L/{token}",
        f"//l/{token}",
        f"/./l/{token}",
    ):
        response = await rawhttp.exchange(edge.base, rawhttp.get(path))
        assert (response.status, response.body) == (404, unknown.body), path
    api = await rawhttp.exchange(edge.base, rawhttp.get(f"/api/v1/links/{kid}%2E{secret}.{mac}"))
    assert api.status == 404 and b'"invalid_token"' in api.body
    post = await rawhttp.exchange(
        edge.base,
        f"POST /l/%6B1.{secret}.{mac} HTTP/1.1\r\nHost: links\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    assert post.status == 404
    assert await edge.answers() == 0


async def test_a_user_agent_that_is_not_utf8_is_stored_cleaned_and_the_answer_kept(
    edge: Harness,
) -> None:
    token = (await edge.issue(await edge.instance())).tokens["approve"]
    # Bytes that are no UTF-8, a C1 control (NEL, U+0085) and a line separator, then length.
    agent = b"\xff\xfeBot/1.0 \xc2\x85red\xe2\x80\xa8 " + b"x" * 400
    response = await rawhttp.exchange(
        edge.base,
        f"POST /l/{token} HTTP/1.1\r\nHost: links\r\nContent-Length: 0\r\n".encode()
        + b"User-Agent: "
        + agent
        + b"\r\nConnection: close\r\n\r\n",
    )
    assert response.status == 303
    async with edge.db.connect() as conn:
        agents = set(
            (
                await conn.execute(
                    sa.select(audit_events.c.user_agent).where(
                        audit_events.c.user_agent.is_not(None)
                    )
                )
            ).scalars()
        )
    assert await edge.answers() == 1
    (stored,) = agents
    assert stored.startswith("\ufffd\ufffdBot/1.0 red x")
    assert len(stored) == 256


async def _guess(http: aiohttp.ClientSession, base: str, i: int, forwarded: str) -> int:
    path = f"/api/v1/links/{_random_token()}" if i % 2 else f"/l/{_random_token()}"
    async with http.get(base + path, headers={"X-Forwarded-For": forwarded}) as r:
        if r.status == 429:
            assert int(r.headers["Retry-After"]) >= 1
            if i % 2:
                assert (await r.json())["error"]["code"] == "rate_limited"
            else:
                assert "Too many attempts" in await r.text()
        return r.status


async def _burst(h: Harness, forwarded: str) -> Counter[int]:
    statuses: Counter[int] = Counter()
    for start in range(0, GUESSES, 250):
        results = await asyncio.gather(
            *(_guess(h.http, h.base, i, forwarded) for i in range(start, start + 250))
        )
        statuses.update(results)
    return statuses


@pytest.mark.parametrize(
    "edge", [{"trusted_proxies": (ipaddress.ip_network("127.0.0.1/32"),)}], indirect=True
)
async def test_guessing_is_limited_while_other_clients_keep_working(
    edge: Harness, keyring: Keyring
) -> None:
    token = (await edge.issue(await edge.instance())).tokens["approve"]
    statuses = await _burst(edge, f"198.51.100.1, {GUESSER}")
    # The burst allowance, plus what refills while the burst runs, at ten a minute.
    assert statuses[404] <= 40 and statuses[429] == GUESSES - statuses[404]
    # The guesser is turned away even with a real link ...
    status, _, headers = await page(
        edge, "GET", edge.url(token), headers={"X-Forwarded-For": GUESSER}
    )
    assert status == 429 and "Retry-After" in headers
    # ... while another client behind the same proxy opens and answers it.
    other = {"X-Forwarded-For": CLICKER}
    status, body, _ = await page(edge, "GET", edge.url(token), headers=other)
    assert status == 200 and "Confirm: Approve" in body
    status, _, _ = await page(edge, "POST", edge.url(token), headers=other)
    assert status == 303
    async with edge.db.connect() as conn:
        hashes = set(
            (
                await conn.execute(
                    sa.select(audit_events.c.client_ip_hash).where(
                        audit_events.c.client_ip_hash.is_not(None)
                    )
                )
            ).scalars()
        )
    # The audit trail hashes the client the proxy vouched for, not the proxy.
    assert hashes == {keyring.fingerprint(CLICKER)}


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(edge: Harness) -> None:
    token = (await edge.issue(await edge.instance())).tokens["approve"]
    statuses: Counter[int] = Counter()
    for i in range(60):
        # A client cannot escape the limit by claiming a new address each time.
        statuses[await _guess(edge.http, edge.base, i, f"192.0.2.{i}")] += 1
    assert statuses[404] == 20 and statuses[429] == 40
    status, _, _ = await page(edge, "GET", edge.url(token), headers={"X-Forwarded-For": CLICKER})
    assert status == 429
