"""Expire links past their TTL, delete long-expired groups and old audit events, in small
batches.

Each batch is its own short transaction, so no lock is held for long; ``action-links reap``
runs it once, and the worker runs it periodically.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from tokenstore import reaping
from tokenstore.db import Database
from tokenstore.settings import ReaperSettings, Settings
from tokenstore.types import utcnow

log = logging.getLogger(__name__)

MAX_BATCHES_PER_RUN = 1000


@dataclass(frozen=True)
class ReapReport:
    expired: int
    deleted: int
    audit_deleted: int = 0


async def _audit_retention(
    db: Database, now: dt.datetime, audit_retention: dt.timedelta, batch_size: int
) -> int:
    removed = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        async with db.transaction() as conn:
            count = await reaping.delete_old_audit_events(conn, now - audit_retention, batch_size)
        removed += count
        if count < batch_size:
            break
    return removed


async def reap(
    db: Database,
    now: dt.datetime,
    retention: dt.timedelta,
    batch_size: int,
    audit_retention: dt.timedelta | None = None,
) -> ReapReport:
    expired = deleted = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        async with db.transaction() as conn:
            count = await reaping.expire_due(conn, now, batch_size)
        expired += count
        if count < batch_size:
            break
    for _ in range(MAX_BATCHES_PER_RUN):
        async with db.transaction() as conn:
            count = await reaping.reap_groups(conn, now, retention, batch_size)
        deleted += count
        if count < batch_size:
            break
    audit_deleted = 0
    if audit_retention is not None:
        audit_deleted = await _audit_retention(db, now, audit_retention, batch_size)
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
    db = Database.from_url(settings.database_url, 1, settings.db_schema)
    try:
        await reap(db, utcnow(), reaper.retention, reaper.reap_batch, reaper.audit_retention)
    finally:
        await db.dispose()
    return 0
