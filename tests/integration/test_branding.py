"""The sender's name through the real link server: logo, theme, footer, contact and the
operator's templates, with the CSP unchanged; bad branding stops ``serve`` at start."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack import ROOT
from devstack.rest import EngineRest
from linkserver.branding import accent, contact, read_logo
from linkserver.security import SECURITY_HEADERS
from linkserver.settings import LinkServerSettings
from tests.support.harness import WAIT_FOR_DECISION, Harness, link_server, page, settings_for
from tests.support.keys import SIGNING_KEYS
from tokenstore.exitcodes import ExitCode
from tokenstore.tokens import Keyring

CSP = SECURITY_HEADERS["Content-Security-Policy"]
FORGED = "k1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA"


def png_1x1() -> bytes:
    """A real one-pixel PNG, as a browser would show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x0b\x53\x94")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def logo_file(tmp_path: Path) -> Path:
    path = tmp_path / "acme.png"
    path.write_bytes(png_1x1())
    return path


@pytest.fixture
def brand_settings(
    database_url: str, camunda_url: str, engine_rest: EngineRest, keyring: Keyring, logo_file: Path
) -> LinkServerSettings:
    engine_rest.deploy_xml("wait-for-decision", WAIT_FOR_DECISION)
    return settings_for(
        database_url,
        keyring,
        camunda_url,
        product_name="Acme Approvals",
        logo=read_logo(str(logo_file)),
        accent=accent("#0b5394"),
        footer="Acme Corp, Finance <department>",
        contact=contact("finance@acme.example"),
    )


@asynccontextmanager
async def serving(
    settings: LinkServerSettings, db: AsyncEngine, rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    async with link_server(settings) as base, aiohttp.ClientSession() as http:
        yield Harness(base, http, db, rest, keyring)


@pytest.fixture
async def branded(
    brand_settings: LinkServerSettings, db: AsyncEngine, engine_rest: EngineRest, keyring: Keyring
) -> AsyncIterator[Harness]:
    async with serving(brand_settings, db, engine_rest, keyring) as harness:
        yield harness


def assert_secure(headers: Any) -> None:
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Server"] == "action-links"


async def test_the_logo_is_served_from_our_origin_and_shown_in_the_header(
    branded: Harness,
) -> None:
    async with branded.http.get(f"{branded.base}/static/logo") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["Cache-Control"] == "public, max-age=3600"
        assert_secure(response.headers)
        assert await response.read() == png_1x1()
    issued = await branded.issue(await branded.instance())
    status, html, headers = await page(branded, "GET", branded.url(issued.tokens["approve"]))
    assert status == 200
    assert '<img class="logo" src="../static/logo" alt="Acme Approvals">' in html
    assert "<title>Approve? \u2013 Acme Approvals</title>" in html
    assert_secure(headers)


async def test_theme_css_carries_the_accent_and_a_readable_text_colour(branded: Harness) -> None:
    async with branded.http.get(f"{branded.base}/static/theme.css") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/css; charset=utf-8"
        assert_secure(response.headers)
        css = await response.text()
    assert "button { background: #0b5394; color: #ffffff; }" in css
    issued = await branded.issue(await branded.instance())
    _, html, _ = await page(branded, "GET", branded.url(issued.tokens["approve"]))
    assert '<link rel="stylesheet" href="../static/theme.css">' in html
    assert "style=" not in html and "<style" not in html  # nothing inline: the CSP holds


async def test_footer_and_contact_on_every_page_and_the_invalid_link_says_whom_to_ask(
    branded: Harness,
) -> None:
    issued = await branded.issue(await branded.instance())
    mailto = '<a href="mailto:finance@acme.example">finance@acme.example</a>'
    _, confirm, _ = await page(branded, "GET", branded.url(issued.tokens["approve"]))
    assert "<p>Acme Corp, Finance &lt;department&gt;</p>" in confirm
    assert f"Questions? Contact {mailto}" in confirm
    status, invalid, headers = await page(branded, "GET", branded.url(FORGED))
    assert status == 404
    assert f"If you think it should work, contact {mailto}." in invalid
    assert "Acme Corp, Finance &lt;department&gt;" in invalid
    assert_secure(headers)


async def test_a_template_in_the_template_dir_replaces_that_page_only(
    brand_settings: LinkServerSettings,
    db: AsyncEngine,
    engine_rest: EngineRest,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "outcome.html").write_text(
        '{% extends "base.html" %}{% block content %}'
        '<h1 class="acme">{{ heading }}</h1><p>{{ message }}</p><p>Acme finance desk</p>'
        "{% endblock %}"
    )
    settings = dataclasses.replace(brand_settings, template_dir=str(templates))
    async with serving(settings, db, engine_rest, keyring) as harness:
        status, invalid, headers = await page(harness, "GET", harness.url(FORGED))
        assert status == 404
        assert '<h1 class="acme">This link is not valid</h1>' in invalid
        assert "Acme finance desk" in invalid
        assert "Questions? Contact" in invalid  # base.html is still the package's
        assert_secure(headers)
        issued = await harness.issue(await harness.instance())
        _, confirm, _ = await page(harness, "GET", harness.url(issued.tokens["approve"]))
        assert "Acme finance desk" not in confirm and "Confirm: Approve" in confirm


async def test_without_branding_the_pages_carry_the_default_name_and_no_logo(
    direct_harness: Harness,
) -> None:
    issued = await direct_harness.issue(await direct_harness.instance())
    _, html, _ = await page(direct_harness, "GET", direct_harness.url(issued.tokens["approve"]))
    assert '<span class="product">Action Links</span>' in html
    assert "<img" not in html and "theme.css" not in html and "Questions?" not in html
    status, invalid, _ = await page(direct_harness, "GET", direct_harness.url(FORGED))
    assert status == 404 and "ask whoever sent it to you" in invalid
    async with direct_harness.http.get(f"{direct_harness.base}/static/logo") as response:
        assert response.status == 404
        assert_secure(response.headers)


def serve(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionlinks_cli", "serve"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "ACTION_LINKS_DATABASE_URL": database_url,
            "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
            "ACTION_LINKS_LISTEN": "127.0.0.1:0",
            "ACTION_LINKS_ADMIN_LISTEN": "127.0.0.1:0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclasses.dataclass
class BadStart:
    variable: str
    value: str
    message: str


@pytest.mark.parametrize(
    "bad",
    [
        BadStart("LOGO_FILE", "logo.svg", "the logo is SVG, which can carry script"),
        BadStart("LOGO_FILE", "big.png", "at most 512 KiB"),
        BadStart("LOGO_FILE", "missing.png", "cannot read"),
        BadStart("ACCENT_COLOUR", "#777777", "neither white (4.48:1) nor near-black (4.22:1)"),
        BadStart("ACCENT_COLOUR", "teal", "is not a colour written #rrggbb"),
        BadStart("TEMPLATE_DIR", "missing", "is not a directory"),
    ],
    ids=lambda bad: f"{bad.variable}={bad.value}",
)
def test_bad_branding_stops_serve_at_start_with_exit_code_2(
    database_url: str, tmp_path: Path, bad: BadStart
) -> None:
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>')
    (tmp_path / "big.png").write_bytes(png_1x1().ljust(600 * 1024, b"\0"))
    value = str(tmp_path / bad.value)
    if bad.variable == "ACCENT_COLOUR":
        value = bad.value
    result = serve(database_url, **{f"ACTION_LINKS_{bad.variable}": value})
    assert result.returncode == ExitCode.CONFIG, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"action-links: ACTION_LINKS_{bad.variable}: "), line
    assert bad.message in line
    assert "Traceback" not in result.stderr and len(line.splitlines()) == 1
