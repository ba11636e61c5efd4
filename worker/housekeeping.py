"""The worker's periodic reaper: expire links past their TTL, delete long-expired groups and
audit events older than ``ACTION_LINKS_AUDIT_RETENTION``.

Every worker runs it; the store's batches skip rows another process holds, so several
workers reaping at once share the work instead of waiting on each other.
"""

from __future__ import annotations

import asyncio
import logging

from tokenstore.db import Database
from tokenstore.reaper import reap
from tokenstore.types import utcnow
from worker import metrics
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


async def reap_periodically(db: Database, settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Reap now and then every ``settings.reap_interval`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            report = await reap(
                db,
                utcnow(),
                settings.reaper.retention,
                settings.reaper.reap_batch,
                settings.reaper.audit_retention,
            )
            metrics.LINKS_EXPIRED.inc(report.expired)
            metrics.GROUPS_REAPED.inc(report.deleted)
            metrics.AUDIT_EVENTS_DELETED.inc(report.audit_deleted)
        except Exception as exc:
            # The database may be away for a while; the next round tries again.
            log.warning("reaping failed: %s", exc, extra={"action": "reap_failed"})
        try:
            await asyncio.wait_for(stop.wait(), settings.reap_interval.total_seconds())
        except TimeoutError:
            continue
