"""Task variables in, validated requests out: pure rules, no I/O.

Every mistake a modeler can make raises ModelingError whose detail names the input and
says what to write instead; the daemon turns it into an incident.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import isodate

from tokenstore.answerschema import check_schema
from tokenstore.errors import InvalidVariable
from tokenstore.model import ActionSpec, IssueRequest
from tokenstore.types import CorrelateBy, GroupId
from tokenstore.variables import TypedValue, typed, typed_map
from worker import details, letter, taskvariables
from worker.errors import ModelingError
from worker.task import Task

DEFAULT_TTL = "P7D"
# A link living longer than this is a model mistake (and far-off dates overflow).
MAX_TTL = dt.timedelta(days=366)
MAX_ACTIONS = 20
MAX_LABEL_CHARS = 200
MAX_USES = 1000
MAX_MESSAGE_NAME_CHARS = 255
# An email address is at most 254 characters (RFC 5321); a user id is shorter still.
MAX_RECIPIENT_CHARS = 254
ACTION_KEYS = ("name", "label", "variables", "input", "maxUses")


@dataclass(frozen=True)
class OutputNames:
    """Where an issue-token task puts its results; each can be renamed by an input."""

    links: str = "actionLinks"
    link_prefix: str = "link_"
    expires_at: str = "actionLinksExpireAt"
    group_id: str = "actionLinkGroupId"
    # The link map again as plain text, for tools that show Json variables awkwardly.
    links_text: str | None = None

    def link_variable(self, action: str) -> str:
        # "pay-now" would read as a subtraction in ${link_pay-now}: use link_pay_now.
        return self.link_prefix + action.replace("-", "_")


@dataclass(frozen=True)
class IssueSpec:
    """A validated issue request, before correlation key values are read from the process."""

    request: IssueRequest
    outputs: OutputNames
    correlation_key_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class RevokeSpec:
    group_id: GroupId | None
    actions: tuple[str, ...] | None
    result_variable: str


# --- issue-token -------------------------------------------------------------------------


def parse_issue(task: Task, now: dt.datetime) -> IssueSpec:
    """Read and check every input of an issue-token task."""
    variables = task.variables
    message_name = taskvariables.required_string(variables, "messageName")
    if len(message_name) > MAX_MESSAGE_NAME_CHARS:
        raise ModelingError(f"messageName may hold at most {MAX_MESSAGE_NAME_CHARS} characters")
    actions = parse_actions(taskvariables.json_value(variables, "actions"))
    outputs = parse_outputs(variables, actions)
    correlate_by, key_names = parse_correlation(variables, task.business_key)
    request = IssueRequest(
        external_task_id=task.id,
        process_instance_id=task.process_instance_id,
        activity_id=task.activity_id,
        message_name=message_name,
        actions=actions,
        ttl=parse_ttl(taskvariables.string(variables, "ttl", DEFAULT_TTL) or DEFAULT_TTL, now),
        process_definition_key=task.process_definition_key,
        business_key=task.business_key,
        tenant_id=task.tenant_id,
        correlate_by=correlate_by,
        description=_description(variables),
        exclusive=taskvariables.boolean(variables, "exclusive", default=True),
        recipient=parse_recipient(variables),
        details=details.parse_details(variables),
        locale=details.parse_locale(variables),
        time_zone=details.parse_time_zone(variables),
    )
    return IssueSpec(request, outputs, key_names)


def parse_recipient(variables: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Who the links are for: an address or a user id, one line of text; blank means nobody."""
    text = taskvariables.string(variables, "recipient")
    if text is None:
        return None
    if len(text) > MAX_RECIPIENT_CHARS:
        raise ModelingError(f"recipient may hold at most {MAX_RECIPIENT_CHARS} characters")
    if any(c.isspace() for c in text):
        raise ModelingError(
            f"recipient {text[:40]!r} must be one address or user id, "
            "e.g. anna@example.com or anna, without spaces"
        )
    return text


def parse_ttl(text: str, now: dt.datetime) -> dt.timedelta:
    hint = f"ttl {text!r} is not an ISO 8601 duration (e.g. P7D, PT12H)"
    try:
        duration = isodate.parse_duration(text)
        # Months and years (P1M) only have a length from a starting point.
        ttl = duration.totimedelta(start=now) if isinstance(duration, isodate.Duration) else None
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise ModelingError(hint) from exc
    ttl = ttl if ttl is not None else duration
    if not isinstance(ttl, dt.timedelta):
        raise ModelingError(hint)
    if ttl <= dt.timedelta(0):
        raise ModelingError(f"ttl {text!r} must be longer than zero (e.g. P7D)")
    if ttl > MAX_TTL:
        raise ModelingError(f"ttl {text!r} is longer than {MAX_TTL.days} days")
    return ttl


def _description(variables: Mapping[str, Mapping[str, Any]]) -> str | None:
    text = taskvariables.string(variables, "description")
    if text is not None:
        try:
            typed(text, "String")
        except InvalidVariable as exc:
            raise ModelingError(f"description: {exc.detail}") from exc
    return text


def parse_actions(value: object) -> tuple[ActionSpec, ...]:
    example = '[{"name": "approve", "label": "Approve", "variables": {"approved": true}}]'
    if value is None:
        raise ModelingError(f"the input parameter actions is required, e.g. {example}")
    if not isinstance(value, list) or not value:
        raise ModelingError(f"actions must be a non-empty JSON list of objects, e.g. {example}")
    if len(value) > MAX_ACTIONS:
        raise ModelingError(f"at most {MAX_ACTIONS} actions may share one task")
    specs = tuple(parse_action(item, position) for position, item in enumerate(value, 1))
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ModelingError(f"action names must be unique; {', '.join(duplicates)} repeats")
    return specs


def parse_action(item: object, position: int) -> ActionSpec:
    if not isinstance(item, Mapping):
        raise ModelingError(f"action #{position} must be a JSON object with a name")
    name = taskvariables.action_name(item.get("name"), f"action #{position}")
    what = f"action {name!r}"
    unknown = sorted(set(item) - set(ACTION_KEYS))
    if unknown:
        raise ModelingError(f"{what}: unknown key {unknown[0]!r} (use {', '.join(ACTION_KEYS)})")
    label = item.get("label", name)
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS:
        raise ModelingError(f"{what}: label must be text of 1-{MAX_LABEL_CHARS} characters")
    taskvariables.readable_text(label, f"{what}: label")
    bound = _bound_variables(item.get("variables", {}), what)
    schema = _input_schema(item.get("input"), what)
    if schema is not None:
        clash = sorted(set(schema["properties"]) & set(bound))
        if clash:
            raise ModelingError(
                f"{what}: input property {clash[0]!r} is also a bound variable; "
                "the clicker may not override what the model sets"
            )
    return ActionSpec(name, label.strip(), bound, schema, _max_uses(item.get("maxUses", 1), what))


def _bound_variables(value: object, what: str) -> dict[str, TypedValue]:
    if not isinstance(value, Mapping):
        raise ModelingError(f'{what}: variables must be a JSON object, e.g. {{"approved": true}}')
    try:
        # Also refuses names in the reserved actionLink prefix, which the link server sets.
        return typed_map(value)
    except InvalidVariable as exc:
        raise ModelingError(f"{what}: {exc.detail}") from exc


def _input_schema(value: object, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return check_schema(value)
    except InvalidVariable as exc:
        raise ModelingError(f"{what}: input: {exc.detail}") from exc


def _max_uses(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_USES:
        raise ModelingError(f"{what}: maxUses must be a whole number from 1 to {MAX_USES}")
    return value


def parse_outputs(
    variables: Mapping[str, Mapping[str, Any]], actions: Sequence[ActionSpec]
) -> OutputNames:
    defaults = OutputNames()
    outputs = OutputNames(
        links=_output(variables, "resultVariable", defaults.links),
        link_prefix=taskvariables.string(variables, "linkVariablePrefix") or defaults.link_prefix,
        expires_at=_output(variables, "expiresAtVariable", defaults.expires_at),
        group_id=_output(variables, "groupIdVariable", defaults.group_id),
        links_text=_optional_output(variables, "resultStringVariable"),
    )
    names = [outputs.links, outputs.expires_at, outputs.group_id]
    if outputs.links_text is not None:
        names.append(outputs.links_text)
    for spec in actions:
        names.append(
            taskvariables.variable_name(
                outputs.link_variable(spec.name), "linkVariablePrefix + name"
            )
        )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ModelingError(f"two outputs would both be written to the variable {duplicates[0]}")
    return outputs


def _output(variables: Mapping[str, Mapping[str, Any]], name: str, default: str) -> str:
    return taskvariables.variable_name(taskvariables.string(variables, name, default), name)


def _optional_output(variables: Mapping[str, Mapping[str, Any]], name: str) -> str | None:
    # An empty Modeler field means "do not write it".
    text = taskvariables.string(variables, name)
    return None if text is None else taskvariables.variable_name(text, name)


def parse_correlation(
    variables: Mapping[str, Mapping[str, Any]], business_key: str | None
) -> tuple[CorrelateBy, tuple[str, ...]]:
    chosen = taskvariables.string(variables, "correlateBy")
    text = chosen or CorrelateBy.PROCESS_INSTANCE.value
    try:
        correlate_by = CorrelateBy(text)
    except ValueError as exc:
        choices = ", ".join(c.value for c in CorrelateBy)
        raise ModelingError(f"correlateBy {text!r} must be one of {choices}") from exc
    keys = taskvariables.name_list(variables, "correlationKeys") or []
    for key in keys:
        taskvariables.variable_name(key, "correlationKeys")
    if correlate_by is CorrelateBy.CORRELATION_KEYS and not keys:
        raise ModelingError(
            "correlateBy correlationKeys needs correlationKeys: process variable names, e.g. billId"
        )
    if correlate_by is not CorrelateBy.CORRELATION_KEYS and keys:
        if not chosen:
            raise ModelingError("correlationKeys is set, so set correlateBy to correlationKeys too")
        # The element template always shows the keys field (Camunda 7 templates cannot hide
        # it): a modeler who picked another correlation style means that style.
        keys = []
    if correlate_by is CorrelateBy.BUSINESS_KEY and not business_key:
        raise ModelingError(
            "correlateBy businessKey, but this process instance has no business key"
        )
    return correlate_by, tuple(keys)


def bind_correlation_keys(spec: IssueSpec, values: Mapping[str, Mapping[str, Any]]) -> IssueRequest:
    """Bind the current values of the correlation keys, read from the process instance."""
    bound: dict[str, TypedValue] = {}
    for name in spec.correlation_key_names:
        found = taskvariables.raw(values, name)
        if found is None:
            raise ModelingError(f"correlation key {name!r} has no value in this process instance")
        kind, value = found
        try:
            bound[name] = typed(value, kind)
        except InvalidVariable as exc:
            raise ModelingError(f"correlation key {name!r}: {exc.detail}") from exc
    return dataclasses.replace(spec.request, correlation_keys=bound)


# --- revoke-tokens -----------------------------------------------------------------------


def parse_revoke(task: Task) -> RevokeSpec:
    variables = task.variables
    group_id = parse_group_id(variables)
    actions = taskvariables.name_list(variables, "actions")
    if actions is not None:
        if not actions:
            raise ModelingError("actions is empty; leave it out to revoke every action")
        for name in actions:
            taskvariables.action_name(name, "actions")
    result = _output(variables, "resultVariable", "revokedCount")
    return RevokeSpec(group_id, tuple(actions) if actions else None, result)


# --- send-links-email --------------------------------------------------------------------

MAX_SUBJECT_CHARS = 200
MAX_ADDRESSES = 50
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LOCALE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class EmailSpec:
    """A validated send-links-email task; ``to`` empty means the group's recipient."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    subject: str | None
    template: str
    locale: str | None
    group_id: GroupId | None
    result_variable: str


def parse_email(task: Task) -> EmailSpec:
    """Read and check every input of a send-links-email task (pure)."""
    variables = task.variables
    subject = taskvariables.string(variables, "subject")
    if subject is not None and ("\n" in subject or "\r" in subject):
        raise ModelingError("subject must be one line")
    if subject is not None and len(subject) > MAX_SUBJECT_CHARS:
        raise ModelingError(f"subject may hold at most {MAX_SUBJECT_CHARS} characters")
    template = taskvariables.string(variables, "template") or letter.DEFAULT_TEMPLATE
    if not TEMPLATE_NAME.match(template):
        raise ModelingError(f"template {template[:40]!r} must be a name such as links or approval")
    locale = taskvariables.string(variables, "locale")
    if locale is not None and not LOCALE.match(locale):
        raise ModelingError(f"locale {locale[:40]!r} must be a language tag such as de or en-GB")
    reply_to = taskvariables.string(variables, "replyTo")
    return EmailSpec(
        to=_addresses(variables, "to"),
        cc=_addresses(variables, "cc"),
        reply_to=letter.check_address(reply_to, "replyTo") if reply_to else None,
        subject=subject,
        template=template,
        locale=locale,
        group_id=parse_group_id(variables),
        result_variable=_output(variables, "resultVariable", "actionLinksMessageId"),
    )


def _addresses(variables: Mapping[str, Mapping[str, Any]], name: str) -> tuple[str, ...]:
    items = taskvariables.name_list(variables, name) or []
    if len(items) > MAX_ADDRESSES:
        raise ModelingError(f"{name} may hold at most {MAX_ADDRESSES} addresses")
    return letter.check_addresses(items, name)


def parse_group_id(variables: Mapping[str, Mapping[str, Any]]) -> GroupId | None:
    """The ``groupId`` input, or None to read ``actionLinkGroupId`` from the process."""
    text = taskvariables.string(variables, "groupId")
    if text is None:
        return None
    try:
        return GroupId(uuid.UUID(text))
    except ValueError as exc:
        raise ModelingError(
            f"groupId {text[:40]!r} is not a link group id (e.g. ${{actionLinkGroupId}})"
        ) from exc


# --- send-links-webhook ------------------------------------------------------------------

WEBHOOK_NAME = re.compile(r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$")
MAX_WEBHOOK_NAME_CHARS = 40


@dataclass(frozen=True)
class WebhookSpec:
    webhook: str
    group_id: GroupId | None
    result_variable: str


def parse_webhook(task: Task) -> WebhookSpec:
    """Read and check every input of a send-links-webhook task (pure)."""
    variables = task.variables
    name = taskvariables.required_string(variables, "webhook")
    if len(name) > MAX_WEBHOOK_NAME_CHARS or not WEBHOOK_NAME.match(name):
        raise ModelingError(
            f"webhook {name[:40]!r} must be the name of a configured webhook, e.g. sms-gateway"
        )
    return WebhookSpec(
        webhook=name,
        group_id=parse_group_id(variables),
        result_variable=_output(variables, "resultVariable", "actionLinksDeliveryId"),
    )
