from __future__ import annotations

from typing import Any

import pytest

from linkserver import forms
from tokenstore import answerschema
from tokenstore.errors import InvalidInput, InvalidVariable
from tokenstore.variables import (
    TypedValue,
    check_model_name,
    check_name,
    typed,
    typed_map,
    utf16_units,
)

SCHEMA = answerschema.check_schema(
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
        answerschema.check_schema(schema)


def test_form_strings_are_coerced_then_validated() -> None:
    form = {"amount": " 42 ", "note": "hi", "urgent": "on", "ratio": "0.5"}
    values = answerschema.validate(SCHEMA, forms.coerce_form(SCHEMA, form))
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
        ({"amount": "12abc"}, "amount", "must be an integer"),
        ({"amount": "3", "note": "x" * 21}, "note", "must be at most 20 characters"),
    ],
)
def test_invalid_form_input_names_the_field(form: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        answerschema.validate(SCHEMA, forms.coerce_form(SCHEMA, form))
    assert caught.value.errors[field] == message


def test_json_input_must_be_an_object() -> None:
    with pytest.raises(InvalidInput):
        answerschema.validate(SCHEMA, [1, 2])


def test_integral_float_becomes_an_integer() -> None:
    assert answerschema.validate(SCHEMA, {"amount": 5.0})["amount"] == TypedValue("Integer", 5)


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
        answerschema.check_schema(schema)
    assert caught.value.detail is not None
    assert caught.value.detail.startswith(message)


def test_every_supported_keyword_is_accepted() -> None:
    schema = answerschema.check_schema(
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
        answerschema.validate(SCHEMA, {"amount": 5, "extra": "x"})
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
        answerschema.validate(stored, {"amount": 5, "x_note": "hi"})
    assert caught.value.errors == {"x_note": "unexpected field"}


def test_an_untyped_stored_property_is_refused_not_guessed() -> None:
    stored = {"type": "object", "properties": {"anything": {}}, "additionalProperties": False}
    with pytest.raises(InvalidInput) as caught:
        answerschema.validate(stored, {"anything": [1, 2]})
    assert caught.value.errors == {"anything": "this field has no type an answer can be sent as"}


def _one(**prop: Any) -> dict[str, Any]:
    return answerschema.check_schema({"type": "object", "properties": {"f": prop}})


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("email", ["ann@example.com", "a.b+c@mail.example.org"], ["ann", "a@b", "@x.y", "a b@x.y"]),
        (
            "date",
            ["2026-12-01", "2024-02-29"],
            ["2026-13-01", "2026-02-30", "20261201", "1.1.2026"],
        ),
        (
            "date-time",
            ["2026-12-01T09:00:00Z", "2026-12-01T09:00:00.123+01:00", "2026-12-01t09:00:00z"],
            ["2026-12-01T09:00:00", "2026-12-01 09:00", "2026-12-01T25:00:00Z", "tomorrow"],
        ),
        (
            "uri",
            ["https://example.com/x?y=1", "http://127.0.0.1:8080/"],
            ["javascript:alert(1)", "ftp://example.com", "https://", "http://x:port/", "/rel"],
        ),
        (
            "uuid",
            ["123e4567-e89b-12d3-a456-426614174000"],
            ["123e4567e89b12d3a456426614174000", "{123e4567-e89b-12d3-a456-426614174000}", "x"],
        ),
    ],
)
def test_formats_are_enforced(fmt: str, good: list[str], bad: list[str]) -> None:
    schema = _one(type="string", format=fmt)
    for text in good:
        assert answerschema.validate(schema, {"f": text}) == {"f": TypedValue("String", text)}
    for text in bad:
        with pytest.raises(InvalidInput) as caught:
            answerschema.validate(schema, {"f": text})
        assert caught.value.errors["f"].startswith("must be "), text


@pytest.mark.parametrize(
    ("step", "good", "bad"),
    [
        (0.01, [0.3, 19.99, 0.07, 5, 1e20], [0.305, 0.001]),
        (0.1, [0.3, 0.7, 1.1], [0.35]),
        (3, [9, -3, 0], [10]),
        (0.5, [2.5, 1e300], [0.3]),
    ],
)
def test_multiple_of_is_exact_decimal_arithmetic(
    step: float, good: list[float], bad: list[float]
) -> None:
    schema = _one(type="number", multipleOf=step)
    for value in good:
        assert answerschema.validate(schema, {"f": value})["f"].type == "Double"
    for value in bad:
        with pytest.raises(InvalidInput, match="multiple of"):
            answerschema.validate(schema, {"f": value})


def test_lengths_count_utf16_units_like_camunda() -> None:
    schema = _one(type="string", minLength=2, maxLength=4)
    assert answerschema.validate(schema, {"f": "\U0001f600"})["f"].value == "\U0001f600"  # 2 units
    assert answerschema.validate(schema, {"f": "\U0001f600\U0001f600"})  # 4 units
    with pytest.raises(InvalidInput) as caught:
        answerschema.validate(schema, {"f": "ab\U0001f600x"})  # 4 characters, 5 units
    assert caught.value.errors == {"f": "must be at most 4 characters (an emoji counts as two)"}
    with pytest.raises(InvalidInput):
        answerschema.validate(schema, {"f": "a"})


@pytest.mark.parametrize(
    ("prop", "value", "message"),
    [
        ({"type": "number"}, float("nan"), "must be a finite number"),
        ({"type": "number"}, float("inf"), "must be a finite number"),
        ({"type": "number"}, 10**400, "must be between"),
        ({"type": "integer"}, 2**63, "must be between"),
        ({"type": "integer"}, -(2**63) - 1, "must be between"),
        ({"type": "integer"}, 1e300, "must be between"),
        ({"type": "string"}, "a\x00b", "may not contain a NUL character"),
        ({"type": "string"}, "a\ud800b", "may not contain lone surrogates"),
        ({"type": "string"}, "x" * 4001, "may hold at most 4000 characters"),
        ({"type": "string", "enum": ["a\x00"]}, "a\x00", "may not contain a NUL character"),
    ],
)
def test_values_camunda_cannot_take_are_refused(
    prop: dict[str, Any], value: object, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        answerschema.validate(_one(**prop), {"f": value})
    assert caught.value.errors["f"].startswith(message)


def test_longs_at_the_edges_are_accepted() -> None:
    schema = _one(type="integer")
    assert answerschema.validate(schema, {"f": 2**63 - 1})["f"] == TypedValue("Long", 2**63 - 1)
    assert answerschema.validate(schema, {"f": -(2**63)})["f"] == TypedValue("Long", -(2**63))


def test_a_catastrophic_pattern_is_matched_by_re2() -> None:
    schema = _one(type="string", pattern="^([A-Za-z]+ ?)+$")
    # Python's re would take longer than the age of the universe on this; RE2 is linear.
    with pytest.raises(InvalidInput) as caught:
        answerschema.validate(schema, {"f": "a" * 3998 + "!"})
    assert caught.value.errors == {"f": "has the wrong format"}
    assert answerschema.validate(schema, {"f": "Ann Lee"})["f"].value == "Ann Lee"


def test_patterns_search_like_json_schema() -> None:
    schema = _one(type="string", pattern="[0-9]{3}")
    assert answerschema.validate(
        schema, {"f": "ab123cd"}
    )  # unanchored, as ECMA 262 and JSON Schema
    with pytest.raises(InvalidInput):
        answerschema.validate(schema, {"f": "ab12cd"})


@pytest.mark.parametrize(
    ("prop", "message"),
    [
        ({"type": "string", "pattern": "(a)\\1"}, "cannot be used"),
        ({"type": "string", "pattern": "(?<=a)b"}, "cannot be used"),
        ({"type": "string", "format": "hostname"}, "format 'hostname' is not supported"),
        ({"type": "string", "format": "regex"}, "format 'regex' is not supported"),
        ({"type": "integer", "format": "date"}, "format 'date' is not supported"),
        ({"type": "number", "maximum": float("inf")}, "maximum must be a finite number"),
        ({"type": "number", "multipleOf": float("nan")}, "multipleOf must be a finite number"),
    ],
)
def test_schemas_this_product_cannot_enforce_are_refused(
    prop: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidVariable) as caught:
        _one(**prop)
    assert caught.value.detail is not None and message in caught.value.detail


def test_a_stored_schema_whose_pattern_re2_cannot_run_refuses_rather_than_guesses() -> None:
    stored = {
        "type": "object",
        "properties": {"f": {"type": "string", "pattern": "(a)\\1"}},
        "additionalProperties": False,
    }
    with pytest.raises(InvalidInput) as caught:
        answerschema.validate(stored, {"f": "aa"})
    assert "please ask for a new link" in caught.value.errors["f"]


def test_a_deeply_nested_schema_is_refused_without_recursion() -> None:
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"not": deep}
    with pytest.raises(InvalidVariable, match="nested deeper"):
        answerschema.check_schema({"type": "object", "properties": {"f": deep}})


@pytest.mark.parametrize("name", ["Betrag_ü", "montantÉ", "$x", "_", "a1", "名前", "x" * 255])
def test_names_camunda_and_juel_accept(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1a", "a b", "a-b", "a.b", "null", "empty", "x" * 256, "a\x00", "a\u200b", 7, None],
)
def test_names_camunda_or_juel_refuse(name: object) -> None:
    with pytest.raises(InvalidVariable, match="not a usable variable name"):
        check_model_name(name)


@pytest.mark.parametrize("name", ["actionLink", "actionLinkRedemptionId", "actionLinks"])
def test_the_action_link_prefix_is_reserved(name: str) -> None:
    assert check_name(name) == name  # fine for the worker's own outputs
    with pytest.raises(InvalidVariable, match="reserved"):
        check_model_name(name)


def test_utf16_units() -> None:
    assert utf16_units("abc") == 3
    assert utf16_units("\U0001f600") == 2
    assert utf16_units("é\U0001f600") == 3


def test_jsonschema_never_runs_a_pattern_with_python_re() -> None:
    # \pL is RE2 for "any letter"; Python's re refuses it, so had jsonschema checked or run
    # the pattern with re, check_schema would refuse it and validate would raise re.error.
    schema = _one(type="string", pattern="^\\pL+$")
    assert answerschema.validate(schema, {"f": "Größe"})["f"].value == "Größe"
    with pytest.raises(InvalidInput):
        answerschema.validate(schema, {"f": "size 5"})


def test_a_stored_value_is_read_back_as_stored_even_over_todays_cap() -> None:
    # Stored under looser rules: it must still be delivered (the engine's refusal ends it),
    # never jam the retry loop with an error on every read.
    long_text = "\U0001f600" * 2001
    assert utf16_units(long_text) > 4000
    value = TypedValue.from_json({"type": "String", "value": long_text})
    assert value == TypedValue("String", long_text)
    with pytest.raises(InvalidVariable):
        TypedValue.from_json({"type": "Object", "value": "rO0AB"})
