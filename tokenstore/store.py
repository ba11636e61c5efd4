"""Store operations, each a function over a connection inside the caller's transaction.

Lock order is always group before link, so a click, a revoke and the reaper never deadlock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tokenstore import decisions, tokens
from tokenstore.decisions import Accept, Decision
from tokenstore.errors import GroupAlreadyUsed
from tokenstore.inputs import CheckedInput
from tokenstore.model import (
    Answer,
    ClientInfo,
    Delivery,
    Group,
    IssuedGroup,
    IssueRequest,
    Link,
    LinkView,
)
from tokenstore.tables import audit_events, link_groups, links, redemptions
from tokenstore.types import (
    AuditAction,
    CorrelateBy,
    GroupId,
    LinkId,
    LinkState,
    ProcessInstanceId,
    RedemptionId,
    RedemptionState,
    RevokeReason,
    TokenHash,
    new_id,
)
from tokenstore.variables import from_json_map, to_json_map

# How long a just-recorded answer waits for the request that recorded it to make the first
# attempt, before the retry loop may claim it. Nothing has been sent yet, so it can be short.
INLINE_DELIVERY_LEASE = dt.timedelta(seconds=10)


@dataclass(frozen=True)
class _Event:
    action: AuditAction
    group_id: GroupId
    link_id: LinkId | None = None
    redemption_id: RedemptionId | None = None
    outcome: str | None = None
    detail: Mapping[str, Any] | None = None


async def _audit(
    conn: AsyncConnection,
    now: dt.datetime,
    events: Iterable[_Event],
    client: ClientInfo | None = None,
) -> None:
    rows = [
        {
            "at": now,
            "action": e.action.value,
            "group_id": e.group_id,
            "link_id": e.link_id,
            "redemption_id": e.redemption_id,
            "outcome": e.outcome,
            "client_ip_hash": client.ip_hash if client else None,
            "user_agent": client.user_agent[:400] if client and client.user_agent else None,
            "detail": dict(e.detail) if e.detail is not None else None,
        }
        for e in events
    ]
    if rows:
        await conn.execute(sa.insert(audit_events), rows)


# --- issue -------------------------------------------------------------------------------


async def issue_group(
    conn: AsyncConnection, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
) -> IssuedGroup:
    """Write a group of links for an external task, or mint fresh tokens for the one it has.

    A task delivered again (its lock ran out before ``complete``) never leaves two live sets:
    the old tokens were never handed out, since only ``complete`` publishes them, so they are
    replaced in place.
    """
    group_id = GroupId(new_id())
    expires_at = now + request.ttl
    inserted = await conn.execute(
        pg_insert(link_groups)
        .values(
            id=group_id,
            external_task_id=request.external_task_id,
            process_instance_id=request.process_instance_id,
            process_definition_key=request.process_definition_key,
            business_key=request.business_key,
            tenant_id=request.tenant_id,
            activity_id=request.activity_id,
            message_name=request.message_name,
            correlate_by=request.correlate_by.value,
            correlation_keys=to_json_map(request.correlation_keys),
            description=request.description,
            exclusive=request.exclusive,
            created_at=now,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["external_task_id"])
        .returning(link_groups.c.id)
    )
    if inserted.scalar_one_or_none() is None:
        return await _reissue(conn, request, keyring, now)
    minted = {spec.name: tokens.mint(keyring) for spec in request.actions}
    rows = [
        {
            "id": new_id(),
            "group_id": group_id,
            "action": spec.name,
            "label": spec.label,
            "position": position,
            "token_hash": minted[spec.name].token_hash,
            "variables": to_json_map(spec.variables),
            "input_schema": dict(spec.input_schema) if spec.input_schema is not None else None,
            "max_uses": spec.max_uses,
            "state": LinkState.ACTIVE.value,
            "changed_at": now,
        }
        for position, spec in enumerate(request.actions)
    ]
    await conn.execute(sa.insert(links), rows)
    detail = {"actions": [spec.name for spec in request.actions], "task": request.external_task_id}
    await _audit(conn, now, [_Event(AuditAction.ISSUED, group_id, detail=detail)])
    return IssuedGroup(group_id, expires_at, {k: v.token for k, v in minted.items()}, False)


async def _reissue(
    conn: AsyncConnection, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
) -> IssuedGroup:
    group_row = (
        (
            await conn.execute(
                sa.select(link_groups)
                .where(link_groups.c.external_task_id == request.external_task_id)
                .with_for_update()
            )
        )
        .mappings()
        .one()
    )
    group_id = GroupId(group_row["id"])
    link_rows = (
        await conn.execute(
            sa.select(links.c.id, links.c.action, links.c.uses)
            .where(links.c.group_id == group_id)
            .with_for_update()
        )
    ).all()
    if any(uses for _, _, uses in link_rows):
        # Someone used a link, so this task's links were handed out after all (by another
        # attempt that completed): replacing them would break links people hold.
        raise GroupAlreadyUsed(str(group_id))
    # The old tokens never left this database, so the set starts afresh: a task retried after
    # days in an incident must not hand out links that are already expired.
    expires_at = now + request.ttl
    await conn.execute(
        sa.update(link_groups).where(link_groups.c.id == group_id).values(expires_at=expires_at)
    )
    minted: dict[str, str] = {}
    for link_id, action, _ in link_rows:
        token = tokens.mint(keyring)
        minted[action] = token.token
        await conn.execute(
            sa.update(links)
            .where(links.c.id == link_id)
            .values(
                token_hash=token.token_hash,
                state=LinkState.ACTIVE.value,
                uses=0,
                revoked_reason=None,
                changed_at=now,
            )
        )
    await _audit(conn, now, [_Event(AuditAction.REISSUED, group_id)])
    return IssuedGroup(group_id, expires_at, minted, True)


# --- look up -----------------------------------------------------------------------------


async def _answer_for(conn: AsyncConnection, link: Link) -> Answer | None:
    """A used link shows its own latest answer (in a non-exclusive group its siblings may
    have answered differently); an unused one shows what the group answered, if anything."""
    where = links.c.id == link.id if link.uses else links.c.group_id == link.group_id
    row = (
        (
            await conn.execute(
                sa.select(redemptions, links.c.action, links.c.label)
                .join(links, links.c.id == redemptions.c.link_id)
                .where(where)
                .order_by(redemptions.c.answered_at.desc())
                .limit(1)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    return Answer(
        redemption_id=RedemptionId(row["id"]),
        link_id=LinkId(row["link_id"]),
        action=row["action"],
        label=row["label"],
        answered_at=row["answered_at"],
        state=RedemptionState(row["state"]),
        variables=from_json_map(row["variables"]),
        refused=row["state"] == RedemptionState.UNDELIVERABLE.value and row["refusals"] > 0,
    )


async def find_link(conn: AsyncConnection, token_hash: TokenHash) -> LinkView | None:
    """Read a link, its group and the group's answer, taking no locks and changing nothing."""
    row = (
        (
            await conn.execute(
                sa.select(links, *_group_columns())
                .join(link_groups, link_groups.c.id == links.c.group_id)
                .where(links.c.token_hash == token_hash)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    link, group = Link.from_row(row), Group.from_row(_group_part(row))
    return LinkView(link, group, await _answer_for(conn, link))


def _group_columns() -> list[sa.Label[Any]]:
    return [c.label(f"g_{c.name}") for c in link_groups.c]


def _group_part(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {c.name: row[f"g_{c.name}"] for c in link_groups.c}


# --- redeem ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedeemResult:
    decision: Decision
    view: LinkView
    delivery: Delivery | None  # set when an answer was recorded and must now be delivered


async def link_to_answer(conn: AsyncConnection, token_hash: TokenHash) -> Link | None:
    """Read a link, unlocked, for its schema: an answer is checked before anything is locked."""
    row = (
        (await conn.execute(sa.select(links).where(links.c.token_hash == token_hash)))
        .mappings()
        .one_or_none()
    )
    return None if row is None else Link.from_row(row)


async def redeem(
    conn: AsyncConnection,
    token_hash: TokenHash,
    checked: CheckedInput | None,
    now: dt.datetime,
    client: ClientInfo | None = None,
    delivery_lease: dt.timedelta = INLINE_DELIVERY_LEASE,
) -> RedeemResult | None:
    """Lock the link and its group, decide, and record the answer as pending delivery.

    ``checked`` is the answer as ``inputs.check`` typed it against the link's schema, before
    this transaction (None: no answer, for a link without a schema); nothing slow runs while
    the rows are locked. Returns None for a token that verifies but has no row (reaped, or
    never issued here). The caller commits, then delivers: the answer is durable before
    Camunda hears of it, so a crash in between loses nothing, and the redemption id lets a
    retry find out whether the first attempt arrived.
    """
    group_row = (
        (
            await conn.execute(
                sa.select(link_groups)
                .join(links, links.c.group_id == link_groups.c.id)
                .where(links.c.token_hash == token_hash)
                .with_for_update(of=link_groups)
            )
        )
        .mappings()
        .one_or_none()
    )
    if group_row is None:
        return None
    group = Group.from_row(group_row)
    link_row = (
        (
            await conn.execute(
                sa.select(links).where(links.c.token_hash == token_hash).with_for_update()
            )
        )
        .mappings()
        .one()
    )
    link = Link.from_row(link_row)
    decision = decisions.decide(
        link, group, checked if checked is not None else CheckedInput(), now
    )
    if not isinstance(decision, Accept):
        return RedeemResult(decision, LinkView(link, group, await _answer_for(conn, link)), None)
    delivery = await _record_answer(conn, group, link, decision, now, now + delivery_lease, client)
    state = LinkState.PENDING if decision.final_use else LinkState.ACTIVE
    answered = Answer(
        redemption_id=delivery.redemption_id,
        link_id=link.id,
        action=link.action,
        label=link.label,
        answered_at=now,
        state=RedemptionState.PENDING,
        variables=delivery.variables,
    )
    used = dataclasses.replace(link, uses=link.uses + 1, state=state, changed_at=now)
    return RedeemResult(decision, LinkView(used, group, answered), delivery)


async def _record_answer(
    conn: AsyncConnection,
    group: Group,
    link: Link,
    decision: Accept,
    now: dt.datetime,
    lease_until: dt.datetime,
    client: ClientInfo | None,
) -> Delivery:
    redemption_id = RedemptionId(new_id())
    # The model's bound variables win over anything typed in: the schema cannot name them.
    variables = {**decision.input, **link.variables}
    await conn.execute(
        sa.insert(redemptions).values(
            id=redemption_id,
            link_id=link.id,
            variables=to_json_map(variables),
            state=RedemptionState.PENDING.value,
            answered_at=now,
            next_attempt_at=lease_until,
        )
    )
    new_state = LinkState.PENDING if decision.final_use else LinkState.ACTIVE
    await conn.execute(
        sa.update(links)
        .where(links.c.id == link.id)
        .values(uses=links.c.uses + 1, state=new_state.value, changed_at=now)
    )
    events = [
        _Event(
            AuditAction.ANSWERED,
            group.id,
            link.id,
            redemption_id,
            outcome=link.action,
            detail={"input": to_json_map(decision.input)} if decision.input else None,
        )
    ]
    if decision.revoke_siblings:
        revoked = await conn.execute(
            sa.update(links)
            .where(
                links.c.group_id == group.id,
                links.c.id != link.id,
                links.c.state == LinkState.ACTIVE.value,
            )
            .values(
                state=LinkState.REVOKED.value,
                revoked_reason=RevokeReason.SIBLING_USED.value,
                changed_at=now,
            )
            .returning(links.c.id)
        )
        events += [
            _Event(AuditAction.REVOKED, group.id, LinkId(lid), outcome=RevokeReason.SIBLING_USED)
            for (lid,) in revoked
        ]
    await _audit(conn, now, events, client)
    return Delivery(
        redemption_id=redemption_id,
        link_id=link.id,
        group_id=group.id,
        message_name=group.message_name,
        correlate_by=group.correlate_by,
        process_instance_id=group.process_instance_id,
        business_key=group.business_key,
        tenant_id=group.tenant_id,
        correlation_keys=group.correlation_keys,
        variables=variables,
        answered_at=now,
        attempts=0,
    )


# --- delivery ----------------------------------------------------------------------------


def _delivery_query() -> sa.Select[Any]:
    return (
        sa.select(
            redemptions.c.id,
            redemptions.c.link_id,
            redemptions.c.variables,
            redemptions.c.answered_at,
            redemptions.c.attempts,
            redemptions.c.refusals,
            links.c.group_id,
            link_groups.c.message_name,
            link_groups.c.correlate_by,
            link_groups.c.process_instance_id,
            link_groups.c.business_key,
            link_groups.c.tenant_id,
            link_groups.c.correlation_keys,
        )
        .join(links, links.c.id == redemptions.c.link_id)
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .where(redemptions.c.state == RedemptionState.PENDING.value)
    )


def _delivery_from_row(row: Mapping[Any, Any]) -> Delivery:
    return Delivery(
        redemption_id=RedemptionId(row["id"]),
        link_id=LinkId(row["link_id"]),
        group_id=GroupId(row["group_id"]),
        message_name=row["message_name"],
        correlate_by=CorrelateBy(row["correlate_by"]),
        process_instance_id=ProcessInstanceId(row["process_instance_id"]),
        business_key=row["business_key"],
        tenant_id=row["tenant_id"],
        correlation_keys=from_json_map(row["correlation_keys"]),
        variables=from_json_map(row["variables"]),
        answered_at=row["answered_at"],
        attempts=row["attempts"],
        refusals=row["refusals"],
    )


async def _claim(
    conn: AsyncConnection, which: sa.Select[Any], now: dt.datetime, lease: dt.timedelta
) -> Delivery | None:
    claimed = (
        await conn.execute(
            sa.update(redemptions)
            .where(redemptions.c.id.in_(which))
            .values(attempts=redemptions.c.attempts + 1, next_attempt_at=now + lease)
            .returning(redemptions.c.id)
        )
    ).scalar_one_or_none()
    if claimed is None:
        return None
    row = (
        (await conn.execute(_delivery_query().where(redemptions.c.id == claimed))).mappings().one()
    )
    return _delivery_from_row(row)


async def claim_delivery(
    conn: AsyncConnection, redemption_id: RedemptionId, now: dt.datetime, lease: dt.timedelta
) -> Delivery | None:
    """Take a just-recorded answer for its first attempt; None once anyone has tried it.

    Claiming commits a lease before anything is sent: whatever becomes of the attempt (a
    crash, a cancel), nobody tries again until the engine has surely finished with it.
    """
    first = (
        sa.select(redemptions.c.id)
        .where(
            redemptions.c.id == redemption_id,
            redemptions.c.state == RedemptionState.PENDING.value,
            redemptions.c.attempts == 0,
        )
        .with_for_update(skip_locked=True)
    )
    return await _claim(conn, first, now, lease)


async def claim_due_delivery(
    conn: AsyncConnection, now: dt.datetime, lease: dt.timedelta
) -> Delivery | None:
    """Take the pending answer that is longest overdue, skipping those another process holds."""
    due = (
        sa.select(redemptions.c.id)
        .where(
            redemptions.c.state == RedemptionState.PENDING.value,
            redemptions.c.next_attempt_at <= now,
        )
        .order_by(redemptions.c.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return await _claim(conn, due, now, lease)


async def release_first_attempt(
    conn: AsyncConnection, redemption_id: RedemptionId, now: dt.datetime
) -> bool:
    """Hand a just-recorded answer to the retry loop at once: its first attempt never started.

    Only while nobody has claimed it (``attempts`` 0), so nothing was sent and the lease the
    use took for that first attempt protects nothing.
    """
    released = await conn.execute(
        sa.update(redemptions)
        .where(
            redemptions.c.id == redemption_id,
            redemptions.c.state == RedemptionState.PENDING.value,
            redemptions.c.attempts == 0,
        )
        .values(next_attempt_at=now)
        .returning(redemptions.c.id)
    )
    return released.scalar_one_or_none() is not None


async def count_pending(conn: AsyncConnection) -> tuple[int, dt.datetime | None]:
    """How many answers wait for delivery, and when the oldest of them was given."""
    result = await conn.execute(
        sa.select(sa.func.count(), sa.func.min(redemptions.c.answered_at)).where(
            redemptions.c.state == RedemptionState.PENDING.value
        )
    )
    count, oldest = result.one()
    return int(count), oldest


async def count_pending_with_error(conn: AsyncConnection, error: str) -> int:
    """Pending answers whose last attempt failed with exactly ``error`` (over all servers)."""
    result = await conn.execute(
        sa.select(sa.func.count()).where(
            redemptions.c.state == RedemptionState.PENDING.value,
            redemptions.c.last_error == error,
        )
    )
    return int(result.scalar_one())


def _this_attempt(delivery: Delivery) -> sa.ColumnElement[bool]:
    # Fencing: only the attempt that holds the claim may record its outcome.
    return sa.and_(
        redemptions.c.id == delivery.redemption_id,
        redemptions.c.state == RedemptionState.PENDING.value,
        redemptions.c.attempts == delivery.attempts,
    )


async def settle_delivered(conn: AsyncConnection, delivery: Delivery, now: dt.datetime) -> bool:
    return await _settle(conn, delivery, now, RedemptionState.DELIVERED, LinkState.REDEEMED, None)


async def settle_undeliverable(
    conn: AsyncConnection,
    delivery: Delivery,
    now: dt.datetime,
    reason: str,
    close_group: bool = False,
    refused: bool = False,
) -> bool:
    """Record that the process will never take this answer; with ``close_group`` (the
    history shows the instance has ended) its other links close too, since no answer could
    ever arrive. ``refused``: the engine refused this attempt too, and it counts."""
    settled = await _settle(
        conn,
        delivery,
        now,
        RedemptionState.UNDELIVERABLE,
        LinkState.UNDELIVERABLE,
        reason,
        refusals=delivery.refusals + 1 if refused else delivery.refusals,
    )
    if settled and close_group:
        closed = await conn.execute(
            sa.update(links)
            .where(links.c.group_id == delivery.group_id, links.c.state == LinkState.ACTIVE.value)
            .values(
                state=LinkState.REVOKED.value,
                revoked_reason=RevokeReason.CLOSED.value,
                changed_at=now,
            )
            .returning(links.c.id)
        )
        events = [
            _Event(AuditAction.REVOKED, delivery.group_id, LinkId(lid), outcome=RevokeReason.CLOSED)
            for (lid,) in closed
        ]
        await _audit(conn, now, events)
    return settled


async def _settle(
    conn: AsyncConnection,
    delivery: Delivery,
    now: dt.datetime,
    state: RedemptionState,
    link_state: LinkState,
    reason: str | None,
    refusals: int | None = None,
) -> bool:
    settled = await conn.execute(
        sa.update(redemptions)
        .where(_this_attempt(delivery))
        .values(
            state=state.value,
            settled_at=now,
            next_attempt_at=None,
            last_error=reason,
            refusals=delivery.refusals if refusals is None else refusals,
        )
        .returning(redemptions.c.id)
    )
    if settled.scalar_one_or_none() is None:
        return False  # another attempt took over after our lease ran out
    # Only the use that exhausted the link moved it to pending, stamping the link with its
    # own answered_at; only that use settles it, however late an earlier use settles.
    await conn.execute(
        sa.update(links)
        .where(
            links.c.id == delivery.link_id,
            links.c.state == LinkState.PENDING.value,
            links.c.changed_at == delivery.answered_at,
        )
        .values(state=link_state.value, changed_at=now)
    )
    action = (
        AuditAction.DELIVERED if state is RedemptionState.DELIVERED else AuditAction.UNDELIVERABLE
    )
    event = _Event(
        action,
        delivery.group_id,
        delivery.link_id,
        delivery.redemption_id,
        outcome=state.value,
        detail={"reason": reason, "attempts": delivery.attempts} if reason else None,
    )
    await _audit(conn, now, [event])
    return True


async def reschedule(
    conn: AsyncConnection,
    delivery: Delivery,
    next_attempt_at: dt.datetime,
    error: str,
    refused: bool = False,
) -> bool:
    """Try again at ``next_attempt_at``; ``refused`` counts this attempt as an engine refusal."""
    rescheduled = await conn.execute(
        sa.update(redemptions)
        .where(_this_attempt(delivery))
        .values(
            next_attempt_at=next_attempt_at,
            last_error=error[:1000],
            refusals=delivery.refusals + 1 if refused else delivery.refusals,
        )
        .returning(redemptions.c.id)
    )
    return rescheduled.scalar_one_or_none() is not None


# --- revoke, expire, reap ----------------------------------------------------------------


async def revoke(
    conn: AsyncConnection,
    process_instance_id: ProcessInstanceId,
    now: dt.datetime,
    group_id: GroupId | None = None,
    actions: Sequence[str] | None = None,
) -> int:
    """Revoke active links of a process instance (or one of its groups, or some actions)."""
    groups = sa.select(link_groups.c.id).where(
        link_groups.c.process_instance_id == process_instance_id
    )
    if group_id is not None:
        groups = groups.where(link_groups.c.id == group_id)
    group_ids = (
        (await conn.execute(groups.order_by(link_groups.c.id).with_for_update())).scalars().all()
    )
    if not group_ids:
        return 0
    update = sa.update(links).where(
        links.c.group_id.in_(group_ids), links.c.state == LinkState.ACTIVE.value
    )
    if actions:
        update = update.where(links.c.action.in_(list(actions)))
    revoked = (
        await conn.execute(
            update.values(
                state=LinkState.REVOKED.value,
                revoked_reason=RevokeReason.REQUESTED.value,
                changed_at=now,
            ).returning(links.c.id, links.c.group_id)
        )
    ).all()
    await _audit(
        conn,
        now,
        [
            _Event(AuditAction.REVOKED, GroupId(gid), LinkId(lid), outcome=RevokeReason.REQUESTED)
            for lid, gid in revoked
        ],
    )
    return len(revoked)


async def action_names(
    conn: AsyncConnection, process_instance_id: ProcessInstanceId, group_id: GroupId | None = None
) -> set[str]:
    """The action names the links of a process instance (or one of its groups) carry."""
    query = (
        sa.select(links.c.action)
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .where(link_groups.c.process_instance_id == process_instance_id)
    )
    if group_id is not None:
        query = query.where(link_groups.c.id == group_id)
    return set((await conn.execute(query)).scalars())


async def expire_due(conn: AsyncConnection, now: dt.datetime, batch_size: int) -> int:
    """Mark one small batch of active links past their expiry as expired."""
    due = (
        sa.select(links.c.id)
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .where(links.c.state == LinkState.ACTIVE.value, link_groups.c.expires_at <= now)
        .limit(batch_size)
        .with_for_update(of=links, skip_locked=True)
        .scalar_subquery()
    )
    expired = (
        await conn.execute(
            sa.update(links)
            .where(links.c.id.in_(due))
            .values(state=LinkState.EXPIRED.value, changed_at=now)
            .returning(links.c.id, links.c.group_id)
        )
    ).all()
    await _audit(
        conn, now, [_Event(AuditAction.EXPIRED, GroupId(gid), LinkId(lid)) for lid, gid in expired]
    )
    return len(expired)


async def reap_groups(
    conn: AsyncConnection, now: dt.datetime, retention: dt.timedelta, batch_size: int
) -> int:
    """Delete one small batch of groups long expired, keeping any with pending answers."""
    pending = (
        sa.select(redemptions.c.id)
        .join(links, links.c.id == redemptions.c.link_id)
        .where(
            links.c.group_id == link_groups.c.id,
            redemptions.c.state == RedemptionState.PENDING.value,
        )
    )
    due = (
        sa.select(link_groups.c.id)
        .where(link_groups.c.expires_at <= now - retention, ~sa.exists(pending))
        .limit(batch_size)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    deleted = (
        (
            await conn.execute(
                sa.delete(link_groups).where(link_groups.c.id.in_(due)).returning(link_groups.c.id)
            )
        )
        .scalars()
        .all()
    )
    await _audit(conn, now, [_Event(AuditAction.REAPED, GroupId(gid)) for gid in deleted])
    return len(deleted)
