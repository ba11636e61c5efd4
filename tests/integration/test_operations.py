"""tokenstore.operations against real Postgres: the filters of ``links list``, finding a link
by token, revoking by link, and what ``answers retry`` changes."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.builders import issue_request
from tokenstore import answering, deliveries, issuing, operations, tokens
from tokenstore.model import ClientInfo, IssueRequest
from tokenstore.operations import LinkFilter, RetryOutcome
from tokenstore.tables import links, redemptions
from tokenstore.tokens import Keyring
from tokenstore.types import LinkState, RedemptionState

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def _request(task: str, instance: str, ttl_h: int, business_key: str | None = None) -> IssueRequest:
    return issue_request(task, instance, ttl=dt.timedelta(hours=ttl_h), business_key=business_key)


async def test_list_filters_find_by_token_and_revoke_one_link(
    db: AsyncEngine, keyring: Keyring
) -> None:
    async with db.begin() as conn:
        first = await issuing.issue_group(conn, _request("t1", "pi-1", 1, "order-7"), keyring, NOW)
        await issuing.issue_group(conn, _request("t2", "pi-2", 48), keyring, NOW)

    async def listed(**where: object) -> set[tuple[str, str]]:
        async with db.connect() as conn:
            rows = await operations.list_links(conn, LinkFilter(**where))  # type: ignore[arg-type]
        return {(r.process_instance_id, r.action) for r in rows}

    assert len(await listed()) == 4
    assert await listed(process_instance_id="pi-2") == {("pi-2", "yes"), ("pi-2", "no")}
    assert await listed(business_key="order-7") == {("pi-1", "yes"), ("pi-1", "no")}
    assert await listed(group_id=first.group_id) == {("pi-1", "yes"), ("pi-1", "no")}
    assert await listed(expiring_before=NOW + dt.timedelta(hours=2)) == {
        ("pi-1", "yes"),
        ("pi-1", "no"),
    }
    token = first.tokens["no"]
    async with db.connect() as conn:
        detail = await operations.show_link(conn, operations.link_key(f"https://x.test/l/{token}"))
    assert detail is not None and detail.link.action == "no"
    async with db.begin() as conn:
        revoked = await operations.revoke(conn, NOW, "mistake", link_id=detail.link.id)
    assert revoked == [detail.link.id]
    assert await listed(state=LinkState.REVOKED) == {("pi-1", "no")}
    assert await listed(state=LinkState.ACTIVE, process_instance_id="pi-1") == {("pi-1", "yes")}


@pytest.mark.parametrize("text", ["", "hello", "a.b", "k1.!!!.x", "not-a-uuid-or-token"])
def test_link_key_refuses_what_is_neither_id_nor_token(text: str) -> None:
    with pytest.raises(operations.NotALinkKey):
        operations.link_key(text)


def test_link_key_hashes_a_token_without_the_keys(keyring: Keyring) -> None:
    minted = tokens.mint(keyring)
    assert operations.link_key(minted.token) == minted.token_hash
    some_id = uuid.uuid4()
    assert operations.link_key(str(some_id)) == some_id


async def test_retry_makes_an_undeliverable_answer_due_and_keeps_its_attempts(
    db: AsyncEngine, keyring: Keyring
) -> None:
    async with db.begin() as conn:
        issued = await issuing.issue_group(conn, _request("t3", "pi-3", 1), keyring, NOW)
    token_hash = tokens.verify(keyring, issued.tokens["yes"])
    async with db.begin() as conn:
        result = await answering.redeem(conn, token_hash, None, NOW, ClientInfo())
    assert result is not None and result.delivery is not None
    async with db.begin() as conn:
        claimed = await deliveries.claim_delivery(
            conn, result.delivery.redemption_id, NOW, dt.timedelta(seconds=5)
        )
        assert claimed is not None
        assert await deliveries.settle_undeliverable(conn, claimed, NOW, "nothing waits")
    later = NOW + dt.timedelta(hours=1)
    async with db.begin() as conn:
        outcome = await operations.retry_answer(conn, claimed.redemption_id, later)
    assert outcome is RetryOutcome.RETRIED
    async with db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    redemptions.c.state, redemptions.c.attempts, redemptions.c.next_attempt_at
                ).where(redemptions.c.id == claimed.redemption_id)
            )
        ).one()
        link_state = (
            await conn.execute(sa.select(links.c.state).where(links.c.id == claimed.link_id))
        ).scalar_one()
    assert row == (RedemptionState.PENDING.value, 1, later)
    assert link_state == LinkState.PENDING.value
    # The next claim counts a second attempt: the link server asks the history first.
    async with db.begin() as conn:
        again = await deliveries.claim_due_delivery(conn, later, dt.timedelta(seconds=5))
    assert again is not None and again.attempts == 2
    async with db.begin() as conn:
        assert await deliveries.settle_delivered(conn, again, later)
        refused = await operations.retry_answer(conn, claimed.redemption_id, later)
        missing = await operations.retry_answer(conn, uuid.uuid4(), later)
    assert (refused, missing) == (RetryOutcome.DELIVERED, RetryOutcome.NOT_FOUND)


async def test_retry_leaves_a_pending_answer_that_is_due_soon_alone(
    db: AsyncEngine, keyring: Keyring
) -> None:
    async with db.begin() as conn:
        issued = await issuing.issue_group(conn, _request("t4", "pi-4", 1), keyring, NOW)
        result = await answering.redeem(
            conn, tokens.verify(keyring, issued.tokens["no"]), None, NOW, ClientInfo()
        )
    assert result is not None and result.delivery is not None
    answer = result.delivery.redemption_id
    async with db.begin() as conn:
        # Just recorded: its first attempt is (or may be) under way.
        assert await operations.retry_answer(conn, answer, NOW) is RetryOutcome.DUE_SOON
    stuck_at = NOW - operations.STUCK_AFTER - dt.timedelta(seconds=1)
    async with db.begin() as conn:
        assert await operations.retry_answer(conn, answer, stuck_at) is RetryOutcome.RETRIED
    async with db.connect() as conn:
        due = (
            await conn.execute(
                sa.select(redemptions.c.next_attempt_at).where(redemptions.c.id == answer)
            )
        ).scalar_one()
    assert due == stuck_at
