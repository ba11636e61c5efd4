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


def _flat(**extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"amount": {"type": "integer"}}, **extra}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            _flat(patternProperties={"^x_": {"type": "string"}}),
            "the input schema uses keyword 'patternProperties', which this product does not "
            "support; allowed: type, properties, required, title, description, "
            "additionalProperties, $schema",
        ),
        (
            _flat(additionalProperties=True),
            "the input schema keyword 'additionalProperties' may only be false",
        ),
        (
            _flat(additionalProperties={"type": "string"}),
            "the input schema keyword 'additionalProperties' may only be false",
        ),
        (
            {
                "type": "object",
                "properties": {"tags": {"type": "string", "items": {"type": "string"}}},
            },
            "input property 'tags' uses keyword 'items', which this product does not support; "
            "allowed: type, title, description, minimum, maximum, exclusiveMinimum, "
            "exclusiveMaximum, multipleOf, minLength, maxLength, pattern, enum, format, default",
        ),
        (
            {"type": "object", "properties": {"amount": {"$ref": "#/$defs/amount"}}},
            "input property 'amount' uses keyword '$ref', which this product does not support",
        ),
        (
            _flat(**{"$defs": {"amount": {"type": "integer"}}}),
            "the input schema uses keyword '$defs', which this product does not support",
        ),
        (
            _flat(**{"if": {"required": ["amount"]}, "then": {"required": ["note"]}}),
            "the input schema uses keywords 'if', 'then', which this product does not support",
        ),
        (_flat(required=["amount", "amout"]), "required field 'amout' is not a property"),
        (
            {"type": "object", "properties": {"amount": True}},
            "input property 'amount' must be a JSON object",
        ),
    ],
    ids=[
        "patternProperties",
        "additionalProperties true",
        "additionalProperties schema",
        "nested items",
        "$ref",
        "$defs",
        "if/then",
        "required not declared",
        "boolean property schema",
    ],
)
def test_unsupported_schema_keywords_are_named(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidVariable) as caught:
        inputs.check_schema(schema)
    assert caught.value.detail is not None
    assert caught.value.detail.startswith(message)


def test_every_supported_keyword_is_accepted() -> None:
    schema = inputs.check_schema(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "title": "Top up",
            "description": "How much?",
            "properties": {
                "amount": {
                    "type": "number",
                    "title": "Amount",
                    "description": "in dollars",
                    "minimum": 0,
                    "maximum": 500,
                    "exclusiveMinimum": 0,
                    "exclusiveMaximum": 501,
                    "multipleOf": 0.5,
                    "default": 20,
                },
                "code": {
                    "type": "string",
                    "minLength": 2,
                    "maxLength": 8,
                    "pattern": "^[A-Z]+$",
                    "format": "email",
                },
                "size": {"type": "string", "enum": ["S", "M", "L"]},
            },
            "required": ["amount"],
            "additionalProperties": False,
        }
    )
    assert schema["additionalProperties"] is False


def test_an_undeclared_field_is_an_unexpected_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        inputs.validate(SCHEMA, {"amount": 5, "extra": "x"})
    assert caught.value.errors == {"extra": "unexpected field"}


def test_an_undeclared_field_is_refused_even_by_a_permissive_stored_schema() -> None:
    # A schema stored before check_schema refused patternProperties: the pattern admits the
    # field, but it has no declared type, so it must be refused, never looked up.
    stored = {
        "type": "object",
        "properties": {"amount": {"type": "integer"}},
        "patternProperties": {"^x_": {"type": "string"}},
        "additionalProperties": False,
    }
    with pytest.raises(InvalidInput) as caught:
        inputs.validate(stored, {"amount": 5, "x_note": "hi"})
    assert caught.value.errors == {"x_note": "unexpected field"}


def test_an_untyped_stored_property_is_refused_not_guessed() -> None:
    stored = {"type": "object", "properties": {"anything": {}}, "additionalProperties": False}
    with pytest.raises(InvalidInput) as caught:
        inputs.validate(stored, {"anything": [1, 2]})
    assert caught.value.errors == {"anything": "this field has no type an answer can be sent as"}
