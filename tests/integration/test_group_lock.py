"""A use locks only its group and reads the link in the same statement: a click that had to
wait for the group lock has read the link as it was before the wait, and must decide on the
link as the lock's holder left it."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.builders import issue_request
from tokenstore import answering, answerschema, issuing, revocation, tokens
from tokenstore.decisions import Accept, Refusal, Refuse
from tokenstore.model import ActionSpec, ClientInfo, IssuedGroup
from tokenstore.tables import audit_events, links, redemptions
from tokenstore.tokens import Keyring
from tokenstore.types import LinkState, ProcessInstanceId, TokenHash
from tokenstore.variables import TypedValue

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
WAIT_S = 10.0


async def issue(db: AsyncEngine, keyring: Keyring, max_uses: int = 1) -> IssuedGroup:
    actions = (
        ActionSpec("approve", "Approve", {"approved": TypedValue("Boolean", True)}, None, max_uses),
        ActionSpec("deny", "Deny", {"approved": TypedValue("Boolean", False)}),
    )
    async with db.begin() as conn:
        return await issuing.issue_group(
            conn, issue_request("task-1", "pi-1", actions=actions), keyring, NOW
        )


async def redeem(db: AsyncEngine, token_hash: TokenHash) -> answering.RedeemResult | None:
    async with db.begin() as conn:
        return await answering.redeem(
            conn, token_hash, answerschema.check(None, None), NOW, ClientInfo("ip", "ua")
        )


async def waiting_for_a_lock(db: AsyncEngine) -> None:
    """Until a backend waits for a row lock: the click has read the link and now waits."""
    async with asyncio.timeout(WAIT_S):
        while True:
            async with db.connect() as conn:
                waiting = (
                    await conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                        )
                    )
                ).scalar_one()
            if waiting:
                return
            await asyncio.sleep(0.02)


async def test_a_click_that_waited_for_the_group_sees_the_answer_given_meanwhile(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    approve = tokens.verify(keyring, issued.tokens["approve"])
    deny = tokens.verify(keyring, issued.tokens["deny"])
    async with db.connect() as holder:
        await holder.begin()
        first = await answering.redeem(holder, approve, answerschema.check(None, None), NOW)
        assert first is not None and isinstance(first.decision, Accept)
        same_link = asyncio.create_task(redeem(db, approve))
        sibling = asyncio.create_task(redeem(db, deny))
        await waiting_for_a_lock(db)
        await holder.commit()
    again, other = await same_link, await sibling
    # Both read their link active before the wait; both are refused on the link as it is now.
    assert again is not None and again.decision == Refuse(Refusal.ANSWERED)
    assert other is not None and other.decision == Refuse(Refusal.REVOKED)
    assert other.view.link.state is LinkState.REVOKED
    assert other.view.answer is not None and other.view.answer.action == "approve"
    async with db.connect() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(redemptions))
        assert count.scalar_one() == 1
        trail = (await conn.execute(sa.select(audit_events.c.action))).scalars().all()
    assert sorted(trail) == ["answered", "issued", "revoked"]


async def test_a_click_that_waited_for_a_revoke_is_refused(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    approve = tokens.verify(keyring, issued.tokens["approve"])
    async with db.connect() as holder:
        await holder.begin()
        assert await revocation.revoke(holder, ProcessInstanceId("pi-1"), NOW) == 2
        click = asyncio.create_task(redeem(db, approve))
        await waiting_for_a_lock(db)
        await holder.commit()
    result = await click
    assert result is not None and result.decision == Refuse(Refusal.REVOKED)
    async with db.connect() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(redemptions))
        assert count.scalar_one() == 0


@pytest.mark.parametrize("clicks", [2, 3])
async def test_uses_of_a_multi_use_link_that_waited_are_each_counted(
    db: AsyncEngine, keyring: Keyring, clicks: int
) -> None:
    issued = await issue(db, keyring, max_uses=3)
    approve = tokens.verify(keyring, issued.tokens["approve"])
    async with db.connect() as holder:
        await holder.begin()
        first = await answering.redeem(holder, approve, answerschema.check(None, None), NOW)
        assert first is not None and isinstance(first.decision, Accept)
        waiting = [asyncio.create_task(redeem(db, approve)) for _ in range(clicks - 1)]
        await waiting_for_a_lock(db)
        await holder.commit()
    results = [await w for w in waiting]
    # Each read uses = 0 before its wait; each must count the uses made meanwhile.
    assert all(r is not None and isinstance(r.decision, Accept) for r in results)
    async with db.connect() as conn:
        uses, state = (
            await conn.execute(
                sa.select(links.c.uses, links.c.state).where(links.c.action == "approve")
            )
        ).one()
    assert uses == clicks
    assert state == (LinkState.PENDING if clicks == 3 else LinkState.ACTIVE).value
