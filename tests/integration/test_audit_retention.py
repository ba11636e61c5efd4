"""The reaper deletes audit events older than ACTION_LINKS_AUDIT_RETENTION, in small batches."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tokenstore.db import Database
from tokenstore.reaper import reap
from tokenstore.tables import audit_events

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


async def test_old_audit_events_go_in_batches_recent_ones_stay(
    database: Database, db: AsyncEngine
) -> None:
    group = uuid.uuid4()
    ages_days = [500, 450, 401, 401, 399, 10, 0]
    async with db.begin() as conn:
        await conn.execute(
            sa.insert(audit_events),
            [
                {"at": NOW - dt.timedelta(days=d), "action": "issued", "group_id": group}
                for d in ages_days
            ],
        )
    report = await reap(
        database, NOW, dt.timedelta(days=30), 2, audit_retention=dt.timedelta(days=400)
    )
    assert report.audit_deleted == 4
    async with db.connect() as conn:
        # The reaper's own "reap" run leaves no event (nothing was reaped), so only ours remain.
        kept = (await conn.execute(sa.select(audit_events.c.at).order_by(audit_events.c.at))).all()
    assert [NOW - at for (at,) in kept] == [dt.timedelta(days=d) for d in (399, 10, 0)]


async def test_without_an_audit_retention_nothing_of_the_trail_is_deleted(
    database: Database, db: AsyncEngine
) -> None:
    async with db.begin() as conn:
        await conn.execute(
            sa.insert(audit_events),
            {"at": NOW - dt.timedelta(days=5000), "action": "issued", "group_id": uuid.uuid4()},
        )
    report = await reap(database, NOW, dt.timedelta(days=30), 2)
    assert report.audit_deleted == 0
    async with db.connect() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(audit_events))
        ).scalar() == 1
