"""What a link's page says, from the link's state, its group's expiry and the group's answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from linkserver.presentation import Status, status_of
from linkserver.responses import PAGE_STATUS
from tests.support.builders import NOW, group, link
from tokenstore.model import Answer, LinkView
from tokenstore.types import LinkId, LinkState, RedemptionId, RedemptionState, RevokeReason

HOUR = dt.timedelta(hours=1)


def answer(refused: bool = False) -> Answer:
    return Answer(
        redemption_id=RedemptionId(uuid.uuid4()),
        link_id=LinkId(uuid.uuid4()),
        action="deny",
        label="Deny",
        answered_at=NOW - dt.timedelta(minutes=5),
        state=RedemptionState.UNDELIVERABLE if refused else RedemptionState.DELIVERED,
        variables={},
        refused=refused,
    )


def view(
    state: LinkState,
    *,
    expires_in: dt.timedelta = HOUR,
    reason: RevokeReason | None = None,
    with_answer: Answer | None = None,
) -> LinkView:
    revoked = dataclasses.replace(link(state), revoked_reason=reason.value if reason else None)
    return LinkView(revoked, group(expires_in), with_answer)


@pytest.mark.parametrize(
    ("link_view", "expected"),
    [
        (view(LinkState.ACTIVE), Status.OPEN),
        (view(LinkState.ACTIVE, expires_in=-HOUR), Status.EXPIRED),
        # Expiry counts from the group's deadline itself: at that moment it is over.
        (view(LinkState.ACTIVE, expires_in=dt.timedelta(0)), Status.EXPIRED),
        (view(LinkState.EXPIRED), Status.EXPIRED),
        (view(LinkState.PENDING, with_answer=answer()), Status.RECEIVED),
        # A state the link reached stays, whatever the clock says since.
        (view(LinkState.PENDING, expires_in=-HOUR, with_answer=answer()), Status.RECEIVED),
        (view(LinkState.REDEEMED, with_answer=answer()), Status.RECORDED),
        (view(LinkState.REDEEMED, expires_in=-HOUR, with_answer=answer()), Status.RECORDED),
        (view(LinkState.UNDELIVERABLE), Status.UNDELIVERABLE),
        (view(LinkState.UNDELIVERABLE, with_answer=answer()), Status.UNDELIVERABLE),
        (view(LinkState.UNDELIVERABLE, with_answer=answer(refused=True)), Status.REFUSED),
        (
            view(LinkState.REVOKED, reason=RevokeReason.SIBLING_USED, with_answer=answer()),
            Status.ANSWERED_ELSEWHERE,
        ),
        # Withdrawn because a sibling was used, but no answer to show: plainly withdrawn.
        (view(LinkState.REVOKED, reason=RevokeReason.SIBLING_USED), Status.REVOKED),
        (
            view(LinkState.REVOKED, reason=RevokeReason.REQUESTED, with_answer=answer()),
            Status.REVOKED,
        ),
        (view(LinkState.REVOKED, reason=RevokeReason.REQUESTED), Status.REVOKED),
        (view(LinkState.REVOKED, reason=RevokeReason.CLOSED), Status.REVOKED),
        (view(LinkState.REVOKED, reason=RevokeReason.OPERATOR), Status.REVOKED),
        (view(LinkState.REVOKED, expires_in=-HOUR), Status.REVOKED),
        (None, Status.INVALID),
    ],
)
def test_status_of(link_view: LinkView | None, expected: Status) -> None:
    assert status_of(link_view, NOW) is expected


def test_every_link_state_has_a_status() -> None:
    for state in LinkState:
        assert isinstance(status_of(view(state), NOW), Status)


def test_only_withdrawn_expired_and_unknown_links_are_errors() -> None:
    assert set(PAGE_STATUS) == set(Status)
    errors = {status: code for status, code in PAGE_STATUS.items() if code != 200}
    assert errors == {Status.REVOKED: 410, Status.EXPIRED: 410, Status.INVALID: 404}
