"""The one database boundary: a ``Database`` handle whose connections raise the store's own
errors, never a driver's.

Everything above ``tokenstore`` opens a ``db.transaction()`` or ``db.connection()`` and
passes the connection to the store's functions; it sees ``StoreUnavailable`` and
``Conflict``, never SQLAlchemy or psycopg (procrastinate's ``wrap_exceptions``).
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tokenstore.errors import Conflict, StoreUnavailable
from tokenstore.schema import DEFAULT_SCHEMA, connect_args
from tokenstore.settings import sqlalchemy_url

POOL_SIZE = 10
POOL_TIMEOUT_S = 5

# What the store's functions take: a connection from ``Database.transaction()``/``connection()``.
Connection = AsyncConnection

T = TypeVar("T")

_CONFLICTS = (psycopg.errors.UniqueViolation, psycopg.errors.ForeignKeyViolation)


def _constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _reason(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _is_transient(exc: BaseException) -> bool:
    """A connection problem, which goes away by itself, rather than a fault of the query."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    if isinstance(exc, psycopg.Error):
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return isinstance(exc, sa_exc.TimeoutError | OSError)


@contextlib.contextmanager
def wrap_exceptions() -> Iterator[None]:
    """Re-raise a driver error as the store's own: a conflict by constraint name, or
    the database being unavailable (``transient`` when it is a connection problem)."""
    try:
        yield
    except IntegrityError as exc:
        if isinstance(exc.orig, _CONFLICTS):
            raise Conflict(_constraint_name(exc)) from exc
        raise StoreUnavailable(type(exc).__name__, transient=False, reason=_reason(exc)) from exc
    except (SQLAlchemyError, psycopg.Error, OSError) as exc:
        raise StoreUnavailable(
            type(exc).__name__, transient=_is_transient(exc), reason=_reason(exc)
        ) from exc


class Database:
    """The link database: a pool of connections that raise only ``tokenstore.errors``."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        # The same pool, its connections in autocommit while checked out for one read.
        self._reads = db.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def from_url(
        cls, database_url: str, pool_size: int = POOL_SIZE, schema: str = DEFAULT_SCHEMA
    ) -> Database:
        """A pool for ``database_url``; it connects lazily, on the first transaction."""
        return cls(create_db(database_url, pool_size, schema))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection in a transaction, committed when the block ends without an error."""
        with wrap_exceptions():
            async with self.db.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for reads, rolled back when the block ends."""
        with wrap_exceptions():
            async with self.db.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """A connection for reads outside any transaction: no BEGIN and ROLLBACK around
        them (two round trips of three for a single SELECT). Each statement sees its own
        snapshot, as under READ COMMITTED anyway; use ``connection()`` for reads that must
        agree with each other."""
        with wrap_exceptions():
            async with self._reads.connect() as conn:
                yield conn

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers a trivial query."""
        async with self.connection() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.db.dispose()


def create_db(
    database_url: str, pool_size: int = POOL_SIZE, schema: str = DEFAULT_SCHEMA
) -> AsyncEngine:
    # No pre-ping: it costs a round trip on every checkout. ``_drop_if_dead`` finds the
    # connections a Postgres restart closed without one; a connection that dies unseen fails
    # its one request (a transient StoreUnavailable, 503) and SQLAlchemy then recycles the
    # whole pool, so the next request gets a fresh connection.
    engine = create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=POOL_TIMEOUT_S,
        pool_pre_ping=False,
        connect_args=connect_args(schema),
    )
    event.listen(engine.sync_engine, "checkout", _drop_if_dead)
    return engine


def _drop_if_dead(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Refuse a pooled connection the server has closed, without a round trip.

    An idle connection has nothing to read: when its socket is readable, the server has sent
    its goodbye (``terminating connection``, a restart) or closed it. Raising
    ``DisconnectionError`` here makes the pool discard it and check out a fresh one.
    """
    conn = record.driver_connection
    if conn is None or conn.closed or conn.broken:
        raise sa_exc.DisconnectionError("connection closed")
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError as exc:
        raise sa_exc.DisconnectionError("connection has no socket") from exc
    poll = select.poll()
    poll.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poll.poll(0):
        raise sa_exc.DisconnectionError("the server closed the connection")


async def one_or_none(
    conn: Connection, stmt: sa.Executable, from_row: Callable[[Any], T]
) -> T | None:
    """Execute ``stmt`` and map its one row (by column name), or None for no row."""
    row = (await conn.execute(stmt)).mappings().one_or_none()
    return None if row is None else from_row(row)


async def one(conn: Connection, stmt: sa.Executable, from_row: Callable[[Any], T]) -> T:
    """Execute ``stmt`` and map its exactly one row (by column name)."""
    return from_row((await conn.execute(stmt)).mappings().one())
