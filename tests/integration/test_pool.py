"""The pool without a pre-ping or a check on checkout: a connection the server closed is found
at the BEGIN every transaction sends anyway (or by a read's failure) and replaced, once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, LiteralString

import psycopg
import pytest
import sqlalchemy as sa

from tests.support.builders import issue_request
from tokenstore import issuing, pool
from tokenstore.db import Connection, Database
from tokenstore.errors import Conflict, StoreUnavailable
from tokenstore.pool import DriverConnection
from tokenstore.prepared import Prepared
from tokenstore.tokens import Keyring

NOW = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)


async def _pid_of(conn: Connection) -> int:
    return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def _pid_in_transaction(db: Database) -> int:
    async with db.transaction() as conn:
        return await _pid_of(conn)


async def _pid_in_connection(db: Database) -> int:
    async with db.connection() as conn:
        return await _pid_of(conn)


async def _pid_read(db: Database) -> int:
    return int(await db.read(lambda conn: _read_scalar(conn, "SELECT pg_backend_pid()")))


_PID = Prepared("SELECT pg_backend_pid() AS pid")


async def _pid_prepared_read(db: Database) -> int:
    """The page's path: a prepared statement on the driver connection under ``read()``."""
    row = await db.read(lambda conn: _PID.one_or_none(conn, {}))
    assert row is not None
    return int(row["pid"])


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # The backend is gone once the server no longer lists it.
        for _ in range(100):
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            admin.execute("SELECT pg_sleep(0.05)")
    raise AssertionError(f"backend {pid} still listed")


@pytest.mark.parametrize(
    "use", [_pid_in_transaction, _pid_in_connection, _pid_read, _pid_prepared_read]
)
async def test_a_connection_the_server_closed_is_replaced_once(
    database_url: str, use: Callable[[Database], Awaitable[int]]
) -> None:
    db = Database.from_url(database_url, pool_size=1)
    try:
        first = await use(db)
        assert await use(db) == first  # the pool hands the same connection back
        _terminate(database_url, first)
        # No StoreUnavailable: the dead connection is found, dropped and replaced.
        second = await use(db)
        assert second != first
        assert await use(db) == second
    finally:
        await db.dispose()


async def test_a_transaction_on_a_replaced_connection_commits(database_url: str) -> None:
    db = Database.from_url(database_url, pool_size=1)
    try:
        first = await _pid_in_transaction(db)
        _terminate(database_url, first)
        async with db.transaction() as conn:
            await conn.execute(sa.text("CREATE TABLE pool_probe (n int)"))
            await conn.execute(sa.text("INSERT INTO pool_probe VALUES (1)"))
        with pytest.raises(RuntimeError, match="rolled back"):
            await _insert_then_fail(db)
        assert await db.read(
            lambda conn: _read_scalar(conn, "SELECT array_agg(n) FROM pool_probe")
        ) == [1]
    finally:
        await db.dispose()


async def _insert_then_fail(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(sa.text("INSERT INTO pool_probe VALUES (2)"))
        raise RuntimeError("rolled back")


async def _read_scalar(conn: DriverConnection, query: LiteralString) -> Any:
    row = await (await conn.execute(query)).fetchone()
    assert row is not None
    return row[0]


async def test_a_prepared_statement_raises_the_store_s_conflict(database_url: str) -> None:
    """A unique violation from the driver itself (no SQLAlchemy wrapper) is a ``Conflict``
    named by its constraint, as from any other statement."""
    db = Database.from_url(database_url, pool_size=1)
    insert = Prepared("INSERT INTO probe_unique VALUES (%(n)s)")
    try:
        async with db.transaction() as conn:
            await conn.execute(sa.text("CREATE TABLE probe_unique (n int CONSTRAINT uq_n UNIQUE)"))
            await insert.all(conn, {"n": 1})
        with pytest.raises(Conflict) as raised:
            async with db.transaction() as conn:
                await insert.all(conn, {"n": 1})
        assert raised.value.constraint_name == "uq_n"
    finally:
        await db.dispose()


async def test_an_issue_whose_connection_died_is_written_once_on_another(
    database_url: str, keyring: Keyring
) -> None:
    """The worker's issue is one statement outside a transaction: a dead connection there
    sends it to the transaction, whose BEGIN replaces the connection; one group results."""
    db = Database.from_url(database_url, pool_size=1)
    try:
        _terminate(database_url, await _pid_read(db))
        issued = await issuing.issue(db, issue_request("task-dead", "pi-dead"), keyring, NOW)
        assert not issued.reissued
        groups = await db.read(lambda conn: _read_scalar(conn, "SELECT count(*) FROM link_groups"))
        assert groups == 1
    finally:
        await db.dispose()


async def test_after_a_restart_every_idle_connection_is_dropped_and_a_read_still_answers(
    database_url: str,
) -> None:
    """A restart kills every pooled connection: the first dead one found drops them all, so
    the read that found it is run again on a new one, not on the next dead one."""
    db = Database.from_url(database_url, pool_size=3)
    try:
        pids = await asyncio.gather(*(_held_pid(db) for _ in range(3)))
        assert len(set(pids)) == 3  # three idle connections in the pool now
        for pid in pids:
            _terminate(database_url, pid)
        assert await _pid_read(db) not in pids
    finally:
        await db.dispose()


async def _held_pid(db: Database) -> int:
    async def hold(conn: DriverConnection) -> int:
        pid = await _read_scalar(conn, "SELECT pg_backend_pid()")
        await asyncio.sleep(0.2)  # so the three are checked out at once
        return int(pid)

    return await db.read(hold)


async def test_a_statement_on_a_dead_connection_fails_as_unavailable_and_is_not_repeated(
    database_url: str,
) -> None:
    """Outside a transaction nobody knows whether a statement whose connection died was
    written: it fails (transient), it is not sent again, and the next use gets a live one."""
    db = Database.from_url(database_url, pool_size=1)
    try:
        first = await _pid_read(db)
        _terminate(database_url, first)
        with pytest.raises(StoreUnavailable) as raised:
            async with db.single_statement() as conn:
                await conn.execute("SELECT 1")
        assert raised.value.transient
        assert await _pid_read(db) != first
    finally:
        await db.dispose()


async def test_a_database_that_is_down_fails_a_read_at_once() -> None:
    db = Database.from_url("postgresql://postgres@127.0.0.1:1/nowhere", pool_size=1)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            await _pid_read(db)
        assert raised.value.transient
        # The driver's refusal, not the pool's wait for a free connection running out.
        assert str(raised.value).endswith("OperationalError")
        assert "refused" in raised.value.reason
    finally:
        await db.dispose()


async def test_a_read_cancelled_mid_statement_leaves_no_busy_connection_in_the_pool(
    database_url: str,
) -> None:
    """A request cancelled while its statement runs (the client went away) must not hand a
    connection still inside that statement to the next request: psycopg cancels it on the
    server, and a connection left inside one anyway is closed, not pooled."""
    db = Database.from_url(database_url, pool_size=1)
    try:
        first = await _pid_read(db)
        slow = asyncio.create_task(db.read(lambda conn: _read_scalar(conn, "SELECT pg_sleep(30)")))
        await _until_running(database_url, first)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # The only slot is free again, on a connection that is not still sleeping: the read
        # answers (wait_for only keeps a regression from hanging the suite for 30 s).
        await asyncio.wait_for(_pid_read(db), timeout=10)
        with psycopg.connect(database_url, autocommit=True) as admin:
            sleeping = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%'"
                " AND state = 'active'"
            ).fetchone()
        assert sleeping == (0,)
    finally:
        await db.dispose()


async def _until_running(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as admin:
        for _ in range(200):
            row = admin.execute(
                "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            if row is not None and row[0] == "active":
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"backend {pid} never ran the statement")


async def test_a_connection_past_its_lifetime_is_replaced_at_checkout(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database.from_url(database_url, pool_size=1)
    try:
        first = await _pid_read(db)
        assert await _pid_read(db) == first
        monkeypatch.setattr(pool, "MAX_LIFETIME_S", 0)
        assert await _pid_read(db) != first
    finally:
        await db.dispose()


async def test_a_connection_idle_too_long_is_closed_when_another_is_handed_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database.from_url(database_url, pool_size=2)
    try:
        older, newer = await asyncio.gather(_held_pid(db), _held_pid(db))
        monkeypatch.setattr(pool, "MAX_IDLE_S", 0)
        # Takes the newest returned; handing it back finds the other idle longer: closed.
        assert await _pid_read(db) in (older, newer)
        now_held = set(await asyncio.gather(_held_pid(db), _held_pid(db)))
        assert len(now_held & {older, newer}) == 1  # one reused, one opened anew
    finally:
        await db.dispose()
