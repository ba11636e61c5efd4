"""What tests read back of a link server: its metrics, its answers' rows and its audit trail."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.harness import Harness
from tokenstore.tables import audit_events, redemptions


async def metric(h: Harness, name: str, labels: str = "") -> float:
    """One sample of ``/metrics`` (``labels`` as written there, e.g. ``result="refused"``)."""
    async with h.http.get(f"{h.base}/metrics") as response:
        text = await response.text()
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
