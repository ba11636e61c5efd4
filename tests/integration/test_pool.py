"""The pool without a pre-ping: a connection the server closed is never handed out."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from tokenstore.db import Database


async def _backend_pid(db: Database) -> int:
    async with db.connection() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_the_server_closed_is_replaced_on_checkout(database_url: str) -> None:
    db = Database.from_url(database_url, pool_size=1)
    try:
        first = await _backend_pid(db)
        assert await _backend_pid(db) == first  # the pool hands the same connection back
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
            # The backend is gone once the server no longer lists it.
            for _ in range(100):
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)
                ).fetchone()
                if row is not None and row[0] == 0:
                    break
                admin.execute("SELECT pg_sleep(0.05)")
        # No StoreUnavailable: the dead connection is found before use and replaced.
        second = await _backend_pid(db)
        assert second != first
        async with db.transaction() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
