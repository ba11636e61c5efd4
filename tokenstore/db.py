"""The one database boundary: a ``Database`` handle whose connections raise the store's own
errors, never a driver's.

Everything above ``tokenstore`` opens a ``db.transaction()`` or ``db.connection()`` and
passes the connection to the store's functions; it sees ``StoreUnavailable`` and
``Conflict``, never SQLAlchemy or psycopg (procrastinate's ``wrap_exceptions``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, LiteralString, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tokenstore.errors import Conflict, StoreUnavailable
from tokenstore.pool import DriverConnection, DriverPool
from tokenstore.schema import DEFAULT_SCHEMA, connect_args
from tokenstore.settings import sqlalchemy_url

POOL_SIZE = 10
POOL_TIMEOUT_S = 5

# What the store's functions take: a connection from ``Database.transaction()``/``connection()``.
Connection = AsyncConnection
# What the prepared statements (tokenstore.prepared) take: a transaction's connection, or one
# from ``Database.read()``/``single_statement()`` (outside any transaction, on the driver pool).
AnyConnection = Connection | DriverConnection

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
    except _CONFLICTS as exc:  # from a prepared statement (tokenstore.prepared): no wrapper
        raise Conflict(exc.diag.constraint_name) from exc
    except IntegrityError as exc:
        if isinstance(exc.orig, _CONFLICTS):
            raise Conflict(_constraint_name(exc)) from exc
        raise StoreUnavailable(type(exc).__name__, transient=False, reason=_reason(exc)) from exc
    except (SQLAlchemyError, psycopg.Error, OSError) as exc:
        raise StoreUnavailable(
            type(exc).__name__, transient=_is_transient(exc), reason=_reason(exc)
        ) from exc


class Database:
    """The link database: two pools of connections that raise only ``tokenstore.errors``.

    Transactions run on SQLAlchemy's pool (``db``); the statements sent outside any
    transaction, a click's and a page's, on a pool of bare psycopg connections
    (``tokenstore.pool``). Each holds up to ``pool_size`` connections.
    """

    def __init__(
        self,
        db: AsyncEngine,
        *,
        autocommit: bool = False,
        schema: str = DEFAULT_SCHEMA,
    ) -> None:
        """``autocommit``: ``db`` was made so (``create_db(autocommit=True)``), as every
        connection here is: transactions send their own BEGIN. The statements outside a
        transaction get a pool of their own, to ``db``'s database on ``schema``, as large."""
        self.db = db
        # The same pool, its connections in autocommit while checked out. An engine made so
        # skips setting and resetting that on every checkout (measured: 81 µs a checkout and
        # return with it, 55 without).
        self._reads = db if autocommit else db.execution_options(isolation_level="AUTOCOMMIT")
        self._statements = DriverPool(
            db.url.set(drivername="postgresql").render_as_string(hide_password=False),
            connect_args(schema),
            db.pool.size() if isinstance(db.pool, sa.QueuePool) else POOL_SIZE,
            POOL_TIMEOUT_S,
        )

    @classmethod
    def from_url(
        cls, database_url: str, pool_size: int = POOL_SIZE, schema: str = DEFAULT_SCHEMA
    ) -> Database:
        """Pools for ``database_url``; they connect lazily, on the first use."""
        engine = create_db(database_url, pool_size, schema, autocommit=True)
        return cls(engine, autocommit=True, schema=schema)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection in a transaction, committed when the block ends without an error.

        A pooled connection that turns out dead is replaced once, at its BEGIN (see
        ``_begun``), before the block runs: no statement of the block is ever repeated.
        """
        with wrap_exceptions():
            async with self._begun() as conn:
                try:
                    yield conn
                except BaseException:
                    await _rollback_quietly(conn)
                    raise
                await _send(conn, "COMMIT")

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for reads that agree with each other, rolled back when the block ends
        (a dead pooled connection is replaced once, as for ``transaction()``)."""
        with wrap_exceptions():
            async with self._begun() as conn:
                try:
                    yield conn
                finally:
                    await _rollback_quietly(conn)

    @contextlib.asynccontextmanager
    async def single_statement(self) -> AsyncIterator[DriverConnection]:
        """A connection outside any transaction, for one data-modifying statement that is
        atomic by itself (Postgres commits it on its own): no BEGIN and COMMIT round trips
        around it. Not for two statements that must change things together. Statements are
        sent prepared (``tokenstore.prepared``); a dead connection fails the block (whether
        the statement was written is then unknown), and the pool drops the idle ones with it."""
        with wrap_exceptions():
            async with self._statements.connection() as conn:
                yield conn

    async def read(self, reader: Callable[[DriverConnection], Awaitable[T]]) -> T:
        """``reader`` on a connection outside any transaction (no BEGIN and ROLLBACK around
        it: two round trips of three for a single SELECT; each statement sees its own
        snapshot, as under READ COMMITTED anyway; use ``connection()`` for reads that must
        agree with each other). Run again, once, on a new connection if this one turns out
        dead (the pool has dropped every idle one with it: after a restart all are dead): a
        read is safe to repeat."""
        with wrap_exceptions():
            lost = False
            try:
                async with self._statements.connection() as conn:
                    try:
                        return await reader(conn)
                    except psycopg.Error:
                        lost = conn.closed or conn.broken
                        raise
            except psycopg.Error:
                if not lost:
                    raise
            async with self._statements.connection() as conn:
                return await reader(conn)

    @contextlib.asynccontextmanager
    async def _begun(self) -> AsyncIterator[Connection]:
        """A connection with a transaction begun by an explicit BEGIN.

        Every transaction sends its BEGIN as a round trip of its own anyway (psycopg does so
        before the first statement); sent here, before the caller's block runs, it finds a
        connection the server has closed (a restart, ``pg_terminate_backend``, an idle
        timeout) at no extra cost. SQLAlchemy then invalidates it (and, on a restart, the
        connections checked out before it) and the BEGIN is tried once more on a fresh one:
        no pre-ping, no check on checkout. A connection that dies later fails its request
        (a transient ``StoreUnavailable``) and is not reused.
        """
        conn = await self._reads.connect()
        try:
            await _send(conn, "BEGIN")
        except (sa_exc.DBAPIError, psycopg.Error):
            lost = conn.invalidated
            await conn.close()
            if not lost:
                raise
            conn = await self._reads.connect()
            try:
                await _send(conn, "BEGIN")
            except BaseException:
                await conn.close()
                raise
        try:
            yield conn
        finally:
            await conn.close()

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers a trivial query."""
        async with self.connection() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self._statements.close()
        await self.db.dispose()


def create_db(
    database_url: str,
    pool_size: int = POOL_SIZE,
    schema: str = DEFAULT_SCHEMA,
    autocommit: bool = False,
) -> AsyncEngine:
    # No pre-ping: it costs a round trip on every checkout. A dead connection shows at the
    # BEGIN every transaction sends anyway, and is replaced once there (Database._begun);
    # a read through Database.read() is run again once.
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        # No overflow: the statements outside a transaction, most of the load, have a pool
        # of their own (Database), so a database handle holds at most twice pool_size.
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        pool_pre_ping=False,
        connect_args=connect_args(schema),
        # Autocommit: for Database only (a transaction there sends its own BEGIN); an engine
        # whose begin() should begin a transaction is made without it.
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )


async def _rollback_quietly(conn: Connection) -> None:
    """End the block's transaction; the connection may be dead already (then it is
    invalidated, and nothing is left to roll back)."""
    with contextlib.suppress(SQLAlchemyError, psycopg.Error, OSError):
        await _send(conn, "ROLLBACK")


@contextlib.asynccontextmanager
async def on_driver(conn: Connection) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The psycopg connection under ``conn``, for the statements sent past SQLAlchemy's
    execute path (``_send``, ``tokenstore.prepared``). One that turns out dead goes the way
    SQLAlchemy sends its own: the next statement on it fails there as a disconnect, which
    invalidates it (``conn.invalidated``, what ``_begun`` and ``read`` retry on) and every
    pooled connection older than it (after a restart they are all dead)."""
    fairy = await conn.get_raw_connection()
    driver: psycopg.AsyncConnection[Any] = fairy.driver_connection  # type: ignore[assignment]
    try:
        yield driver
    except psycopg.Error:
        if driver.closed or driver.broken:
            with contextlib.suppress(sa_exc.DBAPIError):
                await conn.exec_driver_sql(";")
        raise


async def _send(conn: Connection, command: LiteralString) -> None:
    """BEGIN, COMMIT or ROLLBACK on the driver itself: through SQLAlchemy's execute path
    each cost about as much again as its round trip."""
    async with on_driver(conn) as driver:
        await driver.execute(command)


async def one_or_none(
    conn: Connection, stmt: sa.Executable, from_row: Callable[[Any], T]
) -> T | None:
    """Execute ``stmt`` and map its one row (by column name), or None for no row."""
    row = (await conn.execute(stmt)).mappings().one_or_none()
    return None if row is None else from_row(row)


async def one(conn: Connection, stmt: sa.Executable, from_row: Callable[[Any], T]) -> T:
    """Execute ``stmt`` and map its exactly one row (by column name)."""
    return from_row((await conn.execute(stmt)).mappings().one())
