"""The hot statements, run on the driver itself: SQL text compiled once, prepared once per
connection, rows as dicts for the ``from_row`` classmethods.

Measured: SQLAlchemy's execute path (its cache lookup, parameter processing, result wrapping
and the greenlet hop into the driver) cost about as much as the round trip of the statement
itself, and a click runs three such statements, a page GET one. Here a statement is still
written once, as a SQLAlchemy construct (or as text where a construct cannot say it), and
compiled to text once at import; each call only wraps the JSON parameters as SQLAlchemy
would and sends the text with ``prepare=True``, so Postgres plans it once per connection.

The connection is one ``Database`` handed out: a transaction's (its driver connection
underneath: a statement that finds it closed invalidates it as SQLAlchemy would,
``db.on_driver``, and the next BEGIN replaces it), or a bare psycopg connection of the pool
for statements outside a transaction (``Database.read``/``single_statement``, which drop a
dead one and run a read again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import psycopg
import sqlalchemy as sa
from psycopg.pq.abc import PGresult
from psycopg.types.json import Json, Jsonb
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from tokenstore.db import AnyConnection, on_driver

Row = dict[str, Any]
JsonType = Literal["json", "jsonb", "json[]", "jsonb[]"]

_DIALECT = psycopg_dialect()  # type: ignore[no-untyped-call]


class Prepared:
    """One statement, compiled to the driver's text once; run it with ``one_or_none``/``all``."""

    def __init__(
        self, statement: sa.ClauseElement | str, json: Mapping[str, JsonType] | None = None
    ) -> None:
        """``statement`` as a construct, or as text with ``%(name)s`` parameters whose JSON
        ones ``json`` names with their type (``jsonb[]``: a list, each item one jsonb; None is
        JSON null there, as for a SQLAlchemy JSON type by default)."""
        if isinstance(statement, str):
            self.sql = statement
            self._names: tuple[str, ...] = ()
            self._defaults: dict[str, Any] = {}
            self._json: dict[str, JsonType] = dict(json or {})
            self._none_is_null: frozenset[str] = frozenset()
            return
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self._names = ()
        binds = [(name, b) for b, name in compiled.bind_names.items()]  # as the text names them
        if any(b.expanding for _, b in binds):
            # An IN list is expanded per call; the text would not be the same each time.
            raise ValueError("an IN list cannot be prepared: compare with = ANY(array)")
        # Values the construct bound itself (a LIMIT 1, a uses = 0, a NULL), sent as parameters.
        self._defaults = {name: b.value for name, b in binds if not b.required}
        self._json = {
            name: "jsonb" if isinstance(b.type, JSONB) else "json"
            for name, b in binds
            if isinstance(b.type, sa.JSON)
        }
        self._none_is_null = frozenset(
            name for name, b in binds if isinstance(b.type, sa.JSON) and b.type.none_as_null
        )

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` as the driver takes them: a JSON value wrapped as SQLAlchemy's bind
        processor would (None is JSON null unless the type says ``none_as_null``)."""
        params = {**self._defaults, **given}
        for name, kind in self._json.items():
            value = params.get(name)
            if value is None and name in self._none_is_null:
                continue
            wrap = Jsonb if kind.startswith("jsonb") else Json
            if not kind.endswith("[]"):
                params[name] = wrap(value)
            elif value is not None:
                params[name] = [wrap(v) for v in value]
        return params

    async def one_or_none(self, conn: AnyConnection, params: Mapping[str, Any]) -> Row | None:
        """The statement's first row (by column name), or None for no row."""
        rows = await self._run(conn, params)
        return rows[0] if rows else None

    async def all(self, conn: AnyConnection, params: Mapping[str, Any]) -> list[Row]:
        return await self._run(conn, params)

    async def _run(self, conn: AnyConnection, params: Mapping[str, Any]) -> list[Row]:
        if isinstance(conn, psycopg.AsyncConnection):
            return await self._run_on(conn, params)
        async with on_driver(conn) as driver:
            return await self._run_on(driver, params)

    async def _run_on(
        self, driver: psycopg.AsyncConnection[Any], params: Mapping[str, Any]
    ) -> list[Row]:
        async with driver.cursor() as cursor:
            await cursor.execute(self.sql, self.params(params), prepare=True)
            result = cursor.pgresult
            if result is None or not result.nfields:
                return []
            # Named here, once: psycopg's dict rows build a description (an object per
            # column) for every result, which cost more than the rest of the mapping.
            names = self._names or self._name_columns(result)
            return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]

    def _name_columns(self, result: PGresult) -> tuple[str, ...]:
        self._names = tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
        return self._names
