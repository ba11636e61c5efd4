"""The audit trail writer: every change of a link or an answer leaves one row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tokenstore.model import ClientInfo
from tokenstore.tables import audit_events
from tokenstore.types import AuditAction, GroupId, LinkId, RedemptionId


@dataclass(frozen=True)
class AuditEvent:
    action: AuditAction
    group_id: GroupId
    link_id: LinkId | None = None
    redemption_id: RedemptionId | None = None
    outcome: str | None = None
    detail: Mapping[str, Any] | None = None


async def write(
    conn: AsyncConnection,
    now: dt.datetime,
    events: Iterable[AuditEvent],
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
