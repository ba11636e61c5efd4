"""Property tests: whatever arrives, the answer is a value or the package's own error."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkserver.forms import FormAnswer
from tokenstore import answerschema, tokens
from tokenstore.errors import InvalidInput, InvalidToken, InvalidVariable
from tokenstore.tokens import Keyring
from tokenstore.variables import (
    ALLOWED_TYPES,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    MAX_STRING_UTF16_UNITS,
    TypedValue,
    typed,
    utf16_units,
)

# Modest counts keep the unit suite fast; no example database is written into the worktree.
PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KEYRING = Keyring.parse("k1:test-secret-key-0123456789abcdef,k0:older-secret-key-0123456789abcdef")
SCHEMAS = [
    answerschema.check_schema(
        {
            "type": "object",
            "properties": {
                "amount": {"type": "integer", "minimum": 1, "maximum": 500, "multipleOf": 5},
                "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
                "name": {"type": "string", "pattern": "^([A-Za-z]+ ?)+$", "maxLength": 40},
                "urgent": {"type": "boolean"},
            },
            "required": ["amount"],
        }
    ),
    answerschema.check_schema(
        {
            "type": "object",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "day": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "date-time"},
                "site": {"type": "string", "format": "uri"},
                "ref": {"type": "string", "format": "uuid"},
                "size": {"type": "string", "enum": ["S", "M", "L"], "minLength": 1},
                "ratio": {"type": "number"},
                "count": {"type": "integer"},
            },
        }
    ),
]
FIELD_NAMES = sorted({name for schema in SCHEMAS for name in schema["properties"]})
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.sampled_from(["2026-12-01", "2026-12-01T09:00:00Z", "a@b.cd", "https://x.y", "nan"])
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
ANSWERS = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), JSONISH, max_size=6)
FORMS = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(max_size=8),
    st.text() | st.sampled_from(["nan", "inf", "-inf", "1e400", "9" * 400, "0.3", " 5 ", "on"]),
    max_size=6,
)


def camunda_accepts(value: TypedValue) -> bool:
    """What Camunda and its databases take: the product's contract for a typed value."""
    if value.type == "String":
        return (
            isinstance(value.value, str)
            and utf16_units(value.value) <= MAX_STRING_UTF16_UNITS
            and "\x00" not in value.value
        )
    if value.type in ("Integer", "Long"):
        low, high = (INT32_MIN, INT32_MAX) if value.type == "Integer" else (INT64_MIN, INT64_MAX)
        return type(value.value) is int and low <= value.value <= high
    if value.type == "Double":
        return type(value.value) is float and math.isfinite(value.value)
    if value.type == "Boolean":
        return type(value.value) is bool
    return value.type == "Date" and isinstance(value.value, str)


@PROPERTIES
@given(st.text(max_size=80) | st.text(alphabet="k01.-_ABCabc=", max_size=60))
def test_any_string_verifies_or_is_an_invalid_token(text: str) -> None:
    try:
        token_hash = tokens.verify(KEYRING, text)
    except InvalidToken:
        return
    assert isinstance(token_hash, bytes) and len(token_hash) == 32


@PROPERTIES
@given(st.data())
def test_a_minted_token_round_trips_and_any_change_is_refused(data: st.DataObject) -> None:
    minted = tokens.mint(KEYRING)
    assert tokens.verify(KEYRING, minted.token) == minted.token_hash
    position = data.draw(st.integers(min_value=0, max_value=len(minted.token) - 1))
    char = data.draw(st.characters())
    changed = minted.token[:position] + char + minted.token[position + 1 :]
    if changed == minted.token:
        return
    # Every character is covered by the tag or checked for its canonical spelling.
    with pytest.raises(InvalidToken):
        tokens.verify(KEYRING, changed)


@PROPERTIES
@given(st.sampled_from(SCHEMAS), ANSWERS | JSONISH)
def test_any_json_answer_validates_to_typed_values_or_invalid_input(
    schema: dict[str, Any], answer: Any
) -> None:
    errors: dict[str, str] | None = None
    try:
        values = answerschema.validate(schema, answer)
    except InvalidInput as exc:
        errors, values = exc.errors, {}
    if errors is not None:
        assert errors and all(isinstance(m, str) and m for m in errors.values())
        return
    assert set(values) <= set(schema["properties"])
    assert all(camunda_accepts(value) for value in values.values())


@PROPERTIES
@given(st.sampled_from(SCHEMAS), FORMS)
def test_any_form_coerces_and_validates_or_is_invalid_input(
    schema: dict[str, Any], form: dict[str, str]
) -> None:
    checked = answerschema.check(schema, FormAnswer(form).typed(schema))
    if checked.errors is None:
        assert all(camunda_accepts(value) for value in checked.values.values())
    else:
        assert checked.errors and not checked.values


@PROPERTIES
@given(JSONISH, st.sampled_from([*ALLOWED_TYPES, None, "Json", "Object", 5]))
def test_typed_returns_what_camunda_accepts_or_invalid_variable(
    value: Any, type_name: object
) -> None:
    try:
        result = typed(value, type_name)
    except InvalidVariable:
        return
    assert camunda_accepts(result)
    assert type_name is None or result.type == type_name
