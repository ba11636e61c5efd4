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
dropped too (after a restart they all are; ``_discard_idle``).
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
class _Pooled:
    """A connection of the pool, with when it was opened (it goes with the connection, in
    use or idle) and, while idle, when it was handed back."""

    conn: DriverConnection
    opened: float
    returned: float = 0.0


class DriverPool:
    """At most ``size`` connections; a checkout waits up to ``timeout_s`` for one to free."""

    def __init__(
        self, conninfo: str, kwargs: Mapping[str, Any], size: int, timeout_s: float
    ) -> None:
        self._conninfo = conninfo
        self._kwargs = dict(kwargs)
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Pooled] = []  # the newest returned last: taken first

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[DriverConnection]:
        """A connection in autocommit for the block; raises ``TimeoutError`` when none frees
        up in time, and psycopg's ``OperationalError`` when the database cannot be reached."""
        async with asyncio.timeout(self._timeout_s):
            await self._slots.acquire()
        try:
            pooled = await self._take()
            try:
                yield pooled.conn
            finally:
                await self._give_back(pooled)
        finally:
            self._slots.release()

    async def _discard_idle(self) -> None:
        """Close every idle connection (a dead one was handed back: after a restart, all are)."""
        idle, self._idle = self._idle, []
        for pooled in idle:
            await _close_quietly(pooled.conn)

    async def close(self) -> None:
        await self._discard_idle()

    async def _take(self) -> _Pooled:
        now = time.monotonic()
        while self._idle:
            pooled = self._idle.pop()
            if now - pooled.opened < MAX_LIFETIME_S and not pooled.conn.closed:
                return pooled
            await _close_quietly(pooled.conn)
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, **self._kwargs
        )
        return _Pooled(conn, opened=now)

    async def _give_back(self, pooled: _Pooled) -> None:
        conn = pooled.conn
        if conn.closed or conn.broken:
            # Dead: after a restart every idle one is too, and none should be tried next.
            await _close_quietly(conn)
            await self._discard_idle()
            return
        if conn.info.transaction_status is not TransactionStatus.IDLE:
            # Left inside a statement it never finished (a cancelled request): not for
            # anyone else.
            await _close_quietly(conn)
            return
        pooled.returned = time.monotonic()
        self._idle.append(pooled)
        # The oldest returned are at the front: close those idle too long (a quiet night).
        while self._idle and pooled.returned - self._idle[0].returned > MAX_IDLE_S:
            await _close_quietly(self._idle.pop(0).conn)


async def _close_quietly(conn: DriverConnection) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await conn.close()
