"""Prepared statements: the text compiled once from a construct, parameters as the driver
takes them (JSON wrapped as SQLAlchemy's own bind processors would)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from psycopg.types.json import Json, Jsonb
from sqlalchemy.dialects import postgresql as pg

from tokenstore.prepared import Prepared

_T = sa.table(
    "t",
    sa.column("n", sa.Integer),
    sa.column("doc", pg.JSONB),
    sa.column("schema", pg.JSON),
    sa.column("note", pg.JSONB(none_as_null=True)),
)


def _insert() -> Prepared:
    return Prepared(
        sa.insert(_T).values(
            n=sa.bindparam("p_n", type_=sa.Integer),
            doc=sa.bindparam("p_doc", type_=pg.JSONB),
            schema=sa.bindparam("p_schema", type_=pg.JSON),
            note=sa.bindparam("p_note", type_=pg.JSONB(none_as_null=True)),
        )
    )


def test_json_parameters_are_wrapped_by_their_type() -> None:
    params = _insert().params({"p_n": 1, "p_doc": {"a": 1}, "p_schema": {"b": 2}, "p_note": {}})
    assert params["p_n"] == 1
    assert isinstance(params["p_doc"], Jsonb) and params["p_doc"].obj == {"a": 1}
    assert type(params["p_schema"]) is Json and params["p_schema"].obj == {"b": 2}
    assert isinstance(params["p_note"], Jsonb)


def test_none_is_json_null_unless_the_type_says_sql_null() -> None:
    params = _insert().params({"p_n": 1, "p_doc": None, "p_schema": None, "p_note": None})
    assert isinstance(params["p_doc"], Jsonb) and params["p_doc"].obj is None
    assert params["p_note"] is None


def test_values_the_construct_bound_itself_are_sent_with_it() -> None:
    limited = Prepared(sa.select(_T.c.n).where(_T.c.n == 0).limit(1))
    assert "%(n_1)s" in limited.sql and "%(param_1)s" in limited.sql
    assert limited.params({}) == {"n_1": 0, "param_1": 1}
    # Including a bound None, which the text still names as a parameter.
    nulled = Prepared(sa.update(_T).values(n=None).where(_T.c.n == sa.bindparam("p_n")))
    assert nulled.params({"p_n": 3}) == {"n": None, "p_n": 3}


def test_an_in_list_is_refused_at_import_not_at_the_first_call() -> None:
    with pytest.raises(ValueError, match="IN list"):
        Prepared(sa.select(_T.c.n).where(_T.c.n.in_([1, 2])))


def test_a_text_statement_wraps_the_json_it_names_arrays_item_by_item() -> None:
    issue = Prepared(
        "SELECT %(one)s, %(many)s::jsonb[], %(schemas)s::json[], %(absent)s::jsonb[]",
        json={"one": "jsonb", "many": "jsonb[]", "schemas": "json[]", "absent": "jsonb[]"},
    )
    params = issue.params(
        {"one": [1, 2], "many": [{"a": 1}, {}], "schemas": [None, {"b": 2}], "absent": None}
    )
    assert isinstance(params["one"], Jsonb) and params["one"].obj == [1, 2]  # one list value
    assert [type(v) for v in params["many"]] == [Jsonb, Jsonb]
    # None in an array is JSON null, as SQLAlchemy wrote a JSON column's None before.
    assert [(type(v), v.obj) for v in params["schemas"]] == [(Json, None), (Json, {"b": 2})]
    assert params["absent"] is None
