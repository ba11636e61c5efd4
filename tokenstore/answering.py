"""Read a link, and use it: lock its group, decide, record the answer.

A use locks only the group row (every writer that waits takes the group before any link),
so a click, a revoke and the reaper never deadlock; see ``redeem``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.sql.selectable import LateralFromClause

from tokenstore import decisions
from tokenstore.answerschema import CheckedInput
from tokenstore.db import AnyConnection, Connection, one_or_none
from tokenstore.decisions import Accept, Decision
from tokenstore.model import Answer, ClientInfo, Delivery, Group, Link, LinkView
from tokenstore.prepared import Prepared
from tokenstore.states import ANSWER_RECORDED, Event, link_sources, next_state, use_event
from tokenstore.states import revoke_reason as reason_of
from tokenstore.tables import audit_events, link_groups, links, redemptions
from tokenstore.types import AuditAction, RedemptionId, TokenHash, new_id
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


async def find_link(conn: AnyConnection, token_hash: TokenHash) -> LinkView | None:
    """Read a link, its group and the answer it shows (as ``_answer_for`` chooses it) in one
    statement, taking no locks and changing nothing."""
    row = await _FIND_LINK.one_or_none(conn, {"token_hash": token_hash})
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


# Compiled once and prepared (tokenstore.prepared): building it per call cost more than the
# round trip the single statement saves (measured: 0.6 ms a read prebuilt, 1.7 built per call).
_FIND_LINK = Prepared(_find_link_statement())


@dataclass(frozen=True)
class RedeemResult:
    decision: Decision
    view: LinkView
    delivery: Delivery | None  # set when an answer was recorded and must now be delivered


async def read_to_use(conn: AnyConnection, token_hash: TokenHash) -> tuple[Link, Group] | None:
    """A link and its group, unlocked, to check an answer and decide before anything is
    locked (``redeem_as_read``); None for a token with no row."""
    row = await _READ_TO_USE.one_or_none(conn, {"token_hash": token_hash})
    return None if row is None else (Link.from_row(row), Group.from_row(_group_part(row)))


async def redeem_as_read(
    conn: AnyConnection,
    link: Link,
    group: Group,
    checked: CheckedInput,
    now: dt.datetime,
    client: ClientInfo | None = None,
    claim: dt.timedelta | None = None,
) -> RedeemResult | None:
    """Decide on the link as ``read_to_use`` read it, unlocked, and record an accepted answer
    in one statement on a connection outside any transaction (``Database.single_statement``):
    the usual click costs that statement and the read, with no BEGIN and COMMIT.

    The statement locks the group first and is fenced on the link and the group as read
    (``_record_statement``), so it records only what ``redeem`` would have recorded under
    the lock. None when there is nothing to record on the link as read (refused, or changed
    since): then ``redeem``, in a transaction, decides under the lock and shows the answer
    that holds. Input errors need no lock: the link is open, and nothing is written.
    """
    decision = decisions.decide(link, group, checked, now)
    if isinstance(decision, decisions.RejectInput):
        return RedeemResult(decision, LinkView(link, group, None), None)
    if not isinstance(decision, Accept):
        return None
    return await _record(conn, group, link, decision, now, client, claim, INLINE_DELIVERY_LEASE)


async def redeem(
    conn: Connection,
    token_hash: TokenHash,
    checked: CheckedInput | None,
    now: dt.datetime,
    client: ClientInfo | None = None,
    delivery_lease: dt.timedelta = INLINE_DELIVERY_LEASE,
    claim: dt.timedelta | None = None,
) -> RedeemResult | None:
    """Lock the link's group, decide, and record the answer as pending delivery.

    The link server comes here only when ``redeem_as_read`` recorded nothing (a refusal, or
    a link that changed since it was read); tests and tools may come here directly.
    ``checked`` is the answer as ``answerschema.check`` typed it against the link's schema,
    before this transaction (None: no answer, checked against no schema); nothing slow runs
    while the group is locked. Checked against another schema than the link's, nothing is
    written and the decision is ``Recheck``: end the transaction, check again, retry.
    Returns None for a token that verifies but has no row (reaped, or never issued here).
    The caller commits, then delivers: the answer is durable before Camunda hears of it, so
    a crash in between loses nothing, and the redemption id lets a retry find out whether
    the first attempt arrived.

    Two statements when the answer is taken: one locks the group and reads the link, one
    records everything (``_RECORD``). The group row is the only lock a redemption waits
    for, and every other writer that waits takes the group first too (revoke, reissue,
    operator revoke; the reaper's expiry locks links only, skipping locked ones, and never
    waits), so no two of them deadlock. The link is read unlocked in the locking statement,
    so it may be older than the group row if that statement waited for the lock; the
    record is fenced on the link as read and matches nothing then, and the link is read
    again, now under the lock, and decided on afresh.

    With ``claim``, the request's own first delivery attempt is claimed here too (attempt 1,
    leased for ``claim``), saving a claim transaction; else the retry loop keeps off the
    answer for ``delivery_lease`` and the first attempt is claimed later. Either way, an
    answer whose server dies before delivering is retried when that lease ends.
    """
    if checked is None:
        checked = CheckedInput()
    row = await _LOCK.one_or_none(conn, {"token_hash": token_hash})
    if row is None:
        return None
    group, link = Group.from_row(_group_part(row)), Link.from_row(row)
    decision = decisions.decide(link, group, checked, now)
    if isinstance(decision, decisions.Recheck):
        return RedeemResult(decision, LinkView(link, group, None), None)
    if isinstance(decision, Accept):
        recorded = await _record(conn, group, link, decision, now, client, claim, delivery_lease)
        if recorded is not None:
            return recorded
    # Refused, or the link changed while the group lock was awaited: read it again (and the
    # answer it shows), under the lock now, so what is decided and shown is current.
    view = await find_link(conn, token_hash)
    if view is None:
        return None  # reissued meanwhile: this token is no longer the link's
    decision = decisions.decide(view.link, view.group, checked, now)
    if not isinstance(decision, Accept):
        return RedeemResult(decision, view, None)
    recorded = await _record(
        conn, view.group, view.link, decision, now, client, claim, delivery_lease
    )
    if recorded is None:  # nothing changes a link whose group this transaction holds
        raise RuntimeError("the link changed under its group's lock")
    return recorded


async def _record(
    conn: AnyConnection,
    group: Group,
    link: Link,
    decision: Accept,
    now: dt.datetime,
    client: ClientInfo | None,
    claim: dt.timedelta | None,
    delivery_lease: dt.timedelta,
) -> RedeemResult | None:
    """Record the accepted answer; None if the link is no longer as it was read."""
    lease = delivery_lease if claim is None else claim
    delivery = await _record_answer(
        conn, group, link, decision, now, now + lease, client, claimed=claim is not None
    )
    if delivery is None:
        return None
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
    conn: AnyConnection,
    group: Group,
    link: Link,
    decision: Accept,
    now: dt.datetime,
    lease_until: dt.datetime,
    client: ClientInfo | None,
    claimed: bool = False,
) -> Delivery | None:
    redemption_id = RedemptionId(new_id())
    # The model's bound variables win over anything typed in: the schema cannot name them.
    variables = {**decision.input, **link.variables}
    statement = _RECORD_REVOKING if decision.revoke_siblings else _RECORD
    recorded = await statement.one_or_none(
        conn,
        {
            "p_redemption_id": redemption_id,
            "p_link_id": link.id,
            "p_group_id": group.id,
            "p_seen_expires_at": group.expires_at,
            "p_seen_token_hash": link.token_hash,
            "p_seen_state": link.state.value,
            "p_seen_uses": link.uses,
            "p_new_state": next_state(link.state, use_event(decision.final_use)).value,
            "p_now": now,
            "p_variables": to_json_map(variables),
            "p_attempts": 1 if claimed else 0,
            "p_lease_until": lease_until,
            "p_outcome": link.action,
            "p_detail": {"input": to_json_map(decision.input)} if decision.input else None,
            "p_client_ip_hash": client.ip_hash if client else None,
            "p_user_agent": client.user_agent[:400] if client and client.user_agent else None,
        },
    )
    if recorded is None:
        return None
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


def _link_and_group() -> sa.Select[Any]:
    """A link and its group, by token hash, in one row."""
    return (
        sa.select(links, *_group_columns())
        .join(link_groups, link_groups.c.id == links.c.group_id)
        .where(links.c.token_hash == sa.bindparam("token_hash", type_=links.c.token_hash.type))
    )


def _param(name: str, column: sa.Column[Any]) -> sa.BindParameter[Any]:
    # Named apart from every column (p_…): SQLAlchemy would take an execution parameter
    # named like a column of an UPDATE as one more value to SET.
    return sa.bindparam(name, type_=column.type)


def _constant(value: str) -> sa.ColumnElement[str]:
    # A constant of the statement, written into it rather than sent as a parameter.
    return sa.literal_column(f"'{value}'", sa.Text)


def _record_statement(revoke_siblings: bool) -> sa.Select[Any]:
    """One data-modifying statement: use the link (fenced on it as read), insert the answer,
    revoke the siblings if asked, and write the audit rows ``audit.write`` would.

    Returns the answer's id, or no row when the link was not as read (then nothing changed:
    every other part depends on the link's update).
    """
    link_id = _param("p_link_id", links.c.id)
    group_id = _param("p_group_id", links.c.group_id)
    now = _param("p_now", links.c.changed_at)
    # The group row, locked before the link row is (the link's update waits on this being
    # non-empty), as every writer that waits takes them; fenced on its expiry as read, which
    # a reissue moves. Under redeem's lock already, taking it again costs nothing.
    group = (
        sa.select(link_groups.c.id)
        .where(
            link_groups.c.id == group_id,
            link_groups.c.expires_at == _param("p_seen_expires_at", link_groups.c.expires_at),
        )
        .with_for_update()
        .cte("grp")
    )
    used = (
        sa.update(links)
        .where(
            links.c.id == link_id,
            links.c.token_hash == _param("p_seen_token_hash", links.c.token_hash),
            links.c.state == _param("p_seen_state", links.c.state),
            links.c.uses == _param("p_seen_uses", links.c.uses),
            sa.exists(sa.select(group.c.id)),
        )
        .values(
            uses=links.c.uses + sa.literal_column("1"),
            state=_param("p_new_state", links.c.state),
            changed_at=now,
        )
        .returning(links.c.id)
        .cte("used")
    )
    recorded = (
        sa.insert(redemptions)
        .from_select(
            ["id", "link_id", "variables", "state", "answered_at", "attempts", "next_attempt_at"],
            sa.select(
                _param("p_redemption_id", redemptions.c.id),
                used.c.id,
                _param("p_variables", redemptions.c.variables),
                _constant(ANSWER_RECORDED.value),
                now,
                _param("p_attempts", redemptions.c.attempts),
                _param("p_lease_until", redemptions.c.next_attempt_at),
            ),
        )
        .returning(redemptions.c.id)
        .cte("recorded")
    )
    entries = sa.select(
        sa.literal_column("0").label("k"),
        _constant(AuditAction.ANSWERED.value).label("action"),
        used.c.id.label("link_id"),
        recorded.c.id.label("redemption_id"),
        _param("p_outcome", audit_events.c.outcome).label("outcome"),
        sa.bindparam("p_detail", type_=pg.JSONB(none_as_null=True)).label("detail"),
    ).select_from(used.join(recorded, sa.true()))
    ctes: list[sa.CTE] = []
    if revoke_siblings:
        event = Event.SIBLING_USED
        (source,) = link_sources(event)
        reason = reason_of(event)
        revoked = (
            sa.update(links)
            .where(
                links.c.group_id == group_id,
                links.c.id != link_id,
                links.c.state == _constant(source.value),
                sa.exists(sa.select(used.c.id)),
            )
            .values(
                state=_constant(next_state(source, event).value),
                revoked_reason=_constant(reason.value),
                changed_at=now,
            )
            .returning(links.c.id)
            .cte("revoked")
        )
        ctes.append(revoked)
        others = sa.select(
            sa.literal_column("1"),
            _constant(AuditAction.REVOKED.value),
            revoked.c.id,
            sa.cast(sa.null(), audit_events.c.redemption_id.type),
            _constant(reason.value),
            sa.cast(sa.null(), pg.JSONB),
        )
        rows = sa.union_all(entries, others).subquery("entries")
    else:
        rows = entries.subquery("entries")
    audited = (
        sa.insert(audit_events)
        .from_select(
            [
                "at",
                "action",
                "group_id",
                "link_id",
                "redemption_id",
                "outcome",
                "client_ip_hash",
                "user_agent",
                "detail",
            ],
            # Ordered as audit.write would number them: the answer, then the revocations.
            sa.select(
                now,
                rows.c.action,
                group_id,
                rows.c.link_id,
                rows.c.redemption_id,
                rows.c.outcome,
                _param("p_client_ip_hash", audit_events.c.client_ip_hash),
                _param("p_user_agent", audit_events.c.user_agent),
                rows.c.detail,
            ).order_by(rows.c.k),
        )
        .returning(audit_events.c.id)
        .cte("audited")
    )
    return sa.select(recorded.c.id).add_cte(*ctes, audited)


# Compiled once and prepared, as _FIND_LINK: statement building and SQLAlchemy's execute
# path were most of the cost of a statement here.
_READ_TO_USE = Prepared(_link_and_group())
# The group, locked, and its link, read (not locked) in the same statement.
_LOCK = Prepared(_link_and_group().with_for_update(of=link_groups))
_RECORD = Prepared(_record_statement(revoke_siblings=False))
_RECORD_REVOKING = Prepared(_record_statement(revoke_siblings=True))
