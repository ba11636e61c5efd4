"""The start-up check's rules, with the engine's answers scripted."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import pytest

from tokenstore.exitcodes import ExitCode
from tokenstore.preflight import (
    PROCESS_DEFINITIONS,
    PROCESS_INSTANCES,
    Finding,
    Get,
    Needs,
    Reply,
    Report,
    Requirement,
    Unreachable,
    check_command,
    check_engine,
    grant,
    log_checks,
)
from tokenstore.settings import Settings

KEYS = "k1:test-secret-key-0123456789abcdef"

URL = "http://engine.test/engine-rest"
READS: tuple[tuple[str, Mapping[str, str]], ...] = (("/process-instance/count", {}),)
EITHER = Requirement(
    (grant(PROCESS_INSTANCES, "UPDATE"), grant(PROCESS_DEFINITIONS, "UPDATE_INSTANCE")),
    "to correlate",
)


def engine(
    read: Reply | Unreachable, granted: set[str], check: Reply | None = None
) -> tuple[Get, list[str]]:
    asked: list[str] = []

    async def get(path: str, params: Mapping[str, str]) -> Reply | Unreachable:
        if path != "/authorization/check":
            return read
        asked.append(params["permissionName"])
        if check is not None:
            return check
        return Reply(200, {"authorized": params["permissionName"] in granted})

    return get, asked


async def findings(get: Get, user: str | None = "links") -> Report:
    return Report(await check_engine(get, URL, user, READS, (EITHER,)))


async def test_the_second_alternative_is_enough() -> None:
    get, asked = engine(Reply(200, {"count": 0}), {"UPDATE_INSTANCE"})
    report = await findings(get)
    assert report.findings == () and report.exit_code == ExitCode.OK
    assert asked == ["UPDATE", "UPDATE_INSTANCE"]


async def test_a_missing_permission_names_every_alternative_and_why() -> None:
    get, _ = engine(Reply(200, {"count": 0}), set())
    (finding,) = (await findings(get)).findings
    assert finding.level == logging.ERROR and finding.exit_code == ExitCode.REFUSED
    assert finding.message == (
        "the engine user 'links' lacks UPDATE on process instances or UPDATE_INSTANCE on "
        "process definitions (all, '*'): needed to correlate"
    )


@pytest.mark.parametrize(
    ("reply", "action", "text"),
    [
        (Reply(401, None), "preflight_credentials_refused", "refused the credentials"),
        (Reply(403, {"message": "no way"}), "preflight_forbidden", "(403): no way"),
        (Reply(404, None), "preflight_engine_error", "the engine's REST base, …/engine-rest?"),
        (Reply(500, {"message": "boom"}), "preflight_engine_error", "answered 500: boom"),
    ],
)
async def test_a_refused_read_stops_the_check(reply: Reply, action: str, text: str) -> None:
    get, asked = engine(reply, set())
    (finding,) = (await findings(get)).findings
    assert (finding.action, finding.exit_code) == (action, ExitCode.REFUSED)
    assert text in finding.message
    assert asked == []


async def test_an_unreachable_engine_is_a_warning_with_its_own_exit_code() -> None:
    get, _ = engine(Unreachable("ConnectError"), set())
    (finding,) = (await findings(get)).findings
    assert finding.level == logging.WARNING
    assert finding.exit_code == ExitCode.ENGINE_UNREACHABLE
    assert f"the engine at {URL} is unreachable (ConnectError)" in finding.message


async def test_an_engine_that_does_not_authenticate_is_not_checked() -> None:
    get, _ = engine(Reply(200, {"count": 0}), set(), check=Reply(401, {"message": "x"}))
    report = await findings(get, user=None)
    (finding,) = report.findings
    assert finding.level == logging.INFO and report.exit_code == ExitCode.OK
    assert "does not authenticate callers" in finding.message


def test_the_worst_finding_sets_the_exit_code() -> None:
    report = Report(
        (
            Finding(logging.ERROR, "a", "a", ExitCode.REFUSED),
            Finding(logging.WARNING, "b", "b", ExitCode.DATABASE_UNREACHABLE),
        )
    )
    assert report.exit_code == ExitCode.DATABASE_UNREACHABLE


async def test_check_command_logs_each_finding_and_exits_with_the_worst(
    caplog: pytest.LogCaptureFixture,
) -> None:
    get, _ = engine(Reply(200, {"count": 0}), set())
    opened: list[str] = []

    @contextlib.asynccontextmanager
    async def connect(settings: Settings) -> AsyncIterator[Get]:
        opened.append(settings.camunda_url)
        yield get

    settings = Settings.from_env(
        {
            "ACTION_LINKS_DATABASE_URL": "postgresql://x@127.0.0.1:1/d",
            "ACTION_LINKS_SIGNING_KEYS": KEYS,
        }
    )
    needs = Needs("test daemon", READS, (EITHER,))
    with caplog.at_level(logging.INFO):
        code = await check_command(connect, settings, needs, logging.getLogger("t"))
    # No Postgres listens on port 1, and one permission is missing: the worse code wins.
    assert opened == [settings.camunda_url]
    assert code == ExitCode.DATABASE_UNREACHABLE
    actions = [getattr(r, "action", None) for r in caplog.records]
    assert actions == ["preflight_database_unreachable", "preflight_permission_missing"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        await log_checks(connect, settings, Needs("test daemon", READS, ()), logging.getLogger("t"))
    assert "test daemon start-up check passed" in caplog.text
