"""Read a link, and use it: lock the link and its group, decide, record the answer.

Lock order is always group before link, so a click, a revoke and the reaper never deadlock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.selectable import LateralFromClause

from tokenstore import audit, decisions
from tokenstore.answerschema import CheckedInput
from tokenstore.audit import AuditEvent
from tokenstore.db import Connection, one, one_or_none
from tokenstore.decisions import Accept, Decision
from tokenstore.model import Answer, ClientInfo, Delivery, Group, Link, LinkView
from tokenstore.states import ANSWER_RECORDED, Event, link_sources, next_state, use_event
from tokenstore.states import revoke_reason as reason_of
from tokenstore.tables import link_groups, links, redemptions
from tokenstore.types import AuditAction, LinkId, RedemptionId, TokenHash, new_id
from tokenstore.variables import to_json_map

# How long a just-recorded answer waits for the request that recorded it to make the first
# attempt, before the retry loop may claim it. Nothing has been sent yet, so it can be short.
INLINE_DELIVERY_LEASE = dt.timedelta(seconds=10)


async def _answer_for(conn: Connection, link: Link) -> Answer | None:
    """A used link shows its own latest answer (in a non-exclusive group its siblings may
    have answered differently); an unused one shows what the group answered, if anything."""
    where = links.c.id == link.id if link.uses else links.c.group_id == link.group_id
    return await one_or_none(
        conn,
        sa.select(redemptions, links.c.action, links.c.label, links.c.input_schema)
        .join(links, links.c.id == redemptions.c.link_id)
        .where(where)
        .order_by(redemptions.c.answered_at.desc())
        .limit(1),
        Answer.from_row,
    )


async def find_link(conn: Connection, token_hash: TokenHash) -> LinkView | None:
    """Read a link, its group and the answer it shows (as ``_answer_for`` chooses it) in one
    statement, taking no locks and changing nothing."""
    row = (await conn.execute(_FIND_LINK, {"token_hash": token_hash})).mappings().one_or_none()
    return None if row is None else _view_from_row(row)


def _latest_answer() -> LateralFromClause:
    """``_answer_for`` as a lateral subquery of ``links``: the newest answer of the group
    while the link is unused, else the link's own newest answer."""
    answered = links.alias("answered")
    return (
        sa.select(redemptions, answered.c.action, answered.c.label, answered.c.input_schema)
        .join(answered, answered.c.id == redemptions.c.link_id)
        .where(
            answered.c.group_id == links.c.group_id,
            sa.or_(links.c.uses == 0, answered.c.id == links.c.id),
        )
        .order_by(redemptions.c.answered_at.desc())
        .limit(1)
        .lateral("answer")
    )


def _find_link_statement() -> sa.Select[Any]:
    answer = _latest_answer()
    return (
        sa.select(links, *_group_columns(), *[c.label(f"a_{c.name}") for c in answer.c])
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .outerjoin(answer, sa.true())
        .where(links.c.token_hash == sa.bindparam("token_hash", type_=links.c.token_hash.type))
    )


def _view_from_row(row: Mapping[Any, Any]) -> LinkView:
    answer = None
    if row["a_id"] is not None:
        answer = Answer.from_row({k[2:]: v for k, v in row.items() if k.startswith("a_")})
    return LinkView(Link.from_row(row), Group.from_row(_group_part(row)), answer)


def _group_columns() -> list[sa.Label[Any]]:
    return [c.label(f"g_{c.name}") for c in link_groups.c]


def _group_part(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {c.name: row[f"g_{c.name}"] for c in link_groups.c}


# Built once: building it per call (and SQLAlchemy's cache key for it) cost more than the
# round trip the single statement saves (measured: 0.6 ms a read prebuilt, 1.7 built per call).
_FIND_LINK = _find_link_statement()


@dataclass(frozen=True)
class RedeemResult:
    decision: Decision
    view: LinkView
    delivery: Delivery | None  # set when an answer was recorded and must now be delivered


async def link_to_answer(conn: Connection, token_hash: TokenHash) -> Link | None:
    """Read a link, unlocked, for its schema: an answer is checked before anything is locked."""
    return await one_or_none(
        conn, sa.select(links).where(links.c.token_hash == token_hash), Link.from_row
    )


async def redeem(
    conn: Connection,
    token_hash: TokenHash,
    checked: CheckedInput | None,
    now: dt.datetime,
    client: ClientInfo | None = None,
    delivery_lease: dt.timedelta = INLINE_DELIVERY_LEASE,
    claim: dt.timedelta | None = None,
) -> RedeemResult | None:
    """Lock the link and its group, decide, and record the answer as pending delivery.

    ``checked`` is the answer as ``answerschema.check`` typed it against the link's schema,
    before this transaction (None: no answer, for a link without a schema); nothing slow runs
    while the rows are locked. Returns None for a token that verifies but has no row (reaped,
    or never issued here). The caller commits, then delivers: the answer is durable before
    Camunda hears of it, so a crash in between loses nothing, and the redemption id lets a
    retry find out whether the first attempt arrived.

    With ``claim``, the request's own first delivery attempt is claimed here too (attempt 1,
    leased for ``claim``), saving a claim transaction; else the retry loop keeps off the
    answer for ``delivery_lease`` and the first attempt is claimed later. Either way, an
    answer whose server dies before delivering is retried when that lease ends.
    """
    group = await one_or_none(
        conn,
        sa.select(link_groups)
        .join(links, links.c.group_id == link_groups.c.id)
        .where(links.c.token_hash == token_hash)
        .with_for_update(of=link_groups),
        Group.from_row,
    )
    if group is None:
        return None
    link = await one(
        conn,
        sa.select(links).where(links.c.token_hash == token_hash).with_for_update(),
        Link.from_row,
    )
    decision = decisions.decide(
        link, group, checked if checked is not None else CheckedInput(), now
    )
    if not isinstance(decision, Accept):
        return RedeemResult(decision, LinkView(link, group, await _answer_for(conn, link)), None)
    lease = delivery_lease if claim is None else claim
    delivery = await _record_answer(
        conn, group, link, decision, now, now + lease, client, claimed=claim is not None
    )
    answered = Answer(
        redemption_id=delivery.redemption_id,
        link_id=link.id,
        action=link.action,
        label=link.label,
        answered_at=now,
        state=ANSWER_RECORDED,
        variables=delivery.variables,
        input_schema=link.input_schema,
    )
    used = dataclasses.replace(
        link,
        uses=link.uses + 1,
        state=next_state(link.state, use_event(decision.final_use)),
        changed_at=now,
    )
    return RedeemResult(decision, LinkView(used, group, answered), delivery)


async def _record_answer(
    conn: Connection,
    group: Group,
    link: Link,
    decision: Accept,
    now: dt.datetime,
    lease_until: dt.datetime,
    client: ClientInfo | None,
    claimed: bool = False,
) -> Delivery:
    redemption_id = RedemptionId(new_id())
    # The model's bound variables win over anything typed in: the schema cannot name them.
    variables = {**decision.input, **link.variables}
    await conn.execute(
        sa.insert(redemptions).values(
            id=redemption_id,
            link_id=link.id,
            variables=to_json_map(variables),
            state=ANSWER_RECORDED.value,
            answered_at=now,
            attempts=1 if claimed else 0,
            next_attempt_at=lease_until,
        )
    )
    await conn.execute(
        sa.update(links)
        .where(links.c.id == link.id)
        .values(
            uses=links.c.uses + 1,
            state=next_state(link.state, use_event(decision.final_use)).value,
            changed_at=now,
        )
    )
    events = [
        AuditEvent(
            AuditAction.ANSWERED,
            group.id,
            link.id,
            redemption_id,
            outcome=link.action,
            detail={"input": to_json_map(decision.input)} if decision.input else None,
        )
    ]
    if decision.revoke_siblings:
        events += await _revoke_siblings(conn, group, link, now)
    await audit.write(conn, now, events, client)
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
        attempts=1 if claimed else 0,
        recipient=group.recipient,
    )


async def _revoke_siblings(
    conn: Connection, group: Group, link: Link, now: dt.datetime
) -> list[AuditEvent]:
    event = Event.SIBLING_USED
    (source,) = link_sources(event)
    reason = reason_of(event)
    revoked = await conn.execute(
        sa.update(links)
        .where(
            links.c.group_id == group.id,
            links.c.id != link.id,
            links.c.state == source.value,
        )
        .values(state=next_state(source, event).value, revoked_reason=reason.value, changed_at=now)
        .returning(links.c.id)
    )
    return [
        AuditEvent(AuditAction.REVOKED, group.id, LinkId(lid), outcome=reason) for (lid,) in revoked
    ]
