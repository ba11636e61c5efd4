"""What a person (or a bot) is told about a link: a pure function of what the store holds."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time

from tokenstore.decisions import effective_state
from tokenstore.model import LinkView, details_to_json
from tokenstore.states import Event, revoked_by
from tokenstore.types import LinkState

UTC_ZONE = ZoneInfo("UTC")


class Status(enum.StrEnum):
    OPEN = "open"
    RECEIVED = "received"  # answer recorded, delivery under way
    RECORDED = "recorded"  # answer delivered to the process
    UNDELIVERABLE = "undeliverable"  # answer recorded, but the request had closed
    REFUSED = "refused"  # answer recorded, but the process engine could not apply it
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # another link of the group was used
    REVOKED = "revoked"  # withdrawn by the process
    EXPIRED = "expired"
    INVALID = "invalid"  # garbled, forged or unknown


def status_of(view: LinkView | None, now: dt.datetime) -> Status:
    if view is None:
        return Status.INVALID
    state = effective_state(view.link, view.group, now)
    if state is LinkState.REVOKED:
        sibling_used = revoked_by(view.link.revoked_reason) is Event.SIBLING_USED
        return Status.ANSWERED_ELSEWHERE if sibling_used and view.answer else Status.REVOKED
    if state is LinkState.UNDELIVERABLE and view.answer and view.answer.refused:
        return Status.REFUSED
    return {
        LinkState.ACTIVE: Status.OPEN,
        LinkState.PENDING: Status.RECEIVED,
        LinkState.REDEEMED: Status.RECORDED,
        LinkState.UNDELIVERABLE: Status.UNDELIVERABLE,
        LinkState.EXPIRED: Status.EXPIRED,
    }[state]


def format_moment(
    moment: dt.datetime, locale: Locale | str = "en", zone: ZoneInfo | None = None
) -> str:
    """``November 28, 2026 at 10:42 AM (UTC)``, ``28. November 2026 um 11:42 (Europe/Berlin)``:
    the reader's way of writing dates, and the zone always named, so nobody guesses."""
    zone = zone or UTC_ZONE
    local = moment.astimezone(zone)
    joined = Locale.parse(locale).datetime_formats["long"]
    pattern = str(getattr(joined, "pattern", joined)).replace("'", "")
    date = format_date(local, "long", locale=locale)
    time = format_time(local, "short", locale=locale)
    return f"{pattern.format(time, date)} ({zone.key})"


def describe(view: LinkView | None, now: dt.datetime) -> dict[str, Any]:
    """The JSON shape of a link for bots; also the context of the HTML pages."""
    status = status_of(view, now)
    if view is None:
        return {"status": status.value}
    answer = view.answer
    return {
        "status": status.value,
        "action": view.link.action,
        "label": view.link.label,
        "description": view.group.description,
        "expiresAt": view.group.expires_at.isoformat(),
        "details": details_to_json(view.group.details),
        "locale": view.group.locale,
        "timeZone": view.group.time_zone,
        "input": dict(view.link.input_schema) if view.link.input_schema else None,
        "usesLeft": max(view.link.max_uses - view.link.uses, 0) if status is Status.OPEN else 0,
        "answer": None
        if answer is None
        else {
            "action": answer.action,
            "label": answer.label,
            "answeredAt": answer.answered_at.isoformat(),
            "delivery": answer.state.value,
            # What the person typed into the form (bound variables are the model's, not theirs).
            "input": {name: typed.value for name, typed in answer.typed_in().items()},
        },
    }
