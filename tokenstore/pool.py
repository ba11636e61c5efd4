"""The pool the statements sent outside a transaction run on: psycopg connections in
autocommit, handed out newest first, with no check on checkout.

A click reads its link, records its answer and settles it, a page reads once: each on a
connection of its own, outside any transaction (``Database.read``/``single_statement``).
Through SQLAlchemy's pool a checkout and return cost about 75 µs of CPU (measured; the
greenlet hop, the ``Connection`` object, the pool events), three times a click: about a
seventh of its CPU; here they cost about 10 µs. Transactions still go through SQLAlchemy
(``Database.transaction``).

What SQLAlchemy's pool did that matters is kept: a connection is opened only when needed
and fails at once when the database is down (no waiting for a background reconnect), a
broken connection is never handed out again, and when one is found dead every idle one is
dropped too (after a restart they all are; ``discard_idle``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

DriverConnection = psycopg.AsyncConnection[Any]

# psycopg_pool's defaults: a connection idle this long is closed rather than reused (a quiet
# night need not hold connections open), and none lives longer than an hour (a server-side
# idle timeout, a failover, memory a backend holds).
MAX_IDLE_S = 10 * 60
MAX_LIFETIME_S = 60 * 60


@dataclass
class _Idle:
    conn: DriverConnection
    opened: float
    returned: float


class DriverPool:
    """At most ``size`` connections; a checkout waits up to ``timeout_s`` for one to free."""

    def __init__(
        self, conninfo: str, kwargs: Mapping[str, Any], size: int, timeout_s: float
    ) -> None:
        self._conninfo = conninfo
        self._kwargs = dict(kwargs)
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Idle] = []  # the newest returned last: taken first
        self._opened: dict[int, float] = {}  # id(conn) -> when it was opened

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[DriverConnection]:
        """A connection in autocommit for the block; raises ``TimeoutError`` when none frees
        up in time, and psycopg's ``OperationalError`` when the database cannot be reached."""
        async with asyncio.timeout(self._timeout_s):
            await self._slots.acquire()
        try:
            conn = await self._take()
            try:
                yield conn
            finally:
                await self._give_back(conn)
        finally:
            self._slots.release()

    async def discard_idle(self) -> None:
        """Close every idle connection (a dead one was found: after a restart, all are)."""
        idle, self._idle = self._idle, []
        for entry in idle:
            self._opened.pop(id(entry.conn), None)
            await _close_quietly(entry.conn)

    async def close(self) -> None:
        await self.discard_idle()

    async def _take(self) -> DriverConnection:
        now = time.monotonic()
        while self._idle:
            entry = self._idle.pop()
            if now - entry.opened < MAX_LIFETIME_S and not entry.conn.closed:
                return entry.conn
            self._opened.pop(id(entry.conn), None)
            await _close_quietly(entry.conn)
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, **self._kwargs
        )
        self._opened[id(conn)] = now
        return conn

    async def _give_back(self, conn: DriverConnection) -> None:
        opened = self._opened.get(id(conn))
        idle = conn.info.transaction_status is TransactionStatus.IDLE
        if opened is None or conn.closed or conn.broken or not idle:
            # Broken, or left inside a statement it never finished (a cancelled request):
            # not for anyone else.
            self._opened.pop(id(conn), None)
            await _close_quietly(conn)
            return
        now = time.monotonic()
        self._idle.append(_Idle(conn, opened, now))
        # The oldest returned are at the front: close those idle too long (a quiet night).
        while self._idle and now - self._idle[0].returned > MAX_IDLE_S:
            stale = self._idle.pop(0)
            self._opened.pop(id(stale.conn), None)
            await _close_quietly(stale.conn)


async def _close_quietly(conn: DriverConnection) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await conn.close()
