"""The public port of ``action-links serve`` under slow clients, odd paths and garbage."""

from __future__ import annotations

import asyncio
import re
import resource

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.rest import EngineRest
from linkserver.security import SECURITY_HEADERS
from tests.support import rawhttp
from tests.support.harness import WAIT_FOR_DECISION, Harness, page
from tests.support.linkserver_process import running_linkserver
from tokenstore.tokens import Keyring

SLOW_CLIENTS = 1000
PER_CLIENT_CAP = 900
OTHER_ADDRESS = "127.0.0.2"  # loopback too: "another client" without leaving the machine
CLOSE_LIMIT_S = 60  # far above the 4 s read timeout, far below the 5 min keep-alive
SLOW_BODY = (
    b"POST /api/v1/links/k1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA/redeem HTTP/1.1\r\n"
    b"Host: links\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    b'{"input": {"amo'
)
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed


async def _slow_client(port: int, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if index % 10 == 0:
        # Some send their headers and then only part of the body they announced ...
        writer.write(SLOW_BODY)
    elif index % 2:
        # ... some start a request and never finish its headers; the rest send nothing at all.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: links\r\nX-Slow: ")
    await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed the connection (a refusal, or nothing)."""
    try:
        return await asyncio.wait_for(reader.read(), CLOSE_LIMIT_S)
    except ConnectionResetError:
        return b""


async def test_slow_connections_are_closed_while_others_are_served(
    database_url: str,
    db: AsyncEngine,
    camunda_url: str,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    _raise_open_files(SLOW_CLIENTS + 200)
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    env = {
        "ACTION_LINKS_READ_TIMEOUT": "PT4S",
        # Idle keep-alive would close these only after five minutes: the read deadline must.
        "ACTION_LINKS_KEEPALIVE_TIMEOUT": "PT5M",
        "ACTION_LINKS_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT_CAP),
    }
    with running_linkserver(database_url, camunda_url, env=env, log_level="INFO") as server:
        _, port = rawhttp.host_port(server.base_url)
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        issued = await h.issue(await h.instance())
        slow = []
        for start in range(0, SLOW_CLIENTS, 100):
            slow += await asyncio.gather(
                *(_slow_client(port, i) for i in range(start, start + 100))
            )
        try:
            # Another address is served while one address holds its whole allowance.
            other = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))
            async with aiohttp.ClientSession(connector=other) as elsewhere:
                async with elsewhere.get(f"{server.base_url}/healthz") as r:
                    assert r.status == 200
                async with elsewhere.post(
                    h.url(issued.tokens["approve"]), allow_redirects=False
                ) as r:
                    assert r.status == 303
            assert await h.answers() == 1
            sent = await asyncio.gather(*(_closed_by_server(reader) for reader, _ in slow))
        finally:
            for _, writer in slow:
                writer.close()
        # Over the cap a connection is refused at once; the ones let in are closed by the read
        # deadline without a word. (A slow machine may free a slot before the last connects.)
        refused = [data for data in sent if data.startswith(b"HTTP/1.1 503")]
        assert refused and sent.count(b"") >= PER_CLIENT_CAP
        assert len(refused) + sent.count(b"") == SLOW_CLIENTS
        # The address is welcome again once its slow connections are gone.
        status, _, _ = await page(h, "GET", f"{server.base_url}/healthz")
        assert status == 200
        log = server.log_text()
    assert "Traceback" not in log
    assert log.count("per-client cap of 900 reached") == 1, log[-3000:]
    assert log.count("did not send its request in") == 1


async def test_logs_hold_no_token_and_cannot_be_forged(
    database_url: str,
    db: AsyncEngine,
    camunda_url: str,
    engine_rest: EngineRest,
    keyring: Keyring,
    http: aiohttp.ClientSession,
) -> None:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    with running_linkserver(database_url, camunda_url) as server:
        h = Harness(server.base_url, http, db, engine_rest, keyring)
        issued = await h.issue(await h.instance())
        token = issued.tokens["approve"]
        kid, secret, mac = token.split(".")
        encoded = f"{kid}%2E{secret}%2E{mac}"
        paths = [
            f"//l/{token}",
            f"/l//{token}",
            f"/L/{token}",
            f"/static/{token}",
            f"/./l/{token}",
            f"/l/{token}",
            f"/l/{encoded}",
            f"/api/v1/links/{token}",
            f"/nowhere?t={token}",
        ]
        for path in paths:
            response = await rawhttp.exchange(server.base_url, rawhttp.get(path))
            assert response.status in {200, 404}, path
        # aiohttp's parser refuses these and would print the request line it could not read.
        for garbage in (
            f"GET /l/{token} HTTP/1.1 trailing\r\n\r\n",
            f"GET /l/{token} HTTP/1.1\r\nHost links {token}\r\n\r\n",
            f"POST /l/{token} HTTP/1.1\r\nHost: links\r\nContent-Length: x{token}\r\n\r\n",
        ):
            response = await rawhttp.exchange(server.base_url, garbage.encode())
            assert response.status == 400
        forged = "/l/x%0A2026-01-01%2000:00:00,000%20INFO%20FORGED%0D%0Aalso-FORGED"
        response = await rawhttp.exchange(server.base_url, rawhttp.get(forged))
        assert response.status == 404
        log = server.log_text()
    for part in (secret, mac, encoded):
        assert part not in log
    assert f"{kid}.{secret[:4]}…" in log  # redacted, yet still telling which key signed it
    forged_lines = [line for line in log.splitlines() if "FORGED" in line]
    assert len(forged_lines) == 1 and "action=http_access" in forged_lines[0]
    assert all(LOG_LINE.match(line) for line in log.splitlines() if "FORGED" in line)


@pytest.mark.parametrize(
    ("name", "request_bytes"),
    [
        ("bad request line", b"GET /ECHO-ME HTTP/1.1 extra words\r\nHost: links\r\n\r\n"),
        ("bad header", b"GET /ECHO-ME HTTP/1.1\r\nHost: links\r\nNo colon ECHO-ME\r\n\r\n"),
        (
            "oversized header",
            b"GET /ECHO-ME HTTP/1.1\r\nHost: links\r\nX-Big: " + b"A" * 20_000 + b"\r\n\r\n",
        ),
        ("bad method", b"G(T /ECHO-ME HTTP/1.1\r\nHost: links\r\n\r\n"),
    ],
)
async def test_malformed_requests_get_the_security_headers_and_no_traceback(
    database_url: str, camunda_url: str, name: str, request_bytes: bytes
) -> None:
    with running_linkserver(database_url, camunda_url, log_level="INFO") as server:
        response = await rawhttp.exchange(server.base_url, request_bytes)
        log = server.log_text()
    assert response.status == 400, name
    for header, value in SECURITY_HEADERS.items():
        assert response.headers.get(header.lower()) == value, header
    assert response.headers["server"] == "action-links"  # no aiohttp/Python version banner
    assert b"ECHO-ME" not in response.body and b"AAAA" not in response.body
    assert "Traceback" not in log and " ERROR " not in log
    assert "ECHO-ME" not in log
    warnings = [line for line in log.splitlines() if "malformed request" in line]
    assert len(warnings) <= 1 and all(" WARNING " in line for line in warnings)
    if name == "oversized header":
        assert len(warnings) == 1


async def test_metrics_are_on_the_admin_listener_only(database_url: str, camunda_url: str) -> None:
    with running_linkserver(database_url, camunda_url, log_level="INFO") as server:
        match = re.search(r"admin \(metrics\) on http://127\.0\.0\.1:(\d+)", server.log_text())
        assert match, server.log_text()
        admin = f"http://127.0.0.1:{match.group(1)}"
        metrics = await rawhttp.exchange(admin, rawhttp.get("/metrics"))
        public = await rawhttp.exchange(server.base_url, rawhttp.get("/metrics"))
        ready = await rawhttp.exchange(admin, rawhttp.get("/readyz"))
    assert metrics.status == 200 and b"action_links_redemptions" in metrics.body
    assert public.status == 404
    assert ready.status == 200
