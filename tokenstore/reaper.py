"""Expire links past their TTL, delete long-expired groups and old audit events, in small
batches.

Each batch is its own short transaction, so no lock is held for long; ``action-links reap``
runs it once, and the worker runs it periodically.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tokenstore import store
from tokenstore.db import create_engine
from tokenstore.settings import ReaperSettings, Settings
from tokenstore.tables import audit_events
from tokenstore.types import utcnow

log = logging.getLogger(__name__)

MAX_BATCHES_PER_RUN = 1000


@dataclass(frozen=True)
class ReapReport:
    expired: int
    deleted: int
    audit_deleted: int = 0


async def delete_old_audit_events(
    conn: AsyncConnection, before: dt.datetime, batch_size: int
) -> int:
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


async def _audit_retention(
    engine: AsyncEngine, now: dt.datetime, audit_retention: dt.timedelta, batch_size: int
) -> int:
    removed = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        async with engine.begin() as conn:
            count = await delete_old_audit_events(conn, now - audit_retention, batch_size)
        removed += count
        if count < batch_size:
            break
    return removed


async def reap(
    engine: AsyncEngine,
    now: dt.datetime,
    retention: dt.timedelta,
    batch_size: int,
    audit_retention: dt.timedelta | None = None,
) -> ReapReport:
    expired = deleted = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        async with engine.begin() as conn:
            count = await store.expire_due(conn, now, batch_size)
        expired += count
        if count < batch_size:
            break
    for _ in range(MAX_BATCHES_PER_RUN):
        async with engine.begin() as conn:
            count = await store.reap_groups(conn, now, retention, batch_size)
        deleted += count
        if count < batch_size:
            break
    audit_deleted = 0
    if audit_retention is not None:
        audit_deleted = await _audit_retention(engine, now, audit_retention, batch_size)
    report = ReapReport(expired, deleted, audit_deleted)
    log.info(
        "reaped: %d links expired, %d groups deleted, %d audit events deleted",
        expired,
        deleted,
        audit_deleted,
        extra={
            "action": "reap",
            "expired": expired,
            "deleted": deleted,
            "audit_deleted": audit_deleted,
        },
    )
    return report


async def reap_once(settings: Settings, reaper: ReaperSettings) -> int:
    engine = create_engine(settings.database_url, 1, settings.db_schema)
    try:
        await reap(engine, utcnow(), reaper.retention, reaper.reap_batch, reaper.audit_retention)
    finally:
        await engine.dispose()
    return 0
