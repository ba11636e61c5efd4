"""The start-up check both daemons run: can they reach Postgres and the engine, and may their
engine user do what they will ask of it?

The rules live here; each daemon brings its own HTTP client (a ``Get``) and its own list of
reads and permissions. Camunda's queries and counts never answer 403 for a missing READ:
they silently leave out what the user may not see. So a count of 0 proves nothing, and the
permissions are asked for directly with ``GET /authorization/check``, which any
authenticated user may call about itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from tokenstore.db import Database
from tokenstore.errors import StoreUnavailable
from tokenstore.exitcodes import ExitCode
from tokenstore.settings import Settings


@dataclass(frozen=True)
class Grant:
    """One permission on all resources (``*``) of one Camunda resource type."""

    resource_type: int
    resource_name: str
    permission: str
    label: str

    def describe(self) -> str:
        return f"{self.permission} on {self.label}"


PROCESS_DEFINITIONS = (6, "ProcessDefinition", "process definitions")
PROCESS_INSTANCES = (8, "ProcessInstance", "process instances")


def grant(resource: tuple[int, str, str], permission: str) -> Grant:
    return Grant(resource[0], resource[1], permission, resource[2])


@dataclass(frozen=True)
class Requirement:
    """A permission the daemon needs; any one of ``alternatives`` gives it."""

    alternatives: tuple[Grant, ...]
    why: str

    def describe(self) -> str:
        return " or ".join(g.describe() for g in self.alternatives)


@dataclass(frozen=True)
class Reply:
    status: int
    body: object


@dataclass(frozen=True)
class Unreachable:
    reason: str


Get = Callable[[str, Mapping[str, str]], Awaitable[Reply | Unreachable]]


@dataclass(frozen=True)
class Finding:
    level: int
    action: str
    message: str
    exit_code: ExitCode = ExitCode.OK


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> ExitCode:
        return max((f.exit_code for f in self.findings), default=ExitCode.OK)

    def log(self, logger: logging.Logger, daemon: str) -> None:
        for finding in self.findings:
            logger.log(finding.level, finding.message, extra={"action": finding.action})
        if self.exit_code == ExitCode.OK:
            logger.info("%s start-up check passed", daemon, extra={"action": "preflight_passed"})


def _user(user: str | None) -> str:
    return f"the engine user {user!r}" if user else "the engine caller (no user configured)"


def _read_failure(path: str, reply: Reply, user: str | None) -> Finding | None:
    if reply.status < 400:
        return None
    if reply.status == 401:
        return Finding(
            logging.ERROR,
            "preflight_credentials_refused",
            f"the engine refused the credentials of {_user(user)} (401 on GET {path}): check "
            "ACTION_LINKS_CAMUNDA_USER and _PASSWORD (or _TOKEN)",
            ExitCode.REFUSED,
        )
    if reply.status == 403:
        return Finding(
            logging.ERROR,
            "preflight_forbidden",
            f"{_user(user)} may not GET {path} (403): {_message(reply)}",
            ExitCode.REFUSED,
        )
    hint = " (is ACTION_LINKS_CAMUNDA_URL the engine's REST base, …/engine-rest?)"
    return Finding(
        logging.ERROR,
        "preflight_engine_error",
        f"GET {path} answered {reply.status}{hint if reply.status == 404 else ''}: "
        f"{_message(reply)}",
        ExitCode.REFUSED,
    )


def _message(reply: Reply) -> str:
    if isinstance(reply.body, dict):
        return str(reply.body.get("message") or "")[:300]
    return ""


def _unreachable(camunda_url: str, why: Unreachable) -> Finding:
    return Finding(
        logging.WARNING,
        "preflight_engine_unreachable",
        f"the engine at {camunda_url} is unreachable ({why.reason}); permissions not checked, "
        "calls will be retried",
        ExitCode.ENGINE_UNREACHABLE,
    )


async def _granted(get: Get, g: Grant) -> Reply | Unreachable | bool:
    params = {
        "permissionName": g.permission,
        "resourceName": g.resource_name,
        "resourceType": str(g.resource_type),
        "resourceId": "*",
    }
    reply = await get("/authorization/check", params)
    if isinstance(reply, Reply) and reply.status == 200 and isinstance(reply.body, dict):
        return reply.body.get("authorized") is True
    return reply


async def check_engine(
    get: Get,
    camunda_url: str,
    user: str | None,
    reads: Sequence[tuple[str, Mapping[str, str]]],
    requirements: Sequence[Requirement],
) -> tuple[Finding, ...]:
    """The harmless reads the daemon will make, then each permission it needs."""
    for path, params in reads:
        reply = await get(path, params)
        if isinstance(reply, Unreachable):
            return (_unreachable(camunda_url, reply),)
        if failure := _read_failure(path, reply, user):
            return (failure,)
    findings: list[Finding] = []
    for requirement in requirements:
        for alternative in requirement.alternatives:
            answer = await _granted(get, alternative)
            if answer is True:
                break
            if isinstance(answer, Unreachable):
                return (*findings, _unreachable(camunda_url, answer))
            if isinstance(answer, Reply):
                return (*findings, _check_unavailable(answer))
        else:
            findings.append(
                Finding(
                    logging.ERROR,
                    "preflight_permission_missing",
                    f"{_user(user)} lacks {requirement.describe()} (all, '*'): "
                    f"needed {requirement.why}",
                    ExitCode.REFUSED,
                )
            )
    return tuple(findings)


def _check_unavailable(reply: Reply) -> Finding:
    if reply.status == 401:
        # The REST API let the reads through without asking who calls: it does not
        # authenticate, so the engine has no user to check permissions for.
        return Finding(
            logging.INFO,
            "preflight_permissions_not_checked",
            "the engine's REST API does not authenticate callers; permissions not checked",
        )
    return Finding(
        logging.WARNING,
        "preflight_permissions_not_checked",
        f"GET /authorization/check answered {reply.status}: {_message(reply)}; "
        "permissions not checked",
    )


async def check_database(database_url: str) -> tuple[Finding, ...]:
    db = Database.from_url(database_url, pool_size=1)
    try:
        await db.ping()
    except StoreUnavailable as exc:
        reason = exc.reason[:200]
        return (
            Finding(
                logging.WARNING,
                "preflight_database_unreachable",
                f"the database is unreachable ({reason}); calls will be retried",
                ExitCode.DATABASE_UNREACHABLE,
            ),
        )
    finally:
        await db.dispose()
    return ()


@dataclass(frozen=True)
class Needs:
    """What one daemon will ask of the engine: harmless reads, then the permissions."""

    daemon: str
    reads: tuple[tuple[str, Mapping[str, str]], ...]
    requirements: tuple[Requirement, ...]


# Each daemon opens its own HTTP client and hands over a ``Get`` for the checks' duration.
Connect = Callable[[Settings], AbstractAsyncContextManager[Get]]


async def run_checks(
    connect: Connect, settings: Settings, needs: Needs, *, database: bool
) -> Report:
    async with connect(settings) as get:
        findings = await check_engine(
            get, settings.camunda_url, settings.camunda_user, needs.reads, needs.requirements
        )
    if database:
        findings = (*await check_database(settings.database_url), *findings)
    return Report(findings)


async def log_checks(
    connect: Connect, settings: Settings, needs: Needs, logger: logging.Logger
) -> None:
    """At start: say what is missing, then serve anyway (an engine may come up later)."""
    (await run_checks(connect, settings, needs, database=False)).log(logger, needs.daemon)


async def check_command(
    connect: Connect, settings: Settings, needs: Needs, logger: logging.Logger
) -> int:
    """``--check``: the database and the engine, then an exit code."""
    report = await run_checks(connect, settings, needs, database=True)
    report.log(logger, needs.daemon)
    return int(report.exit_code)
