"""The channel topics: send a group's links to a person, exactly once per task.

``send-links-email`` reads the group (default: the ``actionLinkGroupId`` the issue-token task
wrote) and its URLs (the ``actionLinks`` variable; only ``complete`` ever published the
tokens, so the process holds them and the database does not), renders the mail, records the
send, hands the mail over, and records that it went out. A task delivered again after that
sends nothing; one whose first send has an unknown outcome sends the same Message-ID again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

import httpx

from tokenstore import sending, tokens
from tokenstore.errors import InvalidToken
from tokenstore.model import Group
from tokenstore.sending import GroupToSend
from tokenstore.types import GroupId
from tokenstore.variables import TypedValue
from worker import letter, mail, taskvariables, webhook
from worker.errors import ModelingError
from worker.letter import Button, Envelope, LetterContent
from worker.parsing import parse_email, parse_group_id, parse_webhook
from worker.task import Task

if TYPE_CHECKING:
    from worker.topics import Context, Outputs

log = logging.getLogger(__name__)

SEND_LINKS_EMAIL = "send-links-email"
SEND_LINKS_WEBHOOK = "send-links-webhook"
EMAIL_CHANNEL = "email"
WEBHOOK_CHANNEL = "webhook"
WEBHOOK_TIMEOUT_S = 10.0
# What issue-token writes by default; the channel reads them from the process instance.
LINKS_VARIABLE = "actionLinks"
GROUP_VARIABLE = "actionLinkGroupId"
DEFAULT_SUBJECT = "Your answer is needed"
MAX_SUBJECT_CHARS = 200


async def send_links_email(task: Task, ctx: Context) -> Outputs:
    smtp = ctx.smtp
    if smtp is None:
        raise ModelingError(
            "no mail server is configured for the worker: set ACTION_LINKS_SMTP_HOST and "
            "ACTION_LINKS_SMTP_FROM"
        )
    spec = parse_email(task)
    found, urls = await _group_and_urls(task, ctx, spec.group_id)
    group = found.group
    buttons = tuple(Button(link.label, url) for link, url in zip(found.links, urls, strict=True))
    to = spec.to or (_recipient_address(group),)
    subject = spec.subject or default_subject(group.description)
    content = LetterContent(
        subject=subject,
        description=group.description,
        recipient=group.recipient,
        buttons=buttons,
        expires_at=group.expires_at,
        sender=smtp.from_address,
        process=task.process_definition_key,
        business_key=task.business_key,
    )
    parts = letter.render(ctx.templates, spec.template, spec.locale, content)
    domain = smtp.from_address.rpartition("@")[2] or None
    async with ctx.db.transaction() as conn:
        record = await sending.begin_send(
            conn, task.id, EMAIL_CHANNEL, group.id, make_msgid(domain=domain), ctx.clock()
        )
    outputs: Outputs = {spec.result_variable: TypedValue("String", record.message_id)}
    extra = {"group_id": str(group.id), "message_id": record.message_id}
    if record.sent:
        log.info(
            "%s task %s: mail %s went out before; not sending it again",
            task.topic,
            task.id,
            record.message_id,
            extra=task.log_extra("send_skipped", **extra),
        )
        return outputs
    envelope = Envelope(smtp.from_address, to, spec.cc, spec.reply_to)
    message = letter.build(envelope, subject, parts, record.message_id, ctx.clock())
    refused = await mail.send(smtp, message)
    async with ctx.db.transaction() as conn:
        detail = {"to": list(to), "cc": list(spec.cc), "refused": refused}
        await sending.mark_sent(conn, record, ctx.clock(), detail)
    log.info(
        "%s task %s: mail %s with %d links accepted by %s (attempt %d)",
        task.topic,
        task.id,
        record.message_id,
        len(buttons),
        smtp.host,
        record.attempts,
        extra=task.log_extra("sent", refused=len(refused), **extra),
    )
    return outputs


async def send_links_webhook(task: Task, ctx: Context) -> Outputs:
    spec = parse_webhook(task)
    hook = ctx.webhooks.get(webhook.variable_name(spec.webhook))
    if hook is None:
        raise ModelingError(
            f"no webhook {spec.webhook!r} is configured for the worker: set "
            f"ACTION_LINKS_WEBHOOK_{webhook.variable_name(spec.webhook)}_URL and _SECRET"
        )
    found, urls = await _group_and_urls(task, ctx, spec.group_id)
    group = found.group
    async with ctx.db.transaction() as conn:
        record = await sending.begin_send(
            conn, task.id, WEBHOOK_CHANNEL, group.id, str(uuid.uuid4()), ctx.clock()
        )
    outputs: Outputs = {spec.result_variable: TypedValue("String", record.message_id)}
    extra = {"group_id": str(group.id), "delivery_id": record.message_id, "webhook": hook.name}
    if record.sent:
        log.info(
            "%s task %s: webhook %s took delivery %s before; not posting it again",
            task.topic,
            task.id,
            hook.name,
            record.message_id,
            extra=task.log_extra("send_skipped", **extra),
        )
        return outputs
    body = json.dumps(webhook_document(task, found, urls, record.message_id)).encode()
    now = ctx.clock()
    async with httpx.AsyncClient() as http:
        status = await webhook.post(
            http, hook, body, record.message_id, int(now.timestamp()), WEBHOOK_TIMEOUT_S
        )
    async with ctx.db.transaction() as conn:
        await sending.mark_sent(conn, record, ctx.clock(), {"webhook": hook.name, "status": status})
    log.info(
        "%s task %s: webhook %s took delivery %s with %d links (HTTP %d, attempt %d)",
        task.topic,
        task.id,
        hook.name,
        record.message_id,
        len(urls),
        status,
        record.attempts,
        extra=task.log_extra("sent", status=status, **extra),
    )
    return outputs


def webhook_document(
    task: Task, found: GroupToSend, urls: tuple[str, ...], delivery_id: str
) -> dict[str, Any]:
    """What a receiver gets: enough to ask the person and answer through the JSON API."""
    group = found.group
    actions = []
    for link, url in zip(found.links, urls, strict=True):
        action: dict[str, Any] = {"name": link.action, "label": link.label, "url": url}
        if link.input_schema is not None:
            action["input"] = dict(link.input_schema)
        actions.append(action)
    return {
        "deliveryId": delivery_id,
        "group": str(group.id),
        "messageName": group.message_name,
        "description": group.description,
        "recipient": group.recipient,
        "expiresAt": group.expires_at.astimezone(dt.UTC).isoformat(),
        "process": {
            "instanceId": task.process_instance_id,
            "definitionKey": task.process_definition_key,
            "businessKey": task.business_key,
        },
        "actions": actions,
    }


async def _group_and_urls(
    task: Task, ctx: Context, chosen: GroupId | None
) -> tuple[GroupToSend, tuple[str, ...]]:
    names = [LINKS_VARIABLE] if chosen else [LINKS_VARIABLE, GROUP_VARIABLE]
    values = await ctx.client.process_variables(task.process_instance_id, names)
    group_id = chosen or _group_variable(values)
    async with ctx.db.transaction() as conn:
        found = await sending.group_to_send(conn, group_id)
    if found is None:
        raise ModelingError(
            f"link group {group_id} does not exist (reaped after it expired, or groupId "
            "names a group of another database)"
        )
    if found.group.process_instance_id != task.process_instance_id:
        raise ModelingError(f"link group {group_id} belongs to another process instance")
    return found, checked_urls(found, values, ctx.keyring)


def _group_variable(values: Mapping[str, Any]) -> GroupId:
    found = values.get(GROUP_VARIABLE)
    group_id = parse_group_id({"groupId": found}) if found is not None else None
    if group_id is None:
        raise ModelingError(
            f"the process has no {GROUP_VARIABLE}: run issue-token first, or set groupId"
        )
    return group_id


def checked_urls(
    found: GroupToSend, values: Mapping[str, Any], keyring: tokens.Keyring
) -> tuple[str, ...]:
    """The URL of each link, in order, taken from ``actionLinks`` and checked against the group.

    A URL that does not verify, or belongs to other links, would send a dead button.
    """
    urls = taskvariables.json_value(values, LINKS_VARIABLE)
    if not isinstance(urls, Mapping):
        raise ModelingError(f"the process has no {LINKS_VARIABLE}: run issue-token first")
    checked = []
    for link in found.links:
        url = urls.get(link.action)
        if not isinstance(url, str):
            raise ModelingError(f"{LINKS_VARIABLE} has no link for the action {link.action!r}")
        try:
            matches = tokens.verify(keyring, url.rsplit("/", 1)[-1]) == link.token_hash
        except InvalidToken:
            matches = False
        if not matches:
            raise ModelingError(
                f"{LINKS_VARIABLE} does not hold the current links of group {found.group.id} "
                "(issued again since, or another group)"
            )
        checked.append(url)
    return tuple(checked)


def default_subject(description: str | None) -> str:
    """The description's first line (a header holds one), or a plain request."""
    first = (description or "").strip().splitlines()[0:1]
    line = first[0].strip() if first else ""
    return line[:MAX_SUBJECT_CHARS] or DEFAULT_SUBJECT


def _recipient_address(group: Group) -> str:
    if group.recipient is None:
        raise ModelingError(
            "to is empty and the issue-token task named no recipient: set to, or recipient"
        )
    return letter.check_address(group.recipient, "recipient (the default of to)")
