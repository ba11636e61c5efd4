"""The mail a ``send-links-email`` task sends: rendered from jinja2 templates, built into a
multipart message. Pure apart from reading the templates.

Templates ``<name>.txt.j2`` and ``<name>.html.j2`` (``<name>.<locale>.*.j2`` first, when a
locale is asked for) are looked up in ``ACTION_LINKS_TEMPLATE_DIR`` first, then among those
shipped in ``worker/mail_templates``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import jinja2

from worker.errors import ModelingError

DEFAULT_TEMPLATE = "links"


@dataclass(frozen=True)
class Button:
    label: str
    url: str = ""


@dataclass(frozen=True)
class LetterContent:
    """What the templates are given; the URLs in it hold tokens: never log it."""

    subject: str
    description: str | None
    recipient: str | None
    buttons: tuple[Button, ...]
    expires_at: dt.datetime
    sender: str
    process: str | None
    business_key: str | None


@dataclass(frozen=True)
class Envelope:
    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    reply_to: str | None = None


def environment(template_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.PackageLoader("worker", "mail_templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # Autoescape the HTML part only; the plain part is text, where escaping would show.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def format_moment(moment: dt.datetime) -> str:
    """``28 Nov 2026 at 10:42 UTC``: unambiguous for people in any locale."""
    utc = moment.astimezone(dt.UTC)
    return f"{utc.day} {utc:%b %Y} at {utc:%H:%M} UTC"


def _names(template: str, locale: str | None, kind: str) -> list[str]:
    names = [f"{template}.{locale}.{kind}.j2"] if locale else []
    return [*names, f"{template}.{kind}.j2"]


def render(
    env: jinja2.Environment, template: str, locale: str | None, content: LetterContent
) -> tuple[str, str]:
    """The plain and the HTML part; a missing or broken template is a ModelingError."""
    context: Mapping[str, Any] = {
        "subject": content.subject,
        "description": content.description,
        "recipient": content.recipient,
        "buttons": content.buttons,
        "expires": format_moment(content.expires_at),
        "sender": content.sender,
        "process": content.process,
        "business_key": content.business_key,
    }
    parts = []
    for kind in ("txt", "html"):
        try:
            parts.append(env.select_template(_names(template, locale, kind)).render(context))
        except jinja2.TemplatesNotFound as exc:
            raise ModelingError(
                f"template {template!r} has no {kind} part: expected {exc.templates[-1]} in "
                "ACTION_LINKS_TEMPLATE_DIR or among the shipped templates (links)"
            ) from exc
        except jinja2.TemplateError as exc:
            raise ModelingError(f"template {template!r} ({kind}) failed: {exc}") from exc
    return parts[0], parts[1]


def build(
    envelope: Envelope,
    subject: str,
    parts: tuple[str, str],
    message_id: str,
    now: dt.datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = envelope.from_address
    message["To"] = ", ".join(envelope.to)
    if envelope.cc:
        message["Cc"] = ", ".join(envelope.cc)
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = message_id
    # Links in a mail are followed by scanners; the confirmation page asks before it acts.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(parts[0])
    message.add_alternative(parts[1], subtype="html")
    return message


def check_address(text: str, what: str) -> str:
    """One plain address ``name@domain``; anything else is a ModelingError naming ``what``."""
    problem = f"{what}: {text[:80]!r} is not an email address like anna@example.com"
    if any(c.isspace() or ord(c) < 32 or c in "<>,;\"'" for c in text):
        raise ModelingError(problem)
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError) as exc:
        raise ModelingError(problem) from exc
    if not address.username or "." not in address.domain:
        raise ModelingError(problem)
    return text


def check_addresses(items: Sequence[str], what: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(check_address(item, what) for item in items))
