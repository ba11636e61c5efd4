"""The record of each channel task's send: what it sends, and whether it went out already.

A channel task (``send-links-email``, ``send-links-webhook``) may be delivered to the worker
more than once (its lock ran out, it failed and is retried). The row keyed by its external
task id makes the second delivery send nothing once the first was accepted, and lets a send
whose outcome is unknown go out again under the same message id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tokenstore import audit
from tokenstore.audit import AuditEvent
from tokenstore.db import Connection, one, one_or_none
from tokenstore.model import Group, Link
from tokenstore.tables import link_groups, links, sends
from tokenstore.types import AuditAction, ExternalTaskId, GroupId

SENDING = "sending"
SENT = "sent"


@dataclass(frozen=True)
class Send:
    """One channel task's send: its message id, and whether a server accepted it."""

    external_task_id: ExternalTaskId
    channel: str
    group_id: GroupId
    message_id: str
    sent: bool
    attempts: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Send:
        return cls(
            external_task_id=ExternalTaskId(row["external_task_id"]),
            channel=row["channel"],
            group_id=GroupId(row["group_id"]),
            message_id=row["message_id"],
            sent=row["state"] == SENT,
            attempts=row["attempts"],
        )


@dataclass(frozen=True)
class GroupToSend:
    """A group and its links in the order the model listed them."""

    group: Group
    links: tuple[Link, ...]


async def group_to_send(conn: Connection, group_id: GroupId) -> GroupToSend | None:
    group = await one_or_none(
        conn, sa.select(link_groups).where(link_groups.c.id == group_id), Group.from_row
    )
    if group is None:
        return None
    rows = await conn.execute(
        sa.select(links).where(links.c.group_id == group_id).order_by(links.c.position)
    )
    return GroupToSend(group, tuple(Link.from_row(row) for row in rows.mappings()))


async def begin_send(
    conn: Connection,
    task_id: ExternalTaskId,
    channel: str,
    group_id: GroupId,
    message_id: str,
    now: dt.datetime,
) -> Send:
    """The task's send, created with ``message_id`` on its first attempt, counted once more.

    A later attempt gets the first attempt's message id back, and ``sent`` when a server
    already accepted it: then nothing must go out again.
    """
    await conn.execute(
        pg_insert(sends)
        .values(
            external_task_id=task_id,
            channel=channel,
            group_id=group_id,
            message_id=message_id,
            state=SENDING,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["external_task_id"])
    )
    return await one(
        conn,
        sa.update(sends)
        .where(sends.c.external_task_id == task_id)
        .values(attempts=sends.c.attempts + (sa.case((sends.c.state == SENDING, 1), else_=0)))
        .returning(sends),
        Send.from_row,
    )


async def mark_sent(
    conn: Connection, send: Send, now: dt.datetime, detail: Mapping[str, Any]
) -> None:
    """A server accepted the message: record it, and leave a line in the audit trail."""
    await conn.execute(
        sa.update(sends)
        .where(sends.c.external_task_id == send.external_task_id)
        .values(state=SENT, sent_at=now)
    )
    event = AuditEvent(
        AuditAction.SENT,
        send.group_id,
        outcome=send.channel,
        detail={"task": send.external_task_id, "message_id": send.message_id, **detail},
    )
    await audit.write(conn, now, [event])
