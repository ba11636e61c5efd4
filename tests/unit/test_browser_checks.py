"""The browser test's own rules: a missing browser or axe-core fails naming the install command,
which CSP headers count as real, which axe findings fail, where screenshots go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linkserver.security import SECURITY_HEADERS
from tests.support import browser
from tests.support.browser import DESKTOP, PHONE


def test_a_missing_chromium_fails_naming_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(browser.CHROMIUM_ENV, str(tmp_path / "chromium"))
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        browser.chromium_path()


def test_chromium_comes_from_the_variable_when_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    binary = tmp_path / "my-chromium"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(browser.CHROMIUM_ENV, str(binary))
    assert browser.chromium_path() == str(binary)


def test_a_missing_axe_core_fails_naming_npm_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "AXE_SCRIPT", tmp_path / "axe.min.js")
    with pytest.raises(pytest.fail.Exception, match=r"\(cd tests/browser && npm ci\)"):
        browser.axe_script()


def test_the_link_servers_own_policy_passes() -> None:
    headers = {k.lower(): v for k, v in SECURITY_HEADERS.items()}
    assert browser.csp_problem(headers) is None


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (None, "no Content-Security-Policy"),
        ("default-src 'self'; frame-ancestors 'none'", "default-src is not 'none'"),
        ("default-src 'none'; script-src 'self'; frame-ancestors 'none'", "allows scripts"),
        ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'", "allows"),
        ("default-src 'none'", "may be framed"),
    ],
)
def test_a_weaker_policy_is_named(policy: str | None, problem: str) -> None:
    headers = {} if policy is None else {"content-security-policy": policy}
    found = browser.csp_problem(headers)
    assert found is not None and problem in found


def test_only_serious_and_critical_findings_fail_and_each_names_rule_help_and_element() -> None:
    violations: list[dict[str, Any]] = [
        {
            "id": "color-contrast",
            "impact": "serious",
            "help": "Elements must meet minimum color contrast ratio thresholds",
            "helpUrl": "https://example.test/color-contrast",
            "nodes": [{"target": [".context"], "any": [{"message": "contrast of 4.47"}]}],
        },
        {
            "id": "label",
            "impact": "critical",
            "help": "Form elements must have labels",
            "nodes": [{"target": ["#f-amount"]}],
        },
        {"id": "region", "impact": "moderate", "help": "All content in landmarks", "nodes": []},
    ]
    failing = browser.failing(violations)
    assert [v["id"] for v in failing] == ["color-contrast", "label"]
    lines = browser.describe_violations("approval-confirm", failing)
    assert lines[0].startswith("approval-confirm: color-contrast (serious): Elements must meet")
    assert ".context (contrast of 4.47)" in lines[0]
    assert lines[1].endswith("at #f-amount")


def test_screenshots_have_stable_names_and_follow_the_artifacts_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert browser.screenshot_name("approval", "confirm", DESKTOP, "en") == (
        "approval-confirm-desktop.png"
    )
    assert browser.screenshot_name("other-amount", "error", PHONE, "de") == (
        "other-amount-error-phone-de.png"
    )
    monkeypatch.setenv(browser.ARTIFACTS_ENV, str(tmp_path))
    assert browser.screenshot_dir() == tmp_path / "screenshots"
    assert (tmp_path / "screenshots").is_dir()
