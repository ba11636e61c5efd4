from __future__ import annotations

from typing import Any

import pytest

from tokenstore import inputs
from tokenstore.errors import InvalidInput, InvalidVariable
from tokenstore.variables import TypedValue, typed, typed_map

SCHEMA = inputs.check_schema(
    {
        "type": "object",
        "properties": {
            "amount": {"type": "integer", "minimum": 1, "maximum": 500, "title": "Other amount"},
            "note": {"type": "string", "maxLength": 20},
            "urgent": {"type": "boolean"},
            "ratio": {"type": "number"},
        },
        "required": ["amount"],
    }
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, TypedValue("Boolean", True)),
        (20, TypedValue("Integer", 20)),
        (2**40, TypedValue("Long", 2**40)),
        (1.5, TypedValue("Double", 1.5)),
        ("yes", TypedValue("String", "yes")),
    ],
)
def test_plain_values_are_typed(value: object, expected: TypedValue) -> None:
    assert typed(value) == expected


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"x", float("nan")])
def test_non_plain_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidVariable):
        typed(value)


def test_explicit_types_are_checked() -> None:
    assert typed(5, "Long") == TypedValue("Long", 5)
    assert typed("2026-12-01T09:00:00Z", "Date") == TypedValue(
        "Date", "2026-12-01T09:00:00.000+0000"
    )
    for value, kind in [(2**40, "Integer"), ("1", "Integer"), (True, "Long"), ("x", "Boolean")]:
        with pytest.raises(InvalidVariable):
            typed(value, kind)
    with pytest.raises(InvalidVariable, match="Object"):
        typed({"a": 1}, "Object")
    with pytest.raises(InvalidVariable, match="time zone"):
        typed("2026-12-01T09:00:00", "Date")


def test_typed_map_names_the_bad_variable() -> None:
    assert typed_map({"ok": 1, "x": {"type": "Long", "value": 2}}) == {
        "ok": TypedValue("Integer", 1),
        "x": TypedValue("Long", 2),
    }
    with pytest.raises(InvalidVariable, match="'bad'"):
        typed_map({"bad": {"type": "Json", "value": "{}"}})
    with pytest.raises(InvalidVariable, match="variable name"):
        typed_map({"not a name": 1})


@pytest.mark.parametrize(
    "schema",
    [
        "not a schema",
        {"type": "array"},
        {"type": "object"},
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"a": {"type": "object"}}},
        {"type": "object", "properties": {"a": {"type": "integer", "minimum": "one"}}},
    ],
)
def test_unusable_schemas_are_refused(schema: Any) -> None:
    with pytest.raises(InvalidVariable):
        inputs.check_schema(schema)


def test_form_strings_are_coerced_then_validated() -> None:
    form = {"amount": " 42 ", "note": "hi", "urgent": "on", "ratio": "0.5"}
    values = inputs.validate(SCHEMA, inputs.coerce_form(SCHEMA, form))
    assert values == {
        "amount": TypedValue("Integer", 42),
        "note": TypedValue("String", "hi"),
        "urgent": TypedValue("Boolean", True),
        "ratio": TypedValue("Double", 0.5),
    }


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"amount": ""}, "amount", "please fill this in"),
        ({"amount": "0"}, "amount", "must be at least 1"),
        ({"amount": "501"}, "amount", "must be at most 500"),
        ({"amount": "12abc"}, "amount", "must be a integer"),
        ({"amount": "3", "note": "x" * 21}, "note", "must be at most 20 characters"),
    ],
)
def test_invalid_form_input_names_the_field(form: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        inputs.validate(SCHEMA, inputs.coerce_form(SCHEMA, form))
    assert caught.value.errors[field] == message


def test_json_input_must_be_an_object() -> None:
    with pytest.raises(InvalidInput):
        inputs.validate(SCHEMA, [1, 2])


def test_integral_float_becomes_an_integer() -> None:
    assert inputs.validate(SCHEMA, {"amount": 5.0})["amount"] == TypedValue("Integer", 5)
