"""Headless Chromium for the browser test: where it and axe-core are, how to start it, what a
page must pass.

Chromium is Debian's (``apt-get install -y chromium``), never a download of Playwright's own;
axe-core is pinned in tests/browser/package.json and installed by ``npm ci`` there. Both are
installed by .ci/run; a missing one fails the test, naming the command: never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Playwright

from devstack import ROOT

CHROMIUM_ENV = "ACTION_LINKS_CHROMIUM"
CHROMIUM_DEFAULT = "/usr/bin/chromium"
CHROMIUM_HINT = (
    f"install it with: apt-get install -y chromium (.ci/run does it), or point {CHROMIUM_ENV} "
    "at a Chromium binary"
)
# As root on a machine whose network reaches nothing but loopback: no sandbox, and none of
# Chromium's own background connections (refused here, and slow to give up on).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
AXE_SCRIPT = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
AXE_HINT = "install it with: (cd tests/browser && npm ci) (.ci/run does it)"
# What fails the test; moderate and minor findings are printed, not failed.
FAILING_IMPACTS = frozenset({"serious", "critical"})
ARTIFACTS_ENV = "ACTION_LINKS_ARTIFACTS"
ARTIFACTS_DEFAULT = ROOT / "test-artifacts"
# The narrowest phone the pages must fit without scrolling sideways.
NARROW_WIDTH_PX = 320


@dataclass(frozen=True)
class Size:
    """A viewport the pages are looked at in; ``name`` goes into screenshot file names."""

    name: str
    width: int
    height: int
    phone: bool


PHONE = Size("phone", 360, 740, phone=True)
DESKTOP = Size("desktop", 1280, 800, phone=False)


def chromium_path() -> str:
    path = os.environ.get(CHROMIUM_ENV) or CHROMIUM_DEFAULT
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"no Chromium at {path}; {CHROMIUM_HINT}")
    return path


def axe_script() -> Path:
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"axe-core is not installed ({AXE_SCRIPT} is missing); {AXE_HINT}")
    return AXE_SCRIPT


def screenshot_dir() -> Path:
    """``$ACTION_LINKS_ARTIFACTS/screenshots`` (default ``test-artifacts/screenshots``)."""
    base = os.environ.get(ARTIFACTS_ENV)
    folder = (Path(base) if base else ARTIFACTS_DEFAULT) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot_name(flow: str, page: str, size: Size, language: str) -> str:
    """``approval-confirm-desktop.png``; languages other than English get a suffix."""
    suffix = "" if language == "en" else f"-{language}"
    return f"{flow}-{page}-{size.name}{suffix}.png"


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=chromium_path(), args=list(CHROMIUM_ARGS), headless=True
    )


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (the context must bypass the CSP: the
    pages allow no script at all, which is the point)."""
    await page.add_script_tag(path=axe_script())
    result = await page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def describe_violations(where: str, violations: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per violation: rule id, impact, help, and the elements it found."""
    lines = []
    for violation in violations:
        targets = "; ".join(_node(node) for node in violation.get("nodes", []))
        lines.append(
            f"{where}: {violation['id']} ({violation.get('impact')}): {violation['help']} "
            f"[{violation.get('helpUrl', '')}] at {targets}"
        )
    return lines


def _node(node: Mapping[str, Any]) -> str:
    """The element's selector and axe's first reason (for contrast: the colours and ratio)."""
    target = " ".join(map(str, node.get("target", [])))
    reasons = [check["message"] for check in node.get("any", []) if check.get("message")]
    return f"{target} ({reasons[0]})" if reasons else target


def failing(violations: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [v for v in violations if v.get("impact") in FAILING_IMPACTS]


def csp_problem(headers: Mapping[str, str]) -> str | None:
    """Why a page's Content-Security-Policy header would let injected code run, if it would."""
    policy = headers.get("content-security-policy")
    if not policy:
        return "no Content-Security-Policy header"
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in policy.split(";")}
    if directives.get("default-src") != "default-src 'none'":
        return f"default-src is not 'none': {policy}"
    if "script-src" in directives or "unsafe-" in policy:
        return f"the policy allows scripts: {policy}"
    if directives.get("frame-ancestors") != "frame-ancestors 'none'":
        return f"the page may be framed: {policy}"
    return None


async def scrolls_sideways(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
    )
