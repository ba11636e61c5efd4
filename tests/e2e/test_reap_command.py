"""``action-links reap`` as an operator runs it: expire, delete in batches, record it."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack import ROOT
from tests.support.builders import issue_request
from tests.support.keys import SIGNING_KEYS
from tokenstore import issuing
from tokenstore.tables import audit_events, link_groups, links
from tokenstore.tokens import Keyring


async def _issue(db: AsyncEngine, keyring: Keyring, task: str, created: dt.datetime) -> None:
    request = issue_request(task, f"pi-{task}")
    async with db.begin() as conn:
        await issuing.issue_group(conn, request, keyring, created)


def _reap(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionlinks_cli", "reap"],
        cwd=ROOT,
        env={
            **os.environ,
            "ACTION_LINKS_DATABASE_URL": database_url,
            "ACTION_LINKS_SIGNING_KEYS": SIGNING_KEYS,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_reap_expires_deletes_old_groups_and_records_it(
    database_url: str, db: AsyncEngine, keyring: Keyring
) -> None:
    now = dt.datetime.now(dt.UTC)
    for i in range(5):
        await _issue(db, keyring, f"old-{i}", now - dt.timedelta(days=40))
    for i in range(3):
        await _issue(db, keyring, f"recent-{i}", now - dt.timedelta(hours=2))
    await _issue(db, keyring, "live", now)
    result = await asyncio.to_thread(
        _reap, database_url, ACTION_LINKS_RETENTION="P30D", ACTION_LINKS_REAP_BATCH="2"
    )
    assert result.returncode == 0, result.stderr
    assert "reaped: 16 links expired, 5 groups deleted" in result.stderr
    async with db.connect() as conn:
        groups = (await conn.execute(sa.select(link_groups.c.external_task_id))).scalars().all()
        states = (await conn.execute(sa.select(links.c.state))).scalars().all()
        audit = (await conn.execute(sa.select(audit_events.c.action))).scalars().all()
    assert sorted(groups) == ["live", "recent-0", "recent-1", "recent-2"]
    assert sorted(states) == ["active"] * 2 + ["expired"] * 6
    assert audit.count("reaped") == 5
    assert audit.count("expired") == 6 + 10  # old groups' links were expired before deletion


def test_reap_with_bad_configuration_says_what_is_wrong(database_url: str) -> None:
    result = _reap(database_url, ACTION_LINKS_RETENTION="thirty days")
    assert result.returncode == 2
    assert "ACTION_LINKS_RETENTION" in result.stderr and "ISO 8601" in result.stderr
    assert "Traceback" not in result.stderr
