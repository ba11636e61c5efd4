from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.builders import issue_request
from tokenstore import answering, answerschema, deliveries, issuing, reaping, revocation, tokens
from tokenstore.db import Database
from tokenstore.decisions import Accept, Refusal, Refuse, RejectInput
from tokenstore.errors import GroupAlreadyUsed
from tokenstore.model import ActionSpec, ClientInfo, IssuedGroup, IssueRequest
from tokenstore.tables import audit_events, links, redemptions
from tokenstore.tokens import Keyring
from tokenstore.types import LinkState, ProcessInstanceId, RedemptionState
from tokenstore.variables import TypedValue

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
AMOUNT = {
    "type": "object",
    "properties": {"amount": {"type": "integer", "minimum": 1, "maximum": 500}},
    "required": ["amount"],
    "additionalProperties": False,
}


def request(task: str = "task-1", instance: str = "pi-1", **changes: Any) -> IssueRequest:
    changes.setdefault(
        "actions",
        (
            ActionSpec("approve", "Approve", {"approved": TypedValue("Boolean", True)}),
            ActionSpec("deny", "Deny", {"approved": TypedValue("Boolean", False)}),
            ActionSpec("other", "Other", {}, AMOUNT),
        ),
    )
    return issue_request(task, instance, **changes)


async def issue(db: AsyncEngine, keyring: Keyring, req: IssueRequest | None = None) -> IssuedGroup:
    async with db.begin() as conn:
        return await issuing.issue_group(conn, req or request(), keyring, NOW)


def h(keyring: Keyring, token: str) -> Any:
    return tokens.verify(keyring, token)


async def test_issue_stores_only_hashes(db: AsyncEngine, keyring: Keyring) -> None:
    issued = await issue(db, keyring)
    assert set(issued.tokens) == {"approve", "deny", "other"}
    assert issued.expires_at == NOW + dt.timedelta(hours=1)
    async with db.connect() as conn:
        dump = str(
            (
                await conn.execute(
                    sa.text("SELECT l.*, g.* FROM links l JOIN link_groups g ON g.id = l.group_id")
                )
            ).all()
        )
    for token in issued.tokens.values():
        assert token not in dump
        assert token.split(".")[1] not in dump


async def test_find_link_reads_without_changing(db: AsyncEngine, keyring: Keyring) -> None:
    issued = await issue(db, keyring)
    async with db.connect() as conn:
        view = await answering.find_link(conn, h(keyring, issued.tokens["approve"]))
        assert view is not None
        assert view.link.action == "approve"
        assert view.link.state is LinkState.ACTIVE
        assert view.group.message_name == "decision"
        assert view.answer is None
        unknown = await answering.find_link(conn, tokens.mint(keyring).token_hash)
    assert unknown is None


async def test_reissue_of_same_task_leaves_one_live_set(db: AsyncEngine, keyring: Keyring) -> None:
    first = await issue(db, keyring)
    second = await issue(db, keyring)
    assert second.reissued
    assert second.group_id == first.group_id
    async with db.connect() as conn:
        assert await answering.find_link(conn, h(keyring, first.tokens["approve"])) is None
        assert await answering.find_link(conn, h(keyring, second.tokens["approve"])) is not None
        count = (await conn.execute(sa.select(sa.func.count()).select_from(links))).scalar_one()
    assert count == 3


async def test_reissue_after_a_long_incident_starts_the_set_afresh(
    db: AsyncEngine, keyring: Keyring
) -> None:
    await issue(db, keyring)
    days_later = NOW + dt.timedelta(days=3)
    async with db.begin() as conn:
        assert await reaping.expire_due(conn, days_later, batch_size=10) == 3
        again = await issuing.issue_group(conn, request(), keyring, days_later)
    assert again.reissued and again.expires_at == days_later + dt.timedelta(hours=1)
    result = await redeem(db, keyring, again.tokens["approve"], now=days_later)
    assert isinstance(result.decision, Accept)


async def test_issue_outside_a_transaction_writes_what_the_transaction_did(
    database: Database, db: AsyncEngine, keyring: Keyring
) -> None:
    """``issuing.issue`` (the worker's): a new group in one statement with no transaction
    around it; the same task again mints fresh tokens for that group in a transaction."""
    first = await issuing.issue(database, request(), keyring, NOW)
    again = await issuing.issue(database, request(), keyring, NOW)
    assert not first.reissued and again.reissued and again.group_id == first.group_id
    assert set(again.tokens.values()).isdisjoint(first.tokens.values())
    async with db.connect() as conn:
        audited = (
            await conn.execute(
                sa.select(audit_events.c.action, audit_events.c.detail).order_by(audit_events.c.id)
            )
        ).all()
        stored = (
            await conn.execute(
                sa.text(
                    "SELECT action, position, input_schema::text, variables, state, uses "
                    "FROM links ORDER BY position"
                )
            )
        ).all()
    assert [a for a, _ in audited] == ["issued", "reissued"]
    assert audited[0][1] == {"actions": ["approve", "deny", "other"], "task": "task-1"}
    # As the insert through SQLAlchemy wrote them: no schema is JSON null, a schema keeps
    # its keys in the model's order (json, not jsonb).
    assert [(r[0], r[1], r[4], r[5]) for r in stored] == [
        ("approve", 0, "active", 0),
        ("deny", 1, "active", 0),
        ("other", 2, "active", 0),
    ]
    assert [r[2] for r in stored[:2]] == ["null", "null"]
    schema = json.loads(stored[2][2])
    assert schema == AMOUNT and list(schema) == list(AMOUNT)  # jsonb would sort the keys
    assert stored[0][3] == {"approved": {"type": "Boolean", "value": True}}


async def test_concurrent_issue_outside_a_transaction_makes_one_group(
    database: Database, db: AsyncEngine, keyring: Keyring
) -> None:
    results = await asyncio.gather(
        *(issuing.issue(database, request(), keyring, NOW) for _ in range(8))
    )
    assert len({r.group_id for r in results}) == 1
    assert sum(not r.reissued for r in results) == 1
    async with db.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(links))).scalar_one()
    assert count == 3


async def test_concurrent_issue_of_one_task_makes_one_group(
    db: AsyncEngine, keyring: Keyring
) -> None:
    results = await asyncio.gather(*(issue(db, keyring) for _ in range(8)))
    assert len({r.group_id for r in results}) == 1
    async with db.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(links))).scalar_one()
    assert count == 3


async def redeem(
    db: AsyncEngine, keyring: Keyring, token: str, answer: dict[str, Any] | None = None,
    now: dt.datetime = NOW,
) -> answering.RedeemResult:  # fmt: skip
    # As the link server does: read the link, check the answer unlocked, decide and record in
    # one statement outside a transaction; if refused, decide again under the group lock.
    client = ClientInfo("iphash", "ua")
    async with db.connect() as conn:
        read = await answering.read_to_use(conn, h(keyring, token))
    assert read is not None
    link, group = read
    checked = answerschema.check(link.input_schema, answer)
    async with db.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        result = await answering.redeem_as_read(conn, link, group, checked, now, client)
    if result is not None:
        return result
    async with db.begin() as conn:
        result = await answering.redeem(conn, h(keyring, token), checked, now, client)
    assert result is not None
    return result


async def test_redeem_records_answer_and_revokes_siblings(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    result = await redeem(db, keyring, issued.tokens["approve"])
    assert isinstance(result.decision, Accept)
    assert result.delivery is not None
    assert result.delivery.variables == {"approved": TypedValue("Boolean", True)}
    assert result.view.link.state is LinkState.PENDING
    assert result.view.answer is not None
    assert result.view.answer.action == "approve"
    again = await redeem(db, keyring, issued.tokens["deny"])
    assert again.decision == Refuse(Refusal.REVOKED)
    assert again.delivery is None
    assert again.view.answer is not None
    assert again.view.answer.label == "Approve"
    same = await redeem(db, keyring, issued.tokens["approve"])
    assert same.decision == Refuse(Refusal.ANSWERED)
    async with db.connect() as conn:
        actions = (
            await conn.execute(
                sa.select(audit_events.c.action, audit_events.c.client_ip_hash).order_by(
                    audit_events.c.id
                )
            )
        ).all()
    assert [a for a, _ in actions] == ["issued", "answered", "revoked", "revoked"]
    assert actions[1][1] == "iphash"


async def test_invalid_input_changes_nothing(db: AsyncEngine, keyring: Keyring) -> None:
    issued = await issue(db, keyring)
    result = await redeem(db, keyring, issued.tokens["other"], {"amount": 501})
    assert result.decision == RejectInput({"amount": "must be at most 500"})
    assert result.view.link.state is LinkState.ACTIVE
    assert result.view.link.uses == 0
    ok = await redeem(db, keyring, issued.tokens["other"], {"amount": 42})
    assert ok.delivery is not None
    assert ok.delivery.variables == {"amount": TypedValue("Integer", 42)}


async def test_expired_link_is_refused_before_the_reaper_runs(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    later = NOW + dt.timedelta(hours=1, seconds=1)
    result = await redeem(db, keyring, issued.tokens["approve"], now=later)
    assert result.decision == Refuse(Refusal.EXPIRED)
    assert result.view.link.state is LinkState.ACTIVE  # marked by the reaper, refused already


async def test_fifty_concurrent_redeemers_exactly_one_wins(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    clicks = [issued.tokens["approve"]] * 25 + [issued.tokens["deny"]] * 25
    results = await asyncio.gather(*(redeem(db, keyring, t) for t in clicks))
    winners = [r for r in results if isinstance(r.decision, Accept)]
    assert len(winners) == 1
    assert all(isinstance(r.decision, Refuse) for r in results if r not in winners)
    async with db.connect() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(redemptions))
        ).scalar_one()
    assert count == 1


LEASE = dt.timedelta(seconds=45)


async def test_claims_are_leased_counted_and_fenced(db: AsyncEngine, keyring: Keyring) -> None:
    issued = await issue(db, keyring)
    result = await redeem(db, keyring, issued.tokens["approve"])
    assert result.delivery is not None and result.delivery.attempts == 0
    rid = result.delivery.redemption_id
    async with db.begin() as conn:
        # The request that recorded it gets the first try; the retry loop waits.
        assert await deliveries.claim_due_delivery(conn, NOW, LEASE) is None
        first = await deliveries.claim_delivery(conn, rid, NOW, LEASE)
        assert first is not None and first.attempts == 1
        assert await deliveries.claim_delivery(conn, rid, NOW, LEASE) is None  # only once
    # The first attempt dies after sending (no outcome recorded): nobody may try again
    # until its lease is over, then the loop claims attempt 2.
    async with db.begin() as conn:
        assert (
            await deliveries.claim_due_delivery(conn, NOW + LEASE - dt.timedelta(seconds=1), LEASE)
            is None
        )
        second = await deliveries.claim_due_delivery(conn, NOW + LEASE, LEASE)
        assert second is not None and second.attempts == 2
    async with db.begin() as conn:
        # The late first attempt cannot overwrite what the newer one will decide.
        assert await deliveries.settle_delivered(conn, first, NOW) is False
        assert await deliveries.reschedule(conn, first, NOW, "late") is False
        assert await deliveries.settle_delivered(conn, second, NOW + LEASE) is True
        assert await deliveries.count_pending(conn) == (0, None)
        view = await answering.find_link(conn, h(keyring, issued.tokens["approve"]))
    assert view is not None
    assert view.link.state is LinkState.REDEEMED
    assert view.answer is not None
    assert view.answer.state is RedemptionState.DELIVERED
    async with db.connect() as conn:
        delivered = (
            await conn.execute(
                sa.select(sa.func.count()).where(audit_events.c.action == "delivered")
            )
        ).scalar_one()
    assert delivered == 1


async def test_two_claimers_never_share_an_answer(db: AsyncEngine, keyring: Keyring) -> None:
    issued = await issue(db, keyring)
    await redeem(db, keyring, issued.tokens["approve"])
    later = NOW + answering.INLINE_DELIVERY_LEASE

    async def claim() -> object:
        async with db.begin() as conn:
            return await deliveries.claim_due_delivery(conn, later, LEASE)

    claims = await asyncio.gather(*(claim() for _ in range(10)))
    assert sum(c is not None for c in claims) == 1


async def test_reschedule_then_undeliverable_closes_the_group(
    db: AsyncEngine, keyring: Keyring
) -> None:
    spec = ActionSpec("remind", "Remind me", max_uses=3)
    issued = await issue(db, keyring, request(actions=(*request().actions, spec), exclusive=False))
    recorded = (await redeem(db, keyring, issued.tokens["remind"])).delivery
    assert recorded is not None
    async with db.begin() as conn:
        first = await deliveries.claim_delivery(conn, recorded.redemption_id, NOW, LEASE)
        assert first is not None
        assert await deliveries.reschedule(
            conn, first, NOW + dt.timedelta(seconds=5), "engine down"
        )
    async with db.begin() as conn:
        due = await deliveries.claim_due_delivery(conn, NOW + dt.timedelta(seconds=5), LEASE)
        assert due is not None and due.attempts == 2
        assert await deliveries.settle_undeliverable(conn, due, NOW, "ended", close_group=True)
    async with db.connect() as conn:
        states = dict((await conn.execute(sa.select(links.c.action, links.c.state))).all())
    # No answer can reach an ended instance: every link of the group is closed.
    assert states == {
        "approve": "revoked",
        "deny": "revoked",
        "other": "revoked",
        "remind": "revoked",
    }


async def test_revoke_by_instance_group_and_action(db: AsyncEngine, keyring: Keyring) -> None:
    a = await issue(db, keyring, request("t-a", "pi-x"))
    b = await issue(db, keyring, request("t-b", "pi-x"))
    await issue(db, keyring, request("t-c", "pi-other"))
    async with db.begin() as conn:
        assert await revocation.revoke(conn, ProcessInstanceId("pi-x"), NOW, actions=["deny"]) == 2
        assert (
            await revocation.revoke(conn, ProcessInstanceId("pi-x"), NOW, group_id=a.group_id) == 2
        )
        assert await revocation.revoke(conn, ProcessInstanceId("pi-x"), NOW) == 2
        assert await revocation.revoke(conn, ProcessInstanceId("pi-x"), NOW) == 0
        assert await revocation.revoke(conn, ProcessInstanceId("nobody"), NOW) == 0
        view = await answering.find_link(conn, h(keyring, b.tokens["approve"]))
    assert view is not None
    assert view.link.state is LinkState.REVOKED


async def test_expire_and_reap_in_batches(db: AsyncEngine, keyring: Keyring) -> None:
    for i in range(5):
        await issue(db, keyring, request(f"t{i}", f"pi{i}"))
    answered = await issue(db, keyring, request("t-pending", "pi-pending"))
    await redeem(db, keyring, answered.tokens["approve"])
    later = NOW + dt.timedelta(hours=2)
    expired = []
    async with db.begin() as conn:
        while n := await reaping.expire_due(conn, later, batch_size=4):
            expired.append(n)
    assert sum(expired) == 5 * 3
    assert max(expired) <= 4
    much_later = NOW + dt.timedelta(days=40)
    async with db.begin() as conn:
        first = await reaping.reap_groups(conn, much_later, dt.timedelta(days=30), batch_size=3)
        second = await reaping.reap_groups(conn, much_later, dt.timedelta(days=30), batch_size=3)
        third = await reaping.reap_groups(conn, much_later, dt.timedelta(days=30), batch_size=3)
    # The group with a pending answer is kept until that answer is settled.
    assert (first, second, third) == (3, 2, 0)
    async with db.connect() as conn:
        left = (await conn.execute(sa.select(links.c.action))).scalars().all()
        reaped = (
            await conn.execute(sa.select(sa.func.count()).where(audit_events.c.action == "reaped"))
        ).scalar_one()
    assert sorted(left) == ["approve", "deny", "other"]
    assert reaped == 5


async def test_multi_use_link(db: AsyncEngine, keyring: Keyring) -> None:
    spec = ActionSpec("remind", "Remind me", {"remind": TypedValue("Boolean", True)}, max_uses=2)
    issued = await issue(db, keyring, request(actions=(spec,), exclusive=False))
    first = await redeem(db, keyring, issued.tokens["remind"])
    second = await redeem(db, keyring, issued.tokens["remind"])
    third = await redeem(db, keyring, issued.tokens["remind"])
    assert isinstance(first.decision, Accept)
    assert first.view.link.state is LinkState.ACTIVE
    assert isinstance(second.decision, Accept)
    assert second.view.link.state is LinkState.PENDING
    assert third.decision == Refuse(Refusal.ANSWERED)
    assert first.delivery
    assert second.delivery
    assert first.delivery.redemption_id != second.delivery.redemption_id


async def test_unknown_hash_redeems_nothing(db: AsyncEngine, keyring: Keyring) -> None:
    async with db.begin() as conn:
        assert await answering.redeem(conn, tokens.mint(keyring).token_hash, None, NOW) is None


async def test_reissue_never_replaces_links_already_in_use(
    db: AsyncEngine, keyring: Keyring
) -> None:
    issued = await issue(db, keyring)
    await redeem(db, keyring, issued.tokens["approve"])
    with pytest.raises(GroupAlreadyUsed):
        await issue(db, keyring)
    async with db.connect() as conn:
        view = await answering.find_link(conn, h(keyring, issued.tokens["approve"]))
    assert view is not None and view.link.state is LinkState.PENDING


async def test_an_early_use_settling_late_does_not_settle_the_last_use(
    db: AsyncEngine, keyring: Keyring
) -> None:
    spec = ActionSpec("remind", "Remind me", max_uses=2)
    issued = await issue(db, keyring, request(actions=(spec,), exclusive=False))
    first = (await redeem(db, keyring, issued.tokens["remind"])).delivery
    last = (
        await redeem(db, keyring, issued.tokens["remind"], now=NOW + dt.timedelta(seconds=1))
    ).delivery
    assert first is not None and last is not None
    async with db.begin() as conn:
        await deliveries.settle_undeliverable(conn, first, NOW, "too late")
        view = await answering.find_link(conn, h(keyring, issued.tokens["remind"]))
    assert view is not None and view.link.state is LinkState.PENDING  # the last use decides
    async with db.begin() as conn:
        await deliveries.settle_delivered(conn, last, NOW)
        view = await answering.find_link(conn, h(keyring, issued.tokens["remind"]))
    assert view is not None and view.link.state is LinkState.REDEEMED


async def test_the_final_use_settles_the_link_whatever_the_clocks_say(
    db: AsyncEngine, keyring: Keyring
) -> None:
    spec = ActionSpec("remind", "Remind me", max_uses=2)
    issued = await issue(db, keyring, request(actions=(spec,), exclusive=False))
    # A link server with a fast clock records the first use "after" the final one.
    fast = NOW + dt.timedelta(seconds=3)
    first = (await redeem(db, keyring, issued.tokens["remind"], now=fast)).delivery
    final = (await redeem(db, keyring, issued.tokens["remind"], now=NOW)).delivery
    assert first is not None and final is not None
    async with db.begin() as conn:
        claimed_first = await deliveries.claim_delivery(conn, first.redemption_id, fast, LEASE)
        claimed_final = await deliveries.claim_delivery(conn, final.redemption_id, NOW, LEASE)
        assert claimed_first is not None and claimed_final is not None
        assert await deliveries.settle_delivered(conn, claimed_first, fast)
        view = await answering.find_link(conn, h(keyring, issued.tokens["remind"]))
        assert view is not None and view.link.state is LinkState.PENDING
        assert await deliveries.settle_delivered(conn, claimed_final, fast)
        view = await answering.find_link(conn, h(keyring, issued.tokens["remind"]))
    assert view is not None and view.link.state is LinkState.REDEEMED
