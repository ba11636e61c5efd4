"""Expire links past their TTL and delete long-expired groups, in small batches.

Each batch is its own short transaction, so no lock is held for long; ``action-links reap``
runs it once, and the worker runs it periodically.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from tokenstore import store
from tokenstore.db import create_engine
from tokenstore.settings import Settings
from tokenstore.types import utcnow

log = logging.getLogger(__name__)

MAX_BATCHES_PER_RUN = 1000


@dataclass(frozen=True)
class ReapReport:
    expired: int
    deleted: int


async def reap(
    engine: AsyncEngine, now: dt.datetime, retention: dt.timedelta, batch_size: int
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
    report = ReapReport(expired, deleted)
    log.info(
        "reaped: %d links expired, %d groups deleted",
        expired,
        deleted,
        extra={"action": "reap", "expired": expired, "deleted": deleted},
    )
    return report


async def reap_once(settings: Settings) -> int:
    engine = create_engine(settings.database_url, 1, settings.db_schema)
    try:
        await reap(engine, utcnow(), settings.retention, settings.reap_batch)
    finally:
        await engine.dispose()
    return 0
