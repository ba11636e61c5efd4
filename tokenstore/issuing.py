"""Issue a group of links for an external task, or mint fresh tokens for the one it has.

Lock order is always group before link, so a click, a revoke and the reaper never deadlock.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tokenstore import audit, tokens
from tokenstore.audit import AuditEvent
from tokenstore.db import AnyConnection, Connection, Database
from tokenstore.errors import GroupAlreadyUsed, StoreUnavailable
from tokenstore.model import IssuedGroup, IssueRequest, details_to_json
from tokenstore.prepared import Prepared
from tokenstore.states import Event, link_sources, next_state
from tokenstore.tables import link_groups, links
from tokenstore.types import AuditAction, GroupId, LinkState, new_id
from tokenstore.variables import to_json_map

# A link is born active: nothing moved it yet.
NEW_LINK = LinkState.ACTIVE


async def issue(
    db: Database, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
) -> IssuedGroup:
    """``issue_group`` with the fewest round trips: a new group is one statement, atomic by
    itself, sent outside a transaction (no BEGIN and COMMIT around it); only a task whose
    group is there already takes a transaction, to mint its fresh tokens.

    A connection lost around that statement leaves unknown whether it was written; the
    transaction then finds out (a dead pooled connection is replaced at its BEGIN), and a
    group that was written gets fresh tokens: the first ones never left this process.
    """
    try:
        async with db.single_statement() as conn:
            issued = await _issue_new(conn, request, keyring, now)
    except StoreUnavailable as exc:
        if not exc.transient:
            raise
        issued = None
    if issued is not None:
        return issued
    async with db.transaction() as conn:
        return await issue_group(conn, request, keyring, now)


async def issue_group(
    conn: Connection, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
) -> IssuedGroup:
    """Write a group of links for an external task, or mint fresh tokens for the one it has.

    A task delivered again (its lock ran out before ``complete``) never leaves two live sets:
    the old tokens were never handed out, since only ``complete`` publishes them, so they are
    replaced in place.
    """
    issued = await _issue_new(conn, request, keyring, now)
    if issued is None:  # the task's group is there already: a task delivered again
        return await _reissue(conn, request, keyring, now)
    return issued


async def _issue_new(
    conn: AnyConnection, request: IssueRequest, keyring: tokens.Keyring, now: dt.datetime
) -> IssuedGroup | None:
    """The task's new group, or None (and nothing written) if it has one already."""
    group_id = GroupId(new_id())
    expires_at = now + request.ttl
    minted = {spec.name: tokens.mint(keyring) for spec in request.actions}
    detail: dict[str, object] = {
        "actions": [spec.name for spec in request.actions],
        "task": request.external_task_id,
    }
    if request.recipient is not None:
        detail["recipient"] = request.recipient
    actions = request.actions
    inserted = await _ISSUE.one_or_none(
        conn,
        {
            "id": group_id,
            "external_task_id": request.external_task_id,
            "process_instance_id": request.process_instance_id,
            "process_definition_key": request.process_definition_key,
            "business_key": request.business_key,
            "tenant_id": request.tenant_id,
            "activity_id": request.activity_id,
            "message_name": request.message_name,
            "correlate_by": request.correlate_by.value,
            "correlation_keys": to_json_map(request.correlation_keys),
            "description": request.description,
            "exclusive": request.exclusive,
            "recipient": request.recipient,
            "details": details_to_json(request.details),
            "locale": request.locale,
            "time_zone": request.time_zone,
            "created_at": now,
            "expires_at": expires_at,
            "link_ids": [new_id() for _ in actions],
            "actions": [spec.name for spec in actions],
            "labels": [spec.label for spec in actions],
            "positions": list(range(len(actions))),
            "token_hashes": [minted[spec.name].token_hash for spec in actions],
            "variables": [to_json_map(spec.variables) for spec in actions],
            # None is JSON null here, as the insert through SQLAlchemy wrote it before.
            "input_schemas": [
                None if spec.input_schema is None else dict(spec.input_schema) for spec in actions
            ],
            "max_uses": [spec.max_uses for spec in actions],
            "state": NEW_LINK.value,
            "audit_action": AuditAction.ISSUED.value,
            "detail": detail,
        },
    )
    if inserted is None:
        return None
    return IssuedGroup(group_id, expires_at, {k: v.token for k, v in minted.items()}, False)


# The group, its links and the audit row in one data-modifying statement (one round trip
# where the worker made three; a task's transaction waited on them most of its time). No
# row when the task has a group already (ON CONFLICT): nothing is written, and the caller
# mints fresh tokens for that group instead. The links come as one array per column.
_ISSUE = Prepared(
    """
    WITH grp AS (
        INSERT INTO link_groups (
            id, external_task_id, process_instance_id, process_definition_key,
            business_key, tenant_id, activity_id, message_name, correlate_by,
            correlation_keys, description, exclusive, recipient, details, locale, time_zone,
            created_at, expires_at
        )
        VALUES (
            %(id)s, %(external_task_id)s, %(process_instance_id)s,
            %(process_definition_key)s, %(business_key)s, %(tenant_id)s, %(activity_id)s,
            %(message_name)s, %(correlate_by)s, %(correlation_keys)s, %(description)s,
            %(exclusive)s, %(recipient)s, %(details)s, %(locale)s, %(time_zone)s,
            %(created_at)s, %(expires_at)s
        )
        ON CONFLICT (external_task_id) DO NOTHING
        RETURNING id
    ),
    new_links AS (
        INSERT INTO links (
            id, group_id, action, label, position, token_hash, variables, input_schema,
            max_uses, state, changed_at
        )
        SELECT l.id, grp.id, l.action, l.label, l.position, l.token_hash, l.variables,
               l.input_schema, l.max_uses, %(state)s, %(created_at)s
        FROM grp, unnest(
            %(link_ids)s::uuid[], %(actions)s::text[], %(labels)s::text[],
            %(positions)s::smallint[], %(token_hashes)s::bytea[], %(variables)s::jsonb[],
            %(input_schemas)s::json[], %(max_uses)s::integer[]
        ) AS l(id, action, label, position, token_hash, variables, input_schema, max_uses)
        RETURNING links.id
    ),
    audited AS (
        INSERT INTO audit_events (at, action, group_id, detail)
        SELECT %(created_at)s, %(audit_action)s, grp.id, %(detail)s FROM grp
        RETURNING audit_events.id
    )
    SELECT grp.id FROM grp
    """,
    json={
        "correlation_keys": "jsonb",
        "details": "jsonb",
        "detail": "jsonb",
        "variables": "jsonb[]",
        "input_schemas": "json[]",
    },
)


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
