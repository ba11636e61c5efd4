"""Issue a group of links for an external task, or mint fresh tokens for the one it has.

Lock order is always group before link, so a click, a revoke and the reaper never deadlock.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tokenstore import audit, tokens
from tokenstore.audit import AuditEvent
from tokenstore.db import Connection
from tokenstore.errors import GroupAlreadyUsed
from tokenstore.model import IssuedGroup, IssueRequest, details_to_json
from tokenstore.states import Event, link_sources, next_state
from tokenstore.tables import link_groups, links
from tokenstore.types import AuditAction, GroupId, LinkState, new_id
from tokenstore.variables import to_json_map

# A link is born active: nothing moved it yet.
NEW_LINK = LinkState.ACTIVE


async def issue_group(
    conn: Connection, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
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
            recipient=request.recipient,
            details=details_to_json(request.details),
            locale=request.locale,
            time_zone=request.time_zone,
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
            "state": NEW_LINK.value,
            "changed_at": now,
        }
        for position, spec in enumerate(request.actions)
    ]
    await conn.execute(sa.insert(links), rows)
    detail: dict[str, object] = {
        "actions": [spec.name for spec in request.actions],
        "task": request.external_task_id,
    }
    if request.recipient is not None:
        detail["recipient"] = request.recipient
    await audit.write(conn, now, [AuditEvent(AuditAction.ISSUED, group_id, detail=detail)])
    return IssuedGroup(group_id, expires_at, {k: v.token for k, v in minted.items()}, False)


async def _reissue(
    conn: Connection, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
) -> IssuedGroup:
    group_id = GroupId(
        (
            await conn.execute(
                sa.select(link_groups.c.id)
                .where(link_groups.c.external_task_id == request.external_task_id)
                .with_for_update()
            )
        ).scalar_one()
    )
    link_rows = (
        await conn.execute(
            sa.select(links.c.id, links.c.action, links.c.uses, links.c.state)
            .where(links.c.group_id == group_id)
            .with_for_update()
        )
    ).all()
    if any(uses for _, _, uses, _ in link_rows):
        # Someone used a link, so this task's links were handed out after all (by another
        # attempt that completed): replacing them would break links people hold.
        raise GroupAlreadyUsed(str(group_id))
    # The old tokens never left this database, so the set starts afresh: a task retried after
    # days in an incident must not hand out links that are already expired.
    expires_at = now + request.ttl
    await conn.execute(
        sa.update(link_groups)
        .where(link_groups.c.id == group_id)
        # A task retried after an incident may name its recipient, and what its request is
        # about, anew (the modeler fixed the expression that made the incident).
        .values(
            expires_at=expires_at,
            recipient=request.recipient,
            details=details_to_json(request.details),
            locale=request.locale,
            time_zone=request.time_zone,
        )
    )
    minted: dict[str, str] = {}
    for link_id, action, _, state in link_rows:
        token = tokens.mint(keyring)
        minted[action] = token.token
        await conn.execute(
            sa.update(links)
            .where(links.c.id == link_id, links.c.state.in_(link_sources(Event.REISSUED)))
            .values(
                token_hash=token.token_hash,
                state=next_state(LinkState(state), Event.REISSUED).value,
                uses=0,
                revoked_reason=None,
                changed_at=now,
            )
        )
    await audit.write(conn, now, [AuditEvent(AuditAction.REISSUED, group_id)])
    return IssuedGroup(group_id, expires_at, minted, True)
