"""The reaper's queries: expire links past their TTL, delete long-expired groups and old
audit events, one small batch per call (``reaper`` runs the loop)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tokenstore import audit
from tokenstore.audit import AuditEvent
from tokenstore.db import Connection
from tokenstore.states import ANSWER_RECORDED, Event, link_sources, next_state
from tokenstore.tables import audit_events, link_groups, links, redemptions
from tokenstore.types import AuditAction, GroupId, LinkId


async def expire_due(conn: Connection, now: dt.datetime, batch_size: int) -> int:
    """Mark one small batch of active links past their expiry as expired."""
    (source,) = link_sources(Event.EXPIRED)
    due = (
        sa.select(links.c.id)
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .where(links.c.state == source.value, link_groups.c.expires_at <= now)
        .limit(batch_size)
        .with_for_update(of=links, skip_locked=True)
        .scalar_subquery()
    )
    expired = (
        await conn.execute(
            sa.update(links)
            .where(links.c.id.in_(due))
            .values(state=next_state(source, Event.EXPIRED).value, changed_at=now)
            .returning(links.c.id, links.c.group_id)
        )
    ).all()
    await audit.write(
        conn,
        now,
        [AuditEvent(AuditAction.EXPIRED, GroupId(gid), LinkId(lid)) for lid, gid in expired],
    )
    return len(expired)


async def reap_groups(
    conn: Connection, now: dt.datetime, retention: dt.timedelta, batch_size: int
) -> int:
    """Delete one small batch of groups long expired, keeping any with pending answers."""
    pending = (
        sa.select(redemptions.c.id)
        .join(links, links.c.id == redemptions.c.link_id)
        .where(
            links.c.group_id == link_groups.c.id,
            redemptions.c.state == ANSWER_RECORDED.value,
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
    await audit.write(conn, now, [AuditEvent(AuditAction.REAPED, GroupId(gid)) for gid in deleted])
    return len(deleted)


async def delete_old_audit_events(conn: Connection, before: dt.datetime, batch_size: int) -> int:
    """Delete one small batch of audit events older than ``before``, oldest first."""
    due = (
        sa.select(audit_events.c.id)
        .where(audit_events.c.at < before)
        .order_by(audit_events.c.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    deleted = await conn.execute(
        sa.delete(audit_events).where(audit_events.c.id.in_(due)).returning(audit_events.c.id)
    )
    return len(deleted.all())
