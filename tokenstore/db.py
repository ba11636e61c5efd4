"""The async SQLAlchemy engine both daemons share the shape of."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tokenstore.schema import DEFAULT_SCHEMA, connect_args
from tokenstore.settings import sqlalchemy_url

POOL_SIZE = 10
POOL_TIMEOUT_S = 5


def create_engine(
    database_url: str, pool_size: int = POOL_SIZE, schema: str = DEFAULT_SCHEMA
) -> AsyncEngine:
    # pre_ping makes a pool survive a Postgres restart without handing out dead connections.
    return create_async_engine(
        sqlalchemy_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=POOL_TIMEOUT_S,
        pool_pre_ping=True,
        connect_args=connect_args(schema),
    )
