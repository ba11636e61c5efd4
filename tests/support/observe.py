"""What tests read back of a link server: its metrics, its answers' rows and its audit trail."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from linkserver import metrics
from tests.support.harness import Harness
from tokenstore.tables import audit_events, redemptions


async def metric(h: Harness, name: str, labels: str = "") -> float:
    """One sample of ``/metrics`` (``labels`` as written there, e.g. ``result="refused"``).

    The page is served by the admin listener, which the in-process harness does not start;
    it is the text of the link server's registry, read here in the same process.
    """
    text = generate_latest(metrics.REGISTRY).decode()
    selector = re.escape(name + (f"{{{labels}}}" if labels else ""))
    found = re.search(rf"^{selector} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def answer_rows(db: AsyncEngine) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        rows = await conn.execute(sa.select(redemptions).order_by(redemptions.c.answered_at))
        return [dict(row) for row in rows.mappings()]


async def audit_rows(db: AsyncEngine) -> list[dict[str, Any]]:
    async with db.connect() as conn:
        rows = await conn.execute(sa.select(audit_events).order_by(audit_events.c.id))
        return [dict(row) for row in rows.mappings()]
