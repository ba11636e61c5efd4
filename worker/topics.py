"""The topics: read the task, write one transaction, return the variables to complete with.

Each handler validates first (pure, raises ModelingError), then writes, then returns; the
daemon completes the task only after the write committed, so the URLs a process receives
always point at rows that exist.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import jinja2

from tokenstore import issuing, revocation
from tokenstore.db import Database
from tokenstore.model import IssuedGroup
from tokenstore.tokens import Keyring, mint
from tokenstore.types import utcnow
from tokenstore.variables import MAX_STRING_UTF16_UNITS, TypedValue, format_date, utf16_units
from worker import letter, metrics
from worker.channels import (
    SEND_LINKS_EMAIL,
    SEND_LINKS_WEBHOOK,
    send_links_email,
    send_links_webhook,
)
from worker.engine import EngineClient
from worker.errors import ModelingError
from worker.mail import SmtpConfig
from worker.parsing import OutputNames, bind_correlation_keys, parse_issue, parse_revoke
from worker.task import Task
from worker.webhook import Webhook

log = logging.getLogger(__name__)

ISSUE_TOKEN = "issue-token"  # noqa: S105 - a topic name, not a secret
REVOKE_TOKENS = "revoke-tokens"

# What a handler completes its task with: typed values, each written as a task variable.
Outputs = dict[str, TypedValue]


@dataclass(frozen=True)
class Context:
    """What a handler needs: the database, the engine, the keys and where links point."""

    db: Database
    client: EngineClient
    keyring: Keyring = field(repr=False)
    public_url: str
    clock: Callable[[], dt.datetime] = utcnow
    # The mail server of send-links-email (None: not configured) and its templates.
    smtp: SmtpConfig | None = None
    templates: jinja2.Environment = field(default_factory=lambda: letter.environment(None))
    # The receivers of send-links-webhook, by <NAME>.
    webhooks: Mapping[str, Webhook] = field(default_factory=dict)


Handler = Callable[[Task, Context], Awaitable[Outputs]]


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/l/{token}"


def links_text(urls: Mapping[str, str]) -> str:
    return json.dumps(urls)


def check_links_text_fits(actions: list[str], url_chars: int, variable: str) -> None:
    """Refuse, before issuing, a link map too long for the String variable it would fill."""
    units = utf16_units(links_text({name: "x" * url_chars for name in actions}))
    if units > MAX_STRING_UTF16_UNITS:
        raise ModelingError(
            f"resultStringVariable {variable}: the link map would be {units} characters, more "
            f"than the {MAX_STRING_UTF16_UNITS} a String variable holds; leave it empty and "
            "read the Json resultVariable, or use fewer actions"
        )


def issue_outputs(
    outputs: OutputNames, issued: IssuedGroup, order: list[str], public_url: str
) -> Outputs:
    """The variables an issue-token task completes with (they hold tokens: never log them)."""
    urls = {name: link_url(public_url, issued.tokens[name]) for name in order}
    variables: Outputs = {
        outputs.links: TypedValue("Json", json.dumps(urls)),
        outputs.expires_at: TypedValue("Date", format_date(issued.expires_at)),
        outputs.group_id: TypedValue("String", str(issued.group_id)),
    }
    for name, url in urls.items():
        variables[outputs.link_variable(name)] = TypedValue("String", url)
    if outputs.links_text is not None:
        variables[outputs.links_text] = TypedValue("String", links_text(urls))
    return variables


async def issue_token(task: Task, ctx: Context) -> Outputs:
    now = ctx.clock()
    spec = parse_issue(task, now)
    request = spec.request
    if spec.outputs.links_text is not None:
        # Every token has the same length, so one minted now measures them all.
        url_chars = len(link_url(ctx.public_url, mint(ctx.keyring).token))
        order = [action.name for action in request.actions]
        check_links_text_fits(order, url_chars, spec.outputs.links_text)
    if spec.correlation_key_names:
        values = await ctx.client.process_variables(
            task.process_instance_id, spec.correlation_key_names
        )
        request = bind_correlation_keys(spec, values)
    issued = await issuing.issue(ctx.db, request, ctx.keyring, now)
    metrics.LINKS_ISSUED.inc(len(issued.tokens))
    log.info(
        "%s task %s: %s link group %s with %d links for process instance %s",
        task.topic,
        task.id,
        "re-issued" if issued.reissued else "issued",
        issued.group_id,
        len(issued.tokens),
        task.process_instance_id,
        extra=task.log_extra(
            "reissued" if issued.reissued else "issued",
            group_id=str(issued.group_id),
            links=len(issued.tokens),
        ),
    )
    order = [spec.name for spec in request.actions]
    return issue_outputs(spec.outputs, issued, order, ctx.public_url)


async def revoke_tokens(task: Task, ctx: Context) -> Outputs:
    spec = parse_revoke(task)
    async with ctx.db.transaction() as conn:
        if spec.actions:
            known = await revocation.action_names(conn, task.process_instance_id, spec.group_id)
            unknown = sorted(set(spec.actions) - known)
            # With no links yet there is nothing to misname; with some, a typo revokes nothing.
            if known and unknown:
                raise ModelingError(
                    f"actions names {', '.join(unknown)}, which no link of this process "
                    f"instance has (it has {', '.join(sorted(known))})"
                )
        count = await revocation.revoke(
            conn, task.process_instance_id, ctx.clock(), spec.group_id, spec.actions
        )
    metrics.LINKS_REVOKED.inc(count)
    log.info(
        "%s task %s: revoked %d links of process instance %s",
        task.topic,
        task.id,
        count,
        task.process_instance_id,
        extra=task.log_extra("revoked", revoked=count),
    )
    return {spec.result_variable: TypedValue("Integer", count)}


HANDLERS: Mapping[str, Handler] = {
    ISSUE_TOKEN: issue_token,
    REVOKE_TOKENS: revoke_tokens,
    SEND_LINKS_EMAIL: send_links_email,
    SEND_LINKS_WEBHOOK: send_links_webhook,
}
