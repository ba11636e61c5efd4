"""Revoke the active links of a process instance, as a revoke-tokens task asks.

Groups are locked before links: the store's lock order, so no deadlock with a click.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from tokenstore import audit
from tokenstore.audit import AuditEvent
from tokenstore.db import Connection
from tokenstore.states import Event, link_sources, next_state, revoke_reason
from tokenstore.tables import link_groups, links
from tokenstore.types import AuditAction, GroupId, LinkId, ProcessInstanceId


async def revoke(
    conn: Connection,
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
    event = Event.REVOKE_REQUESTED
    (source,) = link_sources(event)
    reason = revoke_reason(event)
    update = sa.update(links).where(links.c.group_id.in_(group_ids), links.c.state == source.value)
    if actions:
        update = update.where(links.c.action.in_(list(actions)))
    revoked = (
        await conn.execute(
            update.values(
                state=next_state(source, event).value,
                revoked_reason=reason.value,
                changed_at=now,
            ).returning(links.c.id, links.c.group_id)
        )
    ).all()
    await audit.write(
        conn,
        now,
        [
            AuditEvent(AuditAction.REVOKED, GroupId(gid), LinkId(lid), outcome=reason)
            for lid, gid in revoked
        ],
    )
    return len(revoked)


async def action_names(
    conn: Connection, process_instance_id: ProcessInstanceId, group_id: GroupId | None = None
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
