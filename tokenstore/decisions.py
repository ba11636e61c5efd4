"""May this link be used now, and what happens to its siblings: pure rules, no I/O."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenstore import inputs
from tokenstore.errors import InvalidInput
from tokenstore.model import Group, Link
from tokenstore.types import LinkState
from tokenstore.variables import TypedValue


class Refusal(enum.StrEnum):
    EXPIRED = "expired"
    REVOKED = "revoked"
    ANSWERED = "answered"  # used already (pending, redeemed or undeliverable): show the answer


@dataclass(frozen=True)
class Accept:
    input: Mapping[str, TypedValue]
    final_use: bool
    revoke_siblings: bool


@dataclass(frozen=True)
class Refuse:
    reason: Refusal


@dataclass(frozen=True)
class RejectInput:
    errors: Mapping[str, str]


Decision = Accept | Refuse | RejectInput


def effective_state(link: Link, group: Group, now: dt.datetime) -> LinkState:
    """The state a person should see: an active link past its expiry is expired already."""
    if link.state is LinkState.ACTIVE and now >= group.expires_at:
        return LinkState.EXPIRED
    return link.state


def decide(
    link: Link, group: Group, answer: Mapping[str, Any] | None, now: dt.datetime
) -> Decision:
    state = effective_state(link, group, now)
    if state is LinkState.EXPIRED:
        return Refuse(Refusal.EXPIRED)
    if state is LinkState.REVOKED:
        return Refuse(Refusal.REVOKED)
    if state is not LinkState.ACTIVE:
        return Refuse(Refusal.ANSWERED)
    values: Mapping[str, TypedValue] = {}
    if link.input_schema is not None:
        try:
            values = inputs.validate(link.input_schema, answer or {})
        except InvalidInput as exc:
            return RejectInput(exc.errors)
    elif answer:
        return RejectInput({"": "this link takes no input"})
    return Accept(
        input=values,
        final_use=link.uses + 1 >= link.max_uses,
        revoke_siblings=group.exclusive and link.uses == 0,
    )
