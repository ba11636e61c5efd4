"""``action-links links …`` and ``action-links answers …``: the operator's command line.

Tables for people by default, ``--json`` for scripts. Tokens are never printed: a token
given to ``links show`` is hashed to find its link.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import isodate

from tokenstore import operations
from tokenstore.db import Connection, Database
from tokenstore.exitcodes import ExitCode
from tokenstore.operations import AnswerRow, AuditRow, LinkFilter, LinkRow, RetryOutcome
from tokenstore.settings import DatabaseSettings
from tokenstore.types import LinkState, RedemptionState, TokenHash, utcnow

ERROR_CHARS = 60
T = TypeVar("T")

if TYPE_CHECKING:
    Parsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a UUID)") from None


def _link_key(text: str) -> uuid.UUID | TokenHash:
    try:
        return operations.link_key(text)
    except operations.NotALinkKey:
        raise argparse.ArgumentTypeError("neither a link id nor a token") from None


def _moment(text: str) -> dt.datetime:
    """An ISO 8601 date or time (UTC unless it says otherwise), or a duration from now."""
    try:
        if text.upper().startswith("P"):
            delta = isodate.parse_duration(text.upper())
            if not isinstance(delta, dt.timedelta):
                raise ValueError("months and years are not a fixed time")
            return utcnow() + delta
        moment = dt.datetime.fromisoformat(text)
    except (ValueError, isodate.ISO8601Error):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO 8601 time (2026-12-01T12:00Z) nor a duration (P2D)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def add_parsers(commands: Parsers, **shared: Any) -> None:
    """Register ``links`` and ``answers`` with their subcommands."""
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="JSON for scripts")
    step_kw = {**shared, "parents": [*shared.get("parents", []), output]}
    for_group = {k: v for k, v in shared.items() if k != "parents"}
    links = commands.add_parser("links", help="find, show and revoke links", **for_group)
    link_steps = links.add_subparsers(dest="step", required=True)
    found = link_steps.add_parser("list", help="links matching all filters", **step_kw)
    found.add_argument("--process-instance")
    found.add_argument("--business-key")
    found.add_argument("--group", type=_uuid)
    found.add_argument("--state", choices=[s.value for s in LinkState])
    found.add_argument(
        "--expiring-before", type=_moment, help="ISO 8601 time, or a duration from now (P1D)"
    )
    show = link_steps.add_parser("show", help="one link, its answers and audit trail",
                                 **step_kw)  # fmt: skip
    show.add_argument(
        "link", type=_link_key, metavar="TOKEN_OR_ID", help="a link id, a token or a link URL"
    )
    revoke = link_steps.add_parser("revoke", help="revoke active links", **step_kw)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--process-instance")
    which.add_argument("--group", type=_uuid)
    which.add_argument("--link", type=_uuid)
    revoke.add_argument("--reason", required=True, help="recorded in the audit trail")

    answers = commands.add_parser("answers", help="list, show and retry answers", **for_group)
    answer_steps = answers.add_subparsers(dest="step", required=True)
    listed = answer_steps.add_parser("list", help="answers by delivery state", **step_kw)
    listed.add_argument(
        "--state",
        choices=[RedemptionState.PENDING.value, RedemptionState.UNDELIVERABLE.value],
        default=RedemptionState.PENDING.value,
    )
    one = answer_steps.add_parser("show", help="an answer, its attempts and audit trail",
                                  **step_kw)  # fmt: skip
    one.add_argument("answer", type=_uuid, metavar="ID")
    retry = answer_steps.add_parser(
        "retry", help="make an undeliverable or stuck answer due now", **step_kw
    )
    retry.add_argument("answer", type=_uuid, metavar="ID")


def run(args: argparse.Namespace, database: DatabaseSettings) -> int:
    handler = _HANDLERS[(args.command, args.step)]
    return asyncio.run(_with_connection(database, lambda conn: handler(conn, args)))


async def _with_connection(
    database: DatabaseSettings,
    work: Callable[[Connection], Coroutine[Any, Any, T]],
) -> T:
    db = Database.from_url(database.database_url, 1, database.db_schema)
    try:
        async with db.transaction() as conn:
            return await work(conn)
    finally:
        await db.dispose()


# --- printing ------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = str(value).replace("\n", " ")
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    for line in [list(headers), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    print()


LINK_COLUMNS = ("id", "process_instance_id", "business_key", "action", "state", "uses",
                "expires_at")  # fmt: skip
ANSWER_COLUMNS = ("id", "process_instance_id", "action", "state", "answered_at", "attempts",
                  "next_attempt_at", "last_error")  # fmt: skip
AUDIT_COLUMNS = ("at", "action", "link_id", "outcome", "detail")


def _link_cells(link: LinkRow) -> list[Any]:
    row = operations.as_dict(link)
    row["uses"] = f"{link.uses}/{link.max_uses}"
    row["expires_at"] = link.expires_at
    return [row[c] for c in LINK_COLUMNS]


def _answer_cells(answer: AnswerRow) -> list[Any]:
    return [getattr(answer, c) for c in ANSWER_COLUMNS]


def _audit_cells(event: AuditRow) -> list[Any]:
    detail = json.dumps(event.detail, sort_keys=True) if event.detail else None
    return [event.at, event.action, event.link_id, event.outcome, detail]


def _nothing(what: str) -> int:
    print(f"action-links: {what}", file=sys.stderr)
    return ExitCode.REFUSED


# --- links ---------------------------------------------------------------------------------


async def _links_list(conn: Connection, args: argparse.Namespace) -> int:
    where = LinkFilter(
        process_instance_id=args.process_instance,
        business_key=args.business_key,
        group_id=args.group,
        state=LinkState(args.state) if args.state else None,
        expiring_before=args.expiring_before,
    )
    found = await operations.list_links(conn, where)
    if args.json:
        _print_json([operations.as_dict(link) for link in found])
    elif found:
        print_table(LINK_COLUMNS, [_link_cells(link) for link in found])
    else:
        print("no links match", file=sys.stderr)
    return ExitCode.OK


async def _links_show(conn: Connection, args: argparse.Namespace) -> int:
    detail = await operations.show_link(conn, args.link)
    if detail is None:
        return _nothing("no such link")
    if args.json:
        _print_json(operations.as_dict(detail))
        return ExitCode.OK
    for name, value in operations.as_dict(detail.link).items():
        print(f"{name:>20}: {_cell(value)}")
    print("\nanswers:")
    print_table(ANSWER_COLUMNS, [_answer_cells(a) for a in detail.answers])
    print("\naudit trail:")
    print_table(AUDIT_COLUMNS, [_audit_cells(e) for e in detail.audit])
    return ExitCode.OK


async def _links_revoke(conn: Connection, args: argparse.Namespace) -> int:
    revoked = await operations.revoke(
        conn,
        utcnow(),
        args.reason,
        process_instance_id=args.process_instance,
        group_id=args.group,
        link_id=args.link,
    )
    if args.json:
        _print_json({"revoked": [str(i) for i in revoked]})
    else:
        for link_id in revoked:
            print(f"revoked {link_id}")
    return ExitCode.OK if revoked else _nothing("no active link matched; nothing revoked")


# --- answers -------------------------------------------------------------------------------


async def _answers_list(conn: Connection, args: argparse.Namespace) -> int:
    found = await operations.list_answers(conn, RedemptionState(args.state))
    if args.json:
        _print_json([operations.as_dict(a) for a in found])
    elif found:
        print_table(ANSWER_COLUMNS, [_answer_cells(a) for a in found])
    else:
        print(f"no {args.state} answers", file=sys.stderr)
    return ExitCode.OK


async def _answers_show(conn: Connection, args: argparse.Namespace) -> int:
    detail = await operations.show_answer(conn, args.answer)
    if detail is None:
        return _nothing("no such answer")
    if args.json:
        _print_json(operations.as_dict(detail))
        return ExitCode.OK
    for name, value in operations.as_dict(detail.answer).items():
        print(f"{name:>20}: {value if value is not None else '-'}")
    print("\naudit trail:")
    print_table(AUDIT_COLUMNS, [_audit_cells(e) for e in detail.audit])
    return ExitCode.OK


async def _answers_retry(conn: Connection, args: argparse.Namespace) -> int:
    outcome = await operations.retry_answer(conn, args.answer, utcnow())
    if args.json:
        _print_json({"answer": str(args.answer), "outcome": outcome.value})
    if outcome is RetryOutcome.NOT_FOUND:
        return _nothing("no such answer")
    if outcome is RetryOutcome.DELIVERED:
        return _nothing("that answer was delivered already; nothing to retry")
    if outcome is RetryOutcome.DUE_SOON:
        return _nothing("that answer is pending and a link server tries it within minutes")
    if not args.json:
        print(f"answer {args.answer} is due now; a link server delivers it")
    return ExitCode.OK


Handler = Callable[[Connection, argparse.Namespace], Coroutine[Any, Any, int]]
_HANDLERS: dict[tuple[str, str], Handler] = {
    ("links", "list"): _links_list,
    ("links", "show"): _links_show,
    ("links", "revoke"): _links_revoke,
    ("answers", "list"): _answers_list,
    ("answers", "show"): _answers_show,
    ("answers", "retry"): _answers_retry,
}
