"""Rendering of the HTML pages (jinja2, autoescaped), kept apart from the handlers."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from linkserver.branding import Brand
from linkserver.presentation import Status, format_moment
from linkserver.responses import PAGE_STATUS
from tokenstore import answerschema
from tokenstore.model import LinkView
from tokenstore.types import RedemptionState

RECEIVED_REFRESH_S = 5

PAGES = "pages"


class TemplateDirError(ValueError):
    """The operator's template directory cannot be used; the message says why."""


def environment(template_dir: str | None = None, brand: Brand | None = None) -> jinja2.Environment:
    """The pages' jinja environment: the operator's templates (by name) before the package's.

    Everything is autoescaped, and nothing a process or a person gives is marked safe: a
    detail, a label or a typed-in value is text on the page, never markup.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.PackageLoader("linkserver", PAGES))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["brand"] = brand or Brand()
    return env


def check_template_dir(template_dir: str) -> None:
    """At start: a readable directory whose ``*.html`` templates all compile."""
    path = Path(template_dir)
    if not path.is_dir():
        raise TemplateDirError(f"{template_dir} is not a directory")
    env = environment(template_dir)
    try:
        names = sorted(p.name for p in path.iterdir() if p.suffix == ".html")
    except OSError as exc:
        raise TemplateDirError(f"cannot list {template_dir}: {exc.strerror or exc}") from exc
    for name in names:
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateDirError(f"{name} line {exc.lineno}: {exc.message}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateDirError(f"cannot read {name}: {exc}") from exc


def render(
    env: jinja2.Environment, template: str, status: int = 200, **context: Any
) -> web.Response:
    html = env.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _field(
    name: str, prop: Mapping[str, Any], required: bool, value: Any, error: str | None
) -> dict[str, Any]:
    kind = prop["type"]
    return {
        "name": name,
        "title": prop.get("title") or name,
        "kind": kind,
        "input_type": "number" if kind in ("integer", "number") else "text",
        "step": "1" if kind == "integer" else ("any" if kind == "number" else None),
        "min": prop.get("minimum"),
        "max": prop.get("maximum"),
        "max_length": prop.get("maxLength"),
        "enum": prop.get("enum"),
        "required": required,
        "value": "" if value is None else value,
        "error": error,
    }


def confirm_page(
    env: jinja2.Environment,
    view: LinkView,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> web.Response:
    form, errors = form or {}, errors or {}
    schema = view.link.input_schema
    fields = []
    if schema is not None:
        needed = answerschema.required(schema)
        fields = [
            _field(name, prop, name in needed, form.get(name), errors.get(name))
            for name, prop in answerschema.properties(schema).items()
        ]
    return render(
        env,
        "confirm.html",
        status=422 if errors else 200,
        notice=_uses_notice(view),
        title=f"{view.link.label}?",
        label=view.link.label,
        description=view.group.description,
        expires=format_moment(view.group.expires_at),
        recipient=masked_recipient(view.group.recipient),
        fields=fields,
        form_error=errors.get(""),
    )


def masked_recipient(recipient: str | None) -> str | None:
    """``a…@example.com``: enough for the right person to recognise themselves.

    Whoever holds a forwarded link learns the domain and one letter, never the address;
    a user id keeps only its first character.
    """
    if not recipient:
        return None
    local, at, domain = recipient.rpartition("@")
    if not at or not local or not domain:
        return f"{recipient[0]}…"
    return f"{local[0]}…@{domain}"


def _uses_notice(view: LinkView) -> str | None:
    """A link that takes more answers says the last one arrived, so nobody clicks twice."""
    link, answer = view.link, view.answer
    if not link.uses or answer is None or answer.link_id != link.id:
        return None
    left = link.max_uses - link.uses
    times = "once more" if left == 1 else f"{left} more times"
    chose = f"you chose “{answer.label}” on {format_moment(answer.answered_at)}"
    if answer.state is RedemptionState.UNDELIVERABLE and answer.refused:
        return f"Your last answer ({chose}) could not be applied by the system handling it."
    if answer.state is RedemptionState.UNDELIVERABLE:
        return f"Your last answer ({chose}) came after the request had closed; it was not applied."
    return f"Received: {chose}. This link can be used {times}."


def outcome_page(env: jinja2.Environment, status: Status, view: LinkView | None) -> web.Response:
    if status is Status.INVALID and view is None:
        return invalid_page(env)
    heading, message = _outcome_text(status, view)
    return render(
        env,
        "outcome.html",
        status=PAGE_STATUS[status],
        title=heading,
        heading=heading,
        message=message,
        description=view.group.description if view else None,
        # While delivery is under way, reload now and then to show how it ended (GET is safe).
        refresh=RECEIVED_REFRESH_S if status is Status.RECEIVED else None,
        # A link that is not (or no longer) valid says whom to ask.
        contact_hint=status is Status.INVALID,
    )


def _outcome_text(status: Status, view: LinkView | None) -> tuple[str, str]:
    answer = view.answer if view else None
    chosen = f"“{answer.label}” on {format_moment(answer.answered_at)}" if answer else ""
    expires = format_moment(view.group.expires_at) if view else ""
    texts = {
        Status.RECEIVED: ("Received", f"You chose {chosen}. We are passing your answer on."),
        Status.RECORDED: ("Answer recorded", f"You chose {chosen}. Nothing more to do."),
        Status.UNDELIVERABLE: (
            "This request is no longer open",
            f"You chose {chosen}, but the request had already closed, so it was not applied.",
        ),
        Status.REFUSED: (
            "Your answer could not be applied",
            f"You chose {chosen}, but the system handling the request refused it, "
            "so it was not applied. Please tell whoever sent you this link.",
        ),
        Status.ANSWERED_ELSEWHERE: (
            "Already answered",
            (
                f"“{answer.label}” was chosen on {format_moment(answer.answered_at)}. "
                if answer
                else ""
            )
            + "This link can no longer be used.",
        ),
        Status.REVOKED: (
            "This link was withdrawn",
            "The request it belonged to is no longer open.",
        ),
        Status.EXPIRED: ("This link has expired", f"It was valid until {expires}."),
        Status.INVALID: (
            "This link is not valid",
            "Check that the whole link was copied. "
            "A link replaced by a newer message stops working.",
        ),
    }
    return texts.get(status, ("", ""))


def unavailable_page(env: jinja2.Environment) -> web.Response:
    return render(
        env,
        "outcome.html",
        status=503,
        title="Please try again in a minute",
        heading="Please try again in a minute",
        message="We cannot take answers right now. If you already confirmed, opening the link "
        "again shows whether your answer was recorded.",
        description=None,
    )


def error_page(env: jinja2.Environment, status: int, heading: str, message: str) -> web.Response:
    return render(
        env,
        "outcome.html",
        status=status,
        title=heading,
        heading=heading,
        message=message,
        description=None,
    )


# One entry per environment (an app has one): tests build a few apps, a server one.
@functools.lru_cache(maxsize=16)
def _invalid_html(env: jinja2.Environment) -> str:
    heading, message = _outcome_text(Status.INVALID, None)
    return env.get_template("outcome.html").render(
        title=heading,
        heading=heading,
        message=message,
        description=None,
        refresh=None,
        contact_hint=True,
    )


def invalid_page(env: jinja2.Environment) -> web.Response:
    """The page for a forged, garbled or unknown token, rendered once: guessing costs us
    no more than the HMAC check (a response object cannot be reused, its text can)."""
    return web.Response(
        text=_invalid_html(env),
        status=PAGE_STATUS[Status.INVALID],
        content_type="text/html",
        charset="utf-8",
    )
