"""What an operator asks of the store: find, show and revoke links; list, show and retry answers.

Queries only; the command line (``actionlinks_ops``) parses and prints. Every change is
audited with ``"actor": "operator"``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tokenstore import audit, tokens
from tokenstore.audit import AuditEvent
from tokenstore.errors import TokenStoreError
from tokenstore.states import Event, answer_sources, link_sources, next_state, revoke_reason
from tokenstore.tables import audit_events, link_groups, links, redemptions
from tokenstore.types import (
    AuditAction,
    GroupId,
    LinkId,
    LinkState,
    RedemptionId,
    RedemptionState,
    TokenHash,
)

ACTOR = "operator"
# A pending answer due within this is left alone: the retry loop tries it soon anyway, and
# its next_attempt_at may be the lease of an attempt in flight (7 correlation timeouts and a
# margin, about 75 s by default), which must not be cut short or a second send could race
# the first. The loop's backoff is capped at 5 minutes, so only a genuinely stuck answer is
# further away.
STUCK_AFTER = dt.timedelta(minutes=10)
MAX_ROWS = 1000
TOKEN_PARTS = 3


class NotALinkKey(TokenStoreError):
    """Neither a link id nor a token."""


@dataclass(frozen=True)
class LinkFilter:
    process_instance_id: str | None = None
    business_key: str | None = None
    group_id: uuid.UUID | None = None
    state: LinkState | None = None
    expiring_before: dt.datetime | None = None


@dataclass(frozen=True)
class LinkRow:
    id: uuid.UUID
    group_id: uuid.UUID
    process_instance_id: str
    business_key: str | None
    action: str
    label: str
    state: str
    uses: int
    max_uses: int
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_reason: str | None


@dataclass(frozen=True)
class AnswerRow:
    id: uuid.UUID
    link_id: uuid.UUID
    group_id: uuid.UUID
    process_instance_id: str
    action: str
    state: str
    answered_at: dt.datetime
    attempts: int
    next_attempt_at: dt.datetime | None
    settled_at: dt.datetime | None
    last_error: str | None


@dataclass(frozen=True)
class AuditRow:
    at: dt.datetime
    action: str
    link_id: uuid.UUID | None
    redemption_id: uuid.UUID | None
    outcome: str | None
    detail: Mapping[str, Any] | None


@dataclass(frozen=True)
class LinkDetail:
    link: LinkRow
    answers: Sequence[AnswerRow]
    audit: Sequence[AuditRow]


@dataclass(frozen=True)
class AnswerDetail:
    answer: AnswerRow
    audit: Sequence[AuditRow]


class RetryOutcome(enum.StrEnum):
    RETRIED = "retried"
    NOT_FOUND = "not_found"
    DELIVERED = "delivered"  # nothing to retry: it arrived
    DUE_SOON = "due_soon"  # pending and tried soon anyway (maybe right now)


def as_dict(row: Any) -> dict[str, Any]:
    """A result as JSON-ready data: ids and moments as strings."""

    def plain(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(row).items()}


def link_key(text: str) -> uuid.UUID | TokenHash:
    """A link id, or the hash of a token (or of the token in a link URL) to find it by.

    The token's signature is not checked: an operator may not hold the signing keys, and
    only the hash, never the token, is compared.
    """
    text = text.strip().rstrip("/").rsplit("/", 1)[-1]
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    parts = text.split(".")
    if len(parts) != TOKEN_PARTS:
        raise NotALinkKey()
    secret_part = parts[1]
    try:
        padded = secret_part + "=" * (-len(secret_part) % 4)
        secret = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NotALinkKey() from exc
    if len(secret) != tokens.SECRET_BYTES:
        raise NotALinkKey()
    return tokens.hash_secret(secret)


def _link_query() -> sa.Select[Any]:
    return sa.select(
        links.c.id,
        links.c.group_id,
        link_groups.c.process_instance_id,
        link_groups.c.business_key,
        links.c.action,
        links.c.label,
        links.c.state,
        links.c.uses,
        links.c.max_uses,
        link_groups.c.created_at,
        link_groups.c.expires_at,
        links.c.revoked_reason,
    ).join(link_groups, link_groups.c.id == links.c.group_id)


def _answer_query() -> sa.Select[Any]:
    return (
        sa.select(
            redemptions.c.id,
            redemptions.c.link_id,
            links.c.group_id,
            link_groups.c.process_instance_id,
            links.c.action,
            redemptions.c.state,
            redemptions.c.answered_at,
            redemptions.c.attempts,
            redemptions.c.next_attempt_at,
            redemptions.c.settled_at,
            redemptions.c.last_error,
        )
        .join(links, links.c.id == redemptions.c.link_id)
        .join(link_groups, link_groups.c.id == links.c.group_id)
    )


async def list_links(conn: AsyncConnection, where: LinkFilter) -> list[LinkRow]:
    query = _link_query()
    if where.process_instance_id is not None:
        query = query.where(link_groups.c.process_instance_id == where.process_instance_id)
    if where.business_key is not None:
        query = query.where(link_groups.c.business_key == where.business_key)
    if where.group_id is not None:
        query = query.where(links.c.group_id == where.group_id)
    if where.state is not None:
        query = query.where(links.c.state == where.state.value)
    if where.expiring_before is not None:
        query = query.where(link_groups.c.expires_at < where.expiring_before)
    query = query.order_by(link_groups.c.created_at, links.c.group_id, links.c.position)
    rows = (await conn.execute(query.limit(MAX_ROWS))).mappings()
    return [LinkRow(**row) for row in rows]


async def _audit_of(conn: AsyncConnection, condition: sa.ColumnElement[bool]) -> list[AuditRow]:
    query = (
        sa.select(
            audit_events.c.at,
            audit_events.c.action,
            audit_events.c.link_id,
            audit_events.c.redemption_id,
            audit_events.c.outcome,
            audit_events.c.detail,
        )
        .where(condition)
        .order_by(audit_events.c.id)
    )
    return [AuditRow(**row) for row in (await conn.execute(query)).mappings()]


async def show_link(conn: AsyncConnection, key: uuid.UUID | TokenHash) -> LinkDetail | None:
    by_id = isinstance(key, uuid.UUID)
    condition = links.c.id == key if by_id else links.c.token_hash == key
    row = (await conn.execute(_link_query().where(condition))).mappings().one_or_none()
    if row is None:
        return None
    link = LinkRow(**row)
    answers = (
        await conn.execute(
            _answer_query()
            .where(redemptions.c.link_id == link.id)
            .order_by(redemptions.c.answered_at)
        )
    ).mappings()
    audit = await _audit_of(
        conn,
        sa.and_(
            audit_events.c.group_id == link.group_id,
            sa.or_(audit_events.c.link_id == link.id, audit_events.c.link_id.is_(None)),
        ),
    )
    return LinkDetail(link, [AnswerRow(**a) for a in answers], audit)


async def revoke(
    conn: AsyncConnection,
    now: dt.datetime,
    reason: str,
    *,
    process_instance_id: str | None = None,
    group_id: uuid.UUID | None = None,
    link_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Revoke the active links chosen by exactly one of the keywords; the ids revoked."""
    groups = sa.select(link_groups.c.id)
    if process_instance_id is not None:
        groups = groups.where(link_groups.c.process_instance_id == process_instance_id)
    elif group_id is not None:
        groups = groups.where(link_groups.c.id == group_id)
    elif link_id is not None:
        owner = sa.select(links.c.group_id).where(links.c.id == link_id).scalar_subquery()
        groups = groups.where(link_groups.c.id == owner)
    else:
        raise ValueError("choose the links to revoke")
    # Groups first, then links: the store's lock order, so no deadlock with a click.
    group_ids = (
        (await conn.execute(groups.order_by(link_groups.c.id).with_for_update())).scalars().all()
    )
    if not group_ids:
        return []
    event = Event.OPERATOR_REVOKED
    (source,) = link_sources(event)
    update = sa.update(links).where(links.c.group_id.in_(group_ids), links.c.state == source.value)
    if link_id is not None:
        update = update.where(links.c.id == link_id)
    revoked = (
        await conn.execute(
            update.values(
                state=next_state(source, event).value,
                revoked_reason=revoke_reason(event).value,
                changed_at=now,
            ).returning(links.c.id, links.c.group_id)
        )
    ).all()
    detail = {"actor": ACTOR, "reason": reason}
    events = [
        AuditEvent(
            AuditAction.REVOKED, GroupId(gid), LinkId(lid), None, revoke_reason(event), detail
        )
        for lid, gid in revoked
    ]
    await audit.write(conn, now, events)
    return [lid for lid, _ in revoked]


async def list_answers(conn: AsyncConnection, state: RedemptionState) -> list[AnswerRow]:
    query = (
        _answer_query()
        .where(redemptions.c.state == state.value)
        .order_by(redemptions.c.answered_at)
        .limit(MAX_ROWS)
    )
    return [AnswerRow(**row) for row in (await conn.execute(query)).mappings()]


async def show_answer(conn: AsyncConnection, answer_id: uuid.UUID) -> AnswerDetail | None:
    row = (
        (await conn.execute(_answer_query().where(redemptions.c.id == answer_id)))
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    answer = AnswerRow(**row)
    audit = await _audit_of(conn, audit_events.c.group_id == answer.group_id)
    return AnswerDetail(answer, audit)


async def retry_answer(
    conn: AsyncConnection, answer_id: uuid.UUID, now: dt.datetime
) -> RetryOutcome:
    """Make an undeliverable or stuck answer due now (see ``STUCK_AFTER``).

    Exactly once still holds: the answer keeps its attempt count, so the next claim counts
    more than one attempt and the link server asks the engine's history for the answer's
    marker before it correlates; an answer that did arrive is settled, not sent again.
    """
    row = (
        await conn.execute(
            sa.select(
                redemptions.c.state,
                redemptions.c.link_id,
                redemptions.c.answered_at,
                redemptions.c.next_attempt_at,
            )
            .where(redemptions.c.id == answer_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        return RetryOutcome.NOT_FOUND
    state, link_id, answered_at, next_attempt_at = row
    event = Event.RETRY_REQUESTED
    if RedemptionState(state) not in answer_sources(event):
        return RetryOutcome.DELIVERED
    pending = state == RedemptionState.PENDING.value
    if pending and next_attempt_at is not None and next_attempt_at - now < STUCK_AFTER:
        return RetryOutcome.DUE_SOON
    await conn.execute(
        sa.update(redemptions)
        .where(redemptions.c.id == answer_id)
        .values(
            state=next_state(RedemptionState(state), event).value,
            next_attempt_at=now,
            settled_at=None,
        )
    )
    # The link waits for this answer again; its changed_at is how the settle recognises the
    # use that moves it (see deliveries.settle).
    (link_from,) = link_sources(event)
    await conn.execute(
        sa.update(links)
        .where(links.c.id == link_id, links.c.state == link_from.value)
        .values(state=next_state(link_from, event).value, changed_at=answered_at)
    )
    group_id = (
        await conn.execute(sa.select(links.c.group_id).where(links.c.id == link_id))
    ).scalar_one()
    entry = AuditEvent(
        AuditAction.RETRY_REQUESTED,
        GroupId(group_id),
        LinkId(link_id),
        RedemptionId(answer_id),
        outcome=state,
        detail={"actor": ACTOR},
    )
    await audit.write(conn, now, [entry])
    return RetryOutcome.RETRIED
