"""The link and answer state machine: every (state, event) pair, allowed or not."""

from __future__ import annotations

import itertools

import pytest

from tokenstore.states import (
    ANSWER_TRANSITIONS,
    LINK_TRANSITIONS,
    Event,
    TransitionNotAllowed,
    answer_sources,
    link_sources,
    moves,
    next_state,
    revoke_reason,
    revoked_by,
)
from tokenstore.types import LinkState, RedemptionState, RevokeReason

LINK_PAIRS = list(itertools.product(LinkState, Event))
ANSWER_PAIRS = list(itertools.product(RedemptionState, Event))


@pytest.mark.parametrize(("state", "event"), LINK_PAIRS)
def test_every_link_pair_moves_as_the_table_says_or_raises(state: LinkState, event: Event) -> None:
    if (state, event) in LINK_TRANSITIONS:
        assert moves(state, event)
        assert next_state(state, event) is LINK_TRANSITIONS[state, event]
        assert state in link_sources(event)
    else:
        assert not moves(state, event)
        assert state not in link_sources(event)
        with pytest.raises(TransitionNotAllowed):
            next_state(state, event)


@pytest.mark.parametrize(("state", "event"), ANSWER_PAIRS)
def test_every_answer_pair_moves_as_the_table_says_or_raises(
    state: RedemptionState, event: Event
) -> None:
    if (state, event) in ANSWER_TRANSITIONS:
        assert moves(state, event)
        assert next_state(state, event) is ANSWER_TRANSITIONS[state, event]
        assert state in answer_sources(event)
    else:
        assert not moves(state, event)
        assert state not in answer_sources(event)
        with pytest.raises(TransitionNotAllowed):
            next_state(state, event)


def test_the_table_holds_the_product_rules() -> None:
    assert next_state(LinkState.ACTIVE, Event.ANSWERED) is LinkState.ACTIVE
    assert next_state(LinkState.ACTIVE, Event.FINAL_USE_ANSWERED) is LinkState.PENDING
    assert next_state(LinkState.PENDING, Event.DELIVERED) is LinkState.REDEEMED
    assert next_state(LinkState.PENDING, Event.UNDELIVERABLE) is LinkState.UNDELIVERABLE
    assert next_state(LinkState.ACTIVE, Event.EXPIRED) is LinkState.EXPIRED
    assert next_state(LinkState.UNDELIVERABLE, Event.RETRY_REQUESTED) is LinkState.PENDING
    assert next_state(RedemptionState.PENDING, Event.DELIVERED) is RedemptionState.DELIVERED
    assert next_state(RedemptionState.UNDELIVERABLE, Event.RETRY_REQUESTED) is (
        RedemptionState.PENDING
    )
    # Settled answers and used links stay as they are.
    assert link_sources(Event.EXPIRED) == (LinkState.ACTIVE,)
    assert answer_sources(Event.DELIVERED) == (RedemptionState.PENDING,)
    with pytest.raises(TransitionNotAllowed, match="'redeemed' does not move on 'expired'"):
        next_state(LinkState.REDEEMED, Event.EXPIRED)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (Event.SIBLING_USED, RevokeReason.SIBLING_USED),
        (Event.REVOKE_REQUESTED, RevokeReason.REQUESTED),
        (Event.INSTANCE_CLOSED, RevokeReason.CLOSED),
        (Event.OPERATOR_REVOKED, RevokeReason.OPERATOR),
    ],
)
def test_each_revoking_event_stamps_its_reason(event: Event, reason: RevokeReason) -> None:
    assert next_state(LinkState.ACTIVE, event) is LinkState.REVOKED
    assert revoke_reason(event) is reason
    assert revoked_by(reason.value) is event


def test_a_link_never_revoked_has_no_revoking_event() -> None:
    assert revoked_by(None) is None
