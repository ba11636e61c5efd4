from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.support.builders import NOW, group, link
from tokenstore import answerschema
from tokenstore.decisions import (
    Accept,
    Decision,
    Recheck,
    Refusal,
    Refuse,
    RejectInput,
    decide,
    effective_state,
)
from tokenstore.model import Group, Link
from tokenstore.types import (
    LinkState,
)
from tokenstore.variables import TypedValue

AMOUNT_SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 500}},
    "required": ["amount"],
    "additionalProperties": False,
}


def decided(link: Link, group: Group, answer: dict[str, Any] | None, now: dt.datetime) -> Decision:
    """Check the answer as the link server does before locking, then decide."""
    return decide(link, group, answerschema.check(link.input_schema, answer), now)


STATE_REFUSALS = {
    LinkState.PENDING: Refusal.ANSWERED,
    LinkState.REDEEMED: Refusal.ANSWERED,
    LinkState.UNDELIVERABLE: Refusal.ANSWERED,
    LinkState.REVOKED: Refusal.REVOKED,
    LinkState.EXPIRED: Refusal.EXPIRED,
}


@pytest.mark.parametrize("state", list(LinkState))
@pytest.mark.parametrize("expired", [False, True])
@pytest.mark.parametrize("answer", [None, {"amount": 20}, {"amount": 9999}])
def test_every_state_expiry_and_input(
    state: LinkState, expired: bool, answer: dict[str, Any] | None
) -> None:
    g = group(expires_in=-dt.timedelta(seconds=1) if expired else dt.timedelta(hours=1))
    decision = decided(link(state, schema=AMOUNT_SCHEMA), g, answer, NOW)
    if state is not LinkState.ACTIVE:
        assert decision == Refuse(STATE_REFUSALS[state])
    elif expired:
        assert decision == Refuse(Refusal.EXPIRED)
    elif answer == {"amount": 20}:
        assert decision == Accept(
            input={"amount": TypedValue("Integer", 20)}, final_use=True, revoke_siblings=True
        )
    elif answer is None:
        assert decision == RejectInput({"amount": "please fill this in"})
    else:
        assert decision == RejectInput({"amount": "must be at most 500"})


def test_expiry_is_exclusive_of_the_instant() -> None:
    at_expiry = group(expires_in=dt.timedelta(0))
    assert decided(link(), at_expiry, None, NOW) == Refuse(Refusal.EXPIRED)
    assert effective_state(link(), at_expiry, NOW) is LinkState.EXPIRED
    assert effective_state(link(LinkState.REDEEMED), at_expiry, NOW) is LinkState.REDEEMED


def test_link_without_schema_accepts_no_input() -> None:
    assert isinstance(decided(link(), group(), None, NOW), Accept)
    assert isinstance(decided(link(), group(), {}, NOW), Accept)
    assert decided(link(), group(), {"amount": 3}, NOW) == RejectInput(
        {"": "this link takes no input"}
    )


def test_extra_fields_are_rejected_even_with_a_schema() -> None:
    decision = decided(link(schema=AMOUNT_SCHEMA), group(), {"amount": 5, "approved": False}, NOW)
    assert isinstance(decision, RejectInput)
    assert "unexpected" in "".join(decision.errors.values())


def test_multi_use_link_stays_open_until_its_last_use() -> None:
    first = decided(link(max_uses=3, uses=0), group(), None, NOW)
    last = decided(link(max_uses=3, uses=2), group(), None, NOW)
    assert first == Accept(input={}, final_use=False, revoke_siblings=True)
    assert last == Accept(input={}, final_use=True, revoke_siblings=False)


def test_non_exclusive_group_keeps_siblings() -> None:
    decision = decided(link(), group(exclusive=False), None, NOW)
    assert decision == Accept(input={}, final_use=True, revoke_siblings=False)


def test_an_answer_checked_against_another_schema_is_never_decided_on() -> None:
    checked_without_schema = answerschema.check(None, None)
    decision = decide(link(schema=AMOUNT_SCHEMA), group(), checked_without_schema, NOW)
    assert decision == Recheck(AMOUNT_SCHEMA)
