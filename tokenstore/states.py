"""The one table of how links and answers change state, and what moves them.

The store's updates (the state they require, the state they set), the view a use returns
and the pages' reading of a link all derive from these tables; a unit test walks every pair.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import overload

from tokenstore.types import LinkState, RedemptionState, RevokeReason


class Event(enum.StrEnum):
    ANSWERED = "answered"  # a use that leaves the link uses over
    FINAL_USE_ANSWERED = "final_use_answered"  # the use that exhausts the link
    DELIVERED = "delivered"  # the engine took the answer
    UNDELIVERABLE = "undeliverable"  # the process will never take the answer
    SIBLING_USED = "sibling_used"  # another link of an exclusive group was used
    REVOKE_REQUESTED = "revoke_requested"  # a revoke-tokens task
    INSTANCE_CLOSED = "instance_closed"  # the process instance ended
    OPERATOR_REVOKED = "operator_revoked"  # ``action-links links revoke``
    EXPIRED = "expired"  # the group's expiry passed
    REISSUED = "reissued"  # the task was delivered again before any link was used
    RETRY_REQUESTED = "retry_requested"  # an operator made an answer due again


_REVOKED_BY: Mapping[Event, RevokeReason] = {
    Event.SIBLING_USED: RevokeReason.SIBLING_USED,
    Event.REVOKE_REQUESTED: RevokeReason.REQUESTED,
    Event.INSTANCE_CLOSED: RevokeReason.CLOSED,
    Event.OPERATOR_REVOKED: RevokeReason.OPERATOR,
}

LINK_TRANSITIONS: Mapping[tuple[LinkState, Event], LinkState] = {
    (LinkState.ACTIVE, Event.ANSWERED): LinkState.ACTIVE,
    (LinkState.ACTIVE, Event.FINAL_USE_ANSWERED): LinkState.PENDING,
    (LinkState.PENDING, Event.DELIVERED): LinkState.REDEEMED,
    (LinkState.PENDING, Event.UNDELIVERABLE): LinkState.UNDELIVERABLE,
    **{(LinkState.ACTIVE, event): LinkState.REVOKED for event in _REVOKED_BY},
    (LinkState.ACTIVE, Event.EXPIRED): LinkState.EXPIRED,
    # Only a set nobody used is reissued, so only states a link reaches unused.
    (LinkState.ACTIVE, Event.REISSUED): LinkState.ACTIVE,
    (LinkState.REVOKED, Event.REISSUED): LinkState.ACTIVE,
    (LinkState.EXPIRED, Event.REISSUED): LinkState.ACTIVE,
    (LinkState.UNDELIVERABLE, Event.RETRY_REQUESTED): LinkState.PENDING,
}

# An answer is born pending (recorded, delivery under way).
ANSWER_RECORDED = RedemptionState.PENDING

ANSWER_TRANSITIONS: Mapping[tuple[RedemptionState, Event], RedemptionState] = {
    (RedemptionState.PENDING, Event.DELIVERED): RedemptionState.DELIVERED,
    (RedemptionState.PENDING, Event.UNDELIVERABLE): RedemptionState.UNDELIVERABLE,
    # A stuck pending answer is made due again, as is an undeliverable one.
    (RedemptionState.PENDING, Event.RETRY_REQUESTED): RedemptionState.PENDING,
    (RedemptionState.UNDELIVERABLE, Event.RETRY_REQUESTED): RedemptionState.PENDING,
}


class TransitionNotAllowed(ValueError):
    def __init__(self, state: LinkState | RedemptionState, event: Event) -> None:
        self.state = state
        self.event = event
        super().__init__(f"{type(state).__name__} {state.value!r} does not move on {event.value!r}")


@overload
def next_state(state: LinkState, event: Event) -> LinkState: ...
@overload
def next_state(state: RedemptionState, event: Event) -> RedemptionState: ...
def next_state(state: LinkState | RedemptionState, event: Event) -> LinkState | RedemptionState:
    """The state ``event`` moves ``state`` to; raises ``TransitionNotAllowed`` if it may not."""
    try:
        if isinstance(state, LinkState):
            return LINK_TRANSITIONS[state, event]
        return ANSWER_TRANSITIONS[state, event]
    except KeyError:
        raise TransitionNotAllowed(state, event) from None


def link_sources(event: Event) -> tuple[LinkState, ...]:
    """The link states ``event`` may move, in the enum's order."""
    return tuple(s for s in LinkState if (s, event) in LINK_TRANSITIONS)


def answer_sources(event: Event) -> tuple[RedemptionState, ...]:
    """The answer states ``event`` may move, in the enum's order."""
    return tuple(s for s in RedemptionState if (s, event) in ANSWER_TRANSITIONS)


def moves(state: LinkState | RedemptionState, event: Event) -> bool:
    """Whether ``event`` may move ``state`` at all."""
    if isinstance(state, LinkState):
        return (state, event) in LINK_TRANSITIONS
    return (state, event) in ANSWER_TRANSITIONS


def use_event(final_use: bool) -> Event:
    return Event.FINAL_USE_ANSWERED if final_use else Event.ANSWERED


def revoke_reason(event: Event) -> RevokeReason:
    """The reason a revoking event stamps on the link."""
    return _REVOKED_BY[event]


def revoked_by(reason: str | None) -> Event | None:
    """The event that revoked a link, from the reason stamped on it."""
    return next((e for e, r in _REVOKED_BY.items() if r.value == reason), None)
