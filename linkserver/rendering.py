"""Rendering of the HTML pages (jinja2, autoescaped, gettext), kept apart from the handlers.

Every page is written in one ``Language``; what it shows of a link is chosen here, and the
templates only lay it out.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from babel.support import Translations

from linkserver.appkeys import LANGUAGES
from linkserver.branding import Brand
from linkserver.languages import N_, Language, Languages
from linkserver.presentation import Status
from linkserver.responses import PAGE_STATUS
from tokenstore import answerschema
from tokenstore.model import Answer, Group, LinkView
from tokenstore.types import RedemptionState

RECEIVED_REFRESH_S = 5
# Up to this many options an enum is a radio group (all visible at once), beyond it a select.
MAX_RADIO_OPTIONS = 5
# A string allowed to be longer than this is a textarea: a one-line box would hide most of it.
MAX_SINGLE_LINE_CHARS = 200


PAGES = "pages"


class TemplateDirError(ValueError):
    """The operator's template directory cannot be used; the message says why."""


def environment(
    template_dir: str | None = None,
    brand: Brand | None = None,
    translations: Translations | None = None,
) -> jinja2.Environment:
    """The pages' jinja environment: the operator's templates (by name) before the package's,
    the sender's name as ``brand``, and gettext bound to one language's catalog.

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
        extensions=["jinja2.ext.i18n"],
        # Templates are read once: checking each file's time stamp on every page cost two
        # stat calls a page; the operator's directory is checked at start, and a change to
        # it takes a restart, as any other setting does.
        auto_reload=False,
    )
    if translations is None:
        env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    else:
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
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


# One environment per language of an app (a server has one app; tests build a few): gettext
# is bound into its compiled templates, and the language carries the deployment's look.
@functools.lru_cache(maxsize=64)
def _environment(language: Language) -> jinja2.Environment:
    return environment(language.template_dir, language.brand, language.translations)


def language_of(request: web.Request, group: Group | None = None) -> Language:
    """The task's locale, the deployment's pin, the browser's Accept-Language, the default."""
    return request.app[LANGUAGES].choose(
        group.locale if group else None, request.headers.get("Accept-Language")
    )


def _html(language: Language, template: str, context: Mapping[str, Any]) -> str:
    return _environment(language).get_template(template).render(lang=language.tag, **context)


def _response(language: Language, html: str, status: int) -> web.Response:
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Language"] = language.tag
    # The language may follow the browser's: a cache must not hand a German page to others.
    response.headers["Vary"] = "Accept-Language"
    return response


def render(language: Language, template: str, status: int = 200, **context: Any) -> web.Response:
    return _response(language, _html(language, template, context), status)


def confirm_page(
    view: LinkView,
    language: Language,
    zone: ZoneInfo,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> web.Response:
    """The question, what it is about, and the form; after a refusal, what was typed is kept."""
    errors = errors or {}
    schema = view.link.input_schema
    fields = []
    if schema is not None:
        needed = answerschema.required(schema)
        fields = [
            _field(language, name, prop, name in needed, form, errors.get(name))
            for name, prop in answerschema.properties(schema).items()
        ]
    return render(
        language,
        "confirm.html",
        status=422 if errors else 200,
        notice=_uses_notice(view, language, zone),
        title=f"{view.link.label}?",
        label=view.link.label,
        description=view.group.description,
        details=[(d.label, language.show(d.value)) for d in view.group.details],
        expires=language.moment(view.group.expires_at, zone),
        recipient=masked_recipient(view.group.recipient),
        fields=fields,
        summary=_summary(language, fields, errors),
    )


def _field(
    language: Language,
    name: str,
    prop: Mapping[str, Any],
    required: bool,
    form: Mapping[str, str] | None,
    error: str | None,
) -> dict[str, Any]:
    kind = prop["type"]
    # A re-rendered form keeps what was typed; a fresh one starts from the schema's default.
    value = form.get(name) if form is not None else prop.get("default")
    field_id = f"f-{name}"
    help_id = f"h-{name}" if prop.get("description") else None
    error_id = f"e-{name}" if error else None
    return {
        "name": name,
        "id": field_id,
        "title": prop.get("title") or name,
        "widget": _widget(prop),
        "input_type": "number" if kind in ("integer", "number") else _text_type(prop),
        "step": "1" if kind == "integer" else ("any" if kind == "number" else None),
        "min": prop.get("minimum"),
        "max": prop.get("maximum"),
        "min_length": prop.get("minLength"),
        "max_length": prop.get("maxLength"),
        "options": _options(language, prop, value),
        "required": required,
        "checked": _checked(value),
        "value": "" if value is None or isinstance(value, bool) else str(value),
        "help": prop.get("description"),
        "help_id": help_id,
        "error": language.problem(error) if error else None,
        "error_id": error_id,
        "described_by": " ".join(i for i in (help_id, error_id) if i) or None,
    }


def _widget(prop: Mapping[str, Any]) -> str:
    if prop["type"] == "boolean":
        return "checkbox"
    if prop.get("enum"):
        return "radio" if len(prop["enum"]) <= MAX_RADIO_OPTIONS else "select"
    long_text = isinstance(prop.get("maxLength"), int) and prop["maxLength"] > MAX_SINGLE_LINE_CHARS
    if prop["type"] == "string" and (long_text or prop.get("format") == "textarea"):
        return "textarea"
    return "input"


def _text_type(prop: Mapping[str, Any]) -> str:
    # Only what the browser's own check agrees with ours; "uri" would refuse a bare host.
    return {"email": "email", "date": "date"}.get(str(prop.get("format")), "text")


def _options(language: Language, prop: Mapping[str, Any], value: Any) -> list[dict[str, Any]]:
    chosen = None if value is None else str(value)
    return [
        {"value": str(option), "label": language.show(option), "selected": str(option) == chosen}
        for option in prop.get("enum") or ()
    ]


def _checked(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value in ("on", "true", "1", "yes"))


def _summary(
    language: Language, fields: list[dict[str, Any]], errors: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Every problem once, at the top, each linking to its field (if the page has one)."""
    shown = {field["name"]: field for field in fields}
    items: list[dict[str, Any]] = [
        # A radio group's link goes to its first radio: a fieldset takes no focus.
        {
            "href": f"#{f['id']}-1" if f["widget"] == "radio" else f"#{f['id']}",
            "text": f"{f['title']}: {f['error']}",
        }
        for f in fields
        if f["error"]
    ]
    for name, error in errors.items():
        if name in shown:
            continue
        if name:
            text = language.gettext("This form has no field “%(name)s”.", name=name)
        else:
            text = language.problem(error)
        items.append({"href": None, "text": text})
    return items


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


def choice(answer: Answer, language: Language) -> str:
    """``“Other amount”: Amount 35``: the answer's label and what was typed in, with titles."""
    label = language.gettext("“%(label)s”", label=answer.label)
    declared = (answer.input_schema or {}).get("properties") or {}
    typed = [
        f"{(declared.get(name) or {}).get('title') or name} {language.show(value.value)}"
        for name, value in answer.typed_in().items()
    ]
    return f"{label}: {', '.join(typed)}" if typed else label


def _uses_notice(view: LinkView, language: Language, zone: ZoneInfo) -> str | None:
    """A link that takes more answers says the last one arrived, so nobody clicks twice."""
    link, answer = view.link, view.answer
    if not link.uses or answer is None or answer.link_id != link.id:
        return None
    left = link.max_uses - link.uses
    params = {
        "choice": choice(answer, language),
        "moment": language.moment(answer.answered_at, zone),
    }
    if answer.state is RedemptionState.UNDELIVERABLE and answer.refused:
        return language.gettext(
            "Your last answer (you chose %(choice)s on %(moment)s) could not be applied "
            "by the system handling it.",
            **params,
        )
    if answer.state is RedemptionState.UNDELIVERABLE:
        return language.gettext(
            "Your last answer (you chose %(choice)s on %(moment)s) came after the request "
            "had closed; it was not applied.",
            **params,
        )
    received = language.gettext("Received: you chose %(choice)s on %(moment)s.", **params)
    times = language.ngettext(
        "This link can be used once more.",
        "This link can be used %(num)s more times.",
        left,
    )
    return f"{received} {times}"


def outcome_page(
    status: Status, view: LinkView | None, language: Language, zone: ZoneInfo
) -> web.Response:
    if status is Status.INVALID and view is None:
        return invalid_page(language)
    heading, message = _outcome_text(status, view, language, zone)
    return render(
        language,
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


# Each status's heading and message; %(choice)s and %(moment)s are the answer's.
OUTCOME_TEXTS = {
    Status.RECEIVED: (
        N_("Received"),
        N_("You chose %(choice)s on %(moment)s. We are passing your answer on."),
    ),
    Status.RECORDED: (
        N_("Answer recorded"),
        N_("You chose %(choice)s on %(moment)s. Nothing more to do."),
    ),
    Status.UNDELIVERABLE: (
        N_("This request is no longer open"),
        N_(
            "You chose %(choice)s on %(moment)s, but the request had already closed, "
            "so it was not applied."
        ),
    ),
    Status.REFUSED: (
        N_("Your answer could not be applied"),
        N_(
            "You chose %(choice)s on %(moment)s, but the system handling the request refused "
            "it, so it was not applied. Please tell whoever sent you this link."
        ),
    ),
    Status.ANSWERED_ELSEWHERE: (
        N_("Already answered"),
        N_("%(choice)s was chosen on %(moment)s. This link can no longer be used."),
    ),
    Status.REVOKED: (
        N_("This link was withdrawn"),
        N_("The request it belonged to is no longer open."),
    ),
    Status.EXPIRED: (N_("This link has expired"), N_("It was valid until %(moment)s.")),
    Status.INVALID: (
        N_("This link is not valid"),
        N_(
            "Check that the whole link was copied. "
            "A link replaced by a newer message stops working."
        ),
    ),
}
NO_ANSWER_ELSEWHERE = N_("This link can no longer be used.")


def _outcome_text(
    status: Status, view: LinkView | None, language: Language, zone: ZoneInfo
) -> tuple[str, str]:
    heading, message = OUTCOME_TEXTS.get(status, ("", ""))
    if not heading:
        return "", ""
    answer = view.answer if view else None
    params = {"choice": "", "moment": ""}
    if answer is not None:
        params["choice"] = choice(answer, language)
        params["moment"] = language.moment(answer.answered_at, zone)
    elif status is Status.ANSWERED_ELSEWHERE:
        message = NO_ANSWER_ELSEWHERE
    if view is not None and status is Status.EXPIRED:
        params["moment"] = language.moment(view.group.expires_at, zone)
    return language.gettext(heading), language.gettext(message, **params)


def unavailable_page(language: Language) -> web.Response:
    return error_page(
        language,
        503,
        N_("Please try again in a minute"),
        N_(
            "We cannot take answers right now. If you already confirmed, opening the link "
            "again shows whether your answer was recorded."
        ),
    )


def error_page(language: Language, status: int, heading: str, message: str) -> web.Response:
    """A page of two messages (msgids), said in ``language``."""
    heading = language.gettext(heading)
    return render(
        language,
        "outcome.html",
        status=status,
        title=heading,
        heading=heading,
        message=language.gettext(message),
        description=None,
        refresh=None,
    )


@functools.cache
def _invalid_html(language: Language) -> str:
    heading, message = _outcome_text(Status.INVALID, None, language, ZoneInfo("UTC"))
    return _html(
        language,
        "outcome.html",
        {
            "title": heading,
            "heading": heading,
            "message": message,
            "description": None,
            "refresh": None,
            "contact_hint": True,
        },
    )


def invalid_page(language: Language) -> web.Response:
    """The page for a forged, garbled or unknown token, rendered once per language: guessing
    costs us no more than the HMAC check (a response object cannot be reused, its text can)."""
    return _response(language, _invalid_html(language), PAGE_STATUS[Status.INVALID])


def zone_of(request: web.Request, group: Group | None) -> ZoneInfo:
    languages: Languages = request.app[LANGUAGES]
    return languages.zone(group.time_zone if group else None)
