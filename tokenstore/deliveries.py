"""Deliveries of recorded answers: claim one under a lease, settle or reschedule it.

The claim's attempt number fences the outcome: only the attempt that holds the claim may
record what became of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from tokenstore import audit
from tokenstore.audit import AuditEvent
from tokenstore.db import AnyConnection, Connection, one
from tokenstore.model import Delivery
from tokenstore.prepared import Prepared
from tokenstore.states import ANSWER_RECORDED, Event, answer_sources, link_sources, next_state
from tokenstore.states import revoke_reason as reason_of
from tokenstore.tables import audit_events, link_groups, links, redemptions
from tokenstore.types import AuditAction, LinkId, RedemptionId, RedemptionState


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
            link_groups.c.recipient,
        )
        .join(links, links.c.id == redemptions.c.link_id)
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .where(redemptions.c.state == ANSWER_RECORDED.value)
    )


async def _claim(
    conn: Connection, which: sa.Select[Any], now: dt.datetime, lease: dt.timedelta
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
    return await one(conn, _delivery_query().where(redemptions.c.id == claimed), Delivery.from_row)


async def claim_delivery(
    conn: Connection, redemption_id: RedemptionId, now: dt.datetime, lease: dt.timedelta
) -> Delivery | None:
    """Take a just-recorded answer for its first attempt; None once anyone has tried it.

    Claiming commits a lease before anything is sent: whatever becomes of the attempt (a
    crash, a cancel), nobody tries again until the engine has surely finished with it.
    """
    first = (
        sa.select(redemptions.c.id)
        .where(
            redemptions.c.id == redemption_id,
            redemptions.c.state == ANSWER_RECORDED.value,
            redemptions.c.attempts == 0,
        )
        .with_for_update(skip_locked=True)
    )
    return await _claim(conn, first, now, lease)


async def claim_due_delivery(
    conn: Connection, now: dt.datetime, lease: dt.timedelta
) -> Delivery | None:
    """Take the pending answer that is longest overdue, skipping those another process holds."""
    due = (
        sa.select(redemptions.c.id)
        .where(
            redemptions.c.state == ANSWER_RECORDED.value,
            redemptions.c.next_attempt_at <= now,
        )
        .order_by(redemptions.c.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return await _claim(conn, due, now, lease)


async def release_first_attempt(
    conn: Connection, redemption_id: RedemptionId, now: dt.datetime
) -> bool:
    """Hand a just-recorded answer to the retry loop at once: its first attempt never started.

    Only while nobody has claimed it (``attempts`` 0), so nothing was sent and the lease the
    use took for that first attempt protects nothing.
    """
    released = await conn.execute(
        sa.update(redemptions)
        .where(
            redemptions.c.id == redemption_id,
            redemptions.c.state == ANSWER_RECORDED.value,
            redemptions.c.attempts == 0,
        )
        .values(next_attempt_at=now)
        .returning(redemptions.c.id)
    )
    return released.scalar_one_or_none() is not None


async def hand_back_claimed_first_attempt(
    conn: Connection, redemption_id: RedemptionId, now: dt.datetime
) -> bool:
    """Undo the claim a use took for its own first attempt, which never started: the answer
    is due for the retry loop at once, as if never claimed (so no history look is needed).

    Only while that claim is the newest (``attempts`` 1): nothing was sent under it.
    """
    released = await conn.execute(
        sa.update(redemptions)
        .where(
            redemptions.c.id == redemption_id,
            redemptions.c.state == ANSWER_RECORDED.value,
            redemptions.c.attempts == 1,
        )
        .values(attempts=0, next_attempt_at=now)
        .returning(redemptions.c.id)
    )
    return released.scalar_one_or_none() is not None


async def count_pending(conn: Connection) -> tuple[int, dt.datetime | None]:
    """How many answers wait for delivery, and when the oldest of them was given."""
    result = await conn.execute(
        sa.select(sa.func.count(), sa.func.min(redemptions.c.answered_at)).where(
            redemptions.c.state == RedemptionState.PENDING.value
        )
    )
    count, oldest = result.one()
    return int(count), oldest


async def count_pending_with_error(conn: Connection, error: str) -> int:
    """Pending answers whose last attempt failed with exactly ``error`` (over all servers)."""
    result = await conn.execute(
        sa.select(sa.func.count()).where(
            redemptions.c.state == RedemptionState.PENDING.value,
            redemptions.c.last_error == error,
        )
    )
    return int(result.scalar_one())


async def settle_delivered(conn: AnyConnection, delivery: Delivery, now: dt.datetime) -> bool:
    return await settle(conn, delivery, now, Event.DELIVERED, None)


async def settle_undeliverable(
    conn: Connection,
    delivery: Delivery,
    now: dt.datetime,
    reason: str,
    close_group: bool = False,
    refused: bool = False,
) -> bool:
    """Record that the process will never take this answer; with ``close_group`` (the
    history shows the instance has ended) its other links close too, since no answer could
    ever arrive. ``refused``: the engine refused this attempt too, and it counts."""
    settled = await settle(
        conn,
        delivery,
        now,
        Event.UNDELIVERABLE,
        reason,
        refusals=delivery.refusals + 1 if refused else delivery.refusals,
    )
    if settled and close_group:
        event = Event.INSTANCE_CLOSED
        (source,) = link_sources(event)
        closed = await conn.execute(
            sa.update(links)
            .where(links.c.group_id == delivery.group_id, links.c.state == source.value)
            .values(
                state=next_state(source, event).value,
                revoked_reason=reason_of(event).value,
                changed_at=now,
            )
            .returning(links.c.id)
        )
        events = [
            AuditEvent(
                AuditAction.REVOKED, delivery.group_id, LinkId(lid), outcome=reason_of(event)
            )
            for (lid,) in closed
        ]
        await audit.write(conn, now, events)
    return settled


async def settle(
    conn: AnyConnection,
    delivery: Delivery,
    now: dt.datetime,
    event: Event,
    reason: str | None,
    refusals: int | None = None,
) -> bool:
    """Record the outcome ``event`` (delivered or undeliverable) of the attempt ``delivery``
    holds, in one statement (``_SETTLE``, built once); False when another attempt took over.

    The answer's row, its link and the audit row change together or not at all: the link
    and the audit entry follow only where the fenced update of the answer matched.
    """
    found = await _SETTLE[event].one_or_none(
        conn,
        {
            "p_redemption_id": delivery.redemption_id,
            "p_attempts": delivery.attempts,
            "p_now": now,
            "p_reason": reason,
            "p_refusals": delivery.refusals if refusals is None else refusals,
            "p_link_id": delivery.link_id,
            "p_answered_at": delivery.answered_at,
            "p_group_id": delivery.group_id,
            "p_detail": {"reason": reason, "attempts": delivery.attempts} if reason else None,
        },
    )
    return found is not None


def _param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    # Named apart from every column (p_…): SQLAlchemy would take an execution parameter
    # named like a column of an UPDATE as one more value to SET.
    return sa.bindparam(name, type_=column.type)


def _settle_statement(event: Event) -> sa.Select[Any]:
    (answer_from,) = answer_sources(event)
    (link_from,) = link_sources(event)
    state = next_state(answer_from, event)
    now = _param("p_now", redemptions.c.settled_at)
    settled = (
        sa.update(redemptions)
        # Fencing: only the attempt that holds the claim may record its outcome.
        .where(
            redemptions.c.id == _param("p_redemption_id", redemptions.c.id),
            redemptions.c.state == answer_from.value,  # its only source state
            redemptions.c.attempts == _param("p_attempts", redemptions.c.attempts),
        )
        .values(
            state=state.value,
            settled_at=now,
            next_attempt_at=None,
            last_error=_param("p_reason", redemptions.c.last_error),
            refusals=_param("p_refusals", redemptions.c.refusals),
        )
        .returning(redemptions.c.id)
        .cte("settled")
    )
    # Only the use that exhausted the link moved it to pending, stamping the link with its
    # own answered_at; only that use settles it, however late an earlier use settles.
    link_id = _param("p_link_id", links.c.id)
    moved = (
        sa.update(links)
        .where(
            links.c.id == link_id,
            links.c.state == link_from.value,
            links.c.changed_at == _param("p_answered_at", links.c.changed_at),
            sa.exists(sa.select(settled.c.id)),
        )
        .values(state=next_state(link_from, event).value, changed_at=now)
        .returning(links.c.id)
        .cte("moved")
    )
    action = AuditAction.DELIVERED if event is Event.DELIVERED else AuditAction.UNDELIVERABLE
    audited = (
        sa.insert(audit_events)
        .from_select(
            ["at", "action", "group_id", "link_id", "redemption_id", "outcome", "detail"],
            sa.select(
                now,
                sa.literal(action.value, sa.Text),
                _param("p_group_id", audit_events.c.group_id),
                link_id,
                settled.c.id,
                sa.literal(state.value, sa.Text),
                sa.bindparam("p_detail", type_=pg.JSONB(none_as_null=True)),
            ),
        )
        .returning(audit_events.c.id)
        .cte("audited")
    )
    return sa.select(settled.c.id).add_cte(moved, audited)


# Compiled once and prepared: building a statement per call costs more than its round trip,
# and SQLAlchemy's execute path about as much (see tokenstore.prepared).
_SETTLE = {
    event: Prepared(_settle_statement(event)) for event in (Event.DELIVERED, Event.UNDELIVERABLE)
}


async def reschedule(
    conn: AnyConnection,
    delivery: Delivery,
    next_attempt_at: dt.datetime,
    error: str,
    refused: bool = False,
) -> bool:
    """Try again at ``next_attempt_at``; ``refused`` counts this attempt as an engine refusal."""
    rescheduled = await _RESCHEDULE.one_or_none(
        conn,
        {
            "p_redemption_id": delivery.redemption_id,
            "p_attempts": delivery.attempts,
            "p_next_attempt_at": next_attempt_at,
            "p_last_error": error[:1000],
            "p_refusals": delivery.refusals + 1 if refused else delivery.refusals,
        },
    )
    return rescheduled is not None


# Built once and prepared, as _SETTLE: it runs outside a transaction, on the driver pool.
_RESCHEDULE = Prepared(
    sa.update(redemptions)
    .where(
        redemptions.c.id == _param("p_redemption_id", redemptions.c.id),
        redemptions.c.state == ANSWER_RECORDED.value,
        redemptions.c.attempts == _param("p_attempts", redemptions.c.attempts),
    )
    .values(
        next_attempt_at=_param("p_next_attempt_at", redemptions.c.next_attempt_at),
        last_error=_param("p_last_error", redemptions.c.last_error),
        refusals=_param("p_refusals", redemptions.c.refusals),
    )
    .returning(redemptions.c.id)
)
