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
from tokenstore.model import ActionSpec, ClientInfo, Group, IssuedGroup, Link
from tokenstore.tables import audit_events, link_groups, links, redemptions
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


async def answers(db: AsyncEngine) -> int:
    async with db.connect() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(redemptions))
        return int(count.scalar_one())


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
    assert await answers(db) == 1
    async with db.connect() as conn:
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
    assert await answers(db) == 0


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


# A click as the link server makes it: the link read unlocked, then decided and recorded in
# one statement outside a transaction (answering.redeem_as_read), which locks the group.


async def read(db: AsyncEngine, token_hash: TokenHash) -> tuple[Link, Group]:
    async with db.connect() as conn:
        found = await answering.read_to_use(conn, token_hash)
    assert found is not None
    return found


async def redeem_as_read(
    db: AsyncEngine, link: Link, group: Group
) -> answering.RedeemResult | None:
    async with db.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        return await answering.redeem_as_read(
            conn, link, group, answerschema.check(None, None), NOW, ClientInfo("ip", "ua")
        )


async def test_a_click_recorded_as_read_takes_the_group_before_its_link(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    approve = tokens.verify(keyring, issued.tokens["approve"])
    link, group = await read(db, approve)
    async with db.connect() as holder:
        await holder.begin()
        # As a revoke does: the group first, then its links.
        await holder.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        await holder.execute(
            sa.select(link_groups.c.id).where(link_groups.c.id == group.id).with_for_update()
        )
        click = asyncio.create_task(redeem_as_read(db, link, group))
        await waiting_for_a_lock(db)
        # Had the click locked its link before waiting for the group, this would deadlock
        # (or time out): it must wait on the group holding nothing.
        await holder.execute(
            sa.update(links)
            .where(links.c.id == link.id)
            .values(state=LinkState.REVOKED.value, revoked_reason="revoked")
        )
        await holder.commit()
    # The link as read is gone: nothing recorded, and the caller decides again under the lock.
    assert await click is None
    assert await answers(db) == 0
    again = await redeem(db, approve)
    assert again is not None and again.decision == Refuse(Refusal.REVOKED)


async def test_a_click_recorded_as_read_records_nothing_when_the_group_moved(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    link, group = await read(db, tokens.verify(keyring, issued.tokens["approve"]))
    async with db.begin() as conn:
        # What a reissue does to the group (it mints new tokens too, which the link's fence sees).
        await conn.execute(
            sa.update(link_groups)
            .where(link_groups.c.id == group.id)
            .values(expires_at=link_groups.c.expires_at + dt.timedelta(days=1))
        )
    assert await redeem_as_read(db, link, group) is None
    assert await answers(db) == 0
    link_now, group_now = await read(db, link.token_hash)
    result = await redeem_as_read(db, link_now, group_now)
    assert result is not None and isinstance(result.decision, Accept)
    assert await answers(db) == 1


async def test_two_clicks_of_a_multi_use_link_read_alike_record_one_answer_each(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring, max_uses=3)
    approve = tokens.verify(keyring, issued.tokens["approve"])
    first, second = await read(db, approve), await read(db, approve)
    assert first[0].uses == second[0].uses == 0
    recorded = await redeem_as_read(db, *first)
    assert recorded is not None and isinstance(recorded.decision, Accept)
    # The second read uses = 0 too: recorded as read it would count one use twice.
    assert await redeem_as_read(db, *second) is None
    again = await redeem(db, approve)
    assert again is not None and isinstance(again.decision, Accept)
    async with db.connect() as conn:
        uses = await conn.execute(sa.select(links.c.uses).where(links.c.id == first[0].id))
        assert uses.scalar_one() == 2
    assert await answers(db) == 2


async def test_a_refused_click_is_left_to_the_locked_decision(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    approve = tokens.verify(keyring, issued.tokens["approve"])
    assert await redeem(db, approve) is not None
    link, group = await read(db, approve)
    # Answered already: no statement records anything, and the locked decision shows the answer.
    assert await redeem_as_read(db, link, group) is None
    again = await redeem(db, approve)
    assert again is not None and again.decision == Refuse(Refusal.ANSWERED)
    assert again.view.answer is not None and again.view.answer.action == "approve"
    assert await answers(db) == 1
