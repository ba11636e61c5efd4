"""May this link be used now, and what happens to its siblings: pure rules, no I/O."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenstore.answerschema import CheckedInput
from tokenstore.model import Group, Link
from tokenstore.states import Event, moves, next_state
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


@dataclass(frozen=True)
class Recheck:
    """The answer was checked against another schema than the link's: nothing is decided;
    check it against this schema, unlocked, and try again. The link server checks against
    the schema of the link it read, and a link's schema never changes, so it never sees
    this; a caller that checks before reading might."""

    schema: Mapping[str, Any] | None


Decision = Accept | Refuse | RejectInput | Recheck


def effective_state(link: Link, group: Group, now: dt.datetime) -> LinkState:
    """The state a person should see: an active link past its expiry is expired already."""
    if moves(link.state, Event.EXPIRED) and now >= group.expires_at:
        return next_state(link.state, Event.EXPIRED)
    return link.state


def decide(link: Link, group: Group, checked: CheckedInput, now: dt.datetime) -> Decision:
    """Decide on the locked link with an answer already checked against its schema.

    The answer was checked before the rows were locked (no validation runs under a lock);
    a link's schema never changes once issued, so the check still holds. An answer checked
    against another schema is never decided on: ``Recheck`` asks for the check again.
    """
    if checked.schema != link.input_schema:
        return Recheck(link.input_schema)
    state = effective_state(link, group, now)
    if state is LinkState.EXPIRED:
        return Refuse(Refusal.EXPIRED)
    if state is LinkState.REVOKED:
        return Refuse(Refusal.REVOKED)
    if state is not LinkState.ACTIVE:
        return Refuse(Refusal.ANSWERED)
    if checked.errors is not None:
        return RejectInput(checked.errors)
    return Accept(
        input=checked.values,
        final_use=link.uses + 1 >= link.max_uses,
        revoke_siblings=group.exclusive and link.uses == 0,
    )
