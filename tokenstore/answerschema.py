"""What a clicker may add to an answer, described by a small JSON Schema.

The schema is an object of flat properties (string, integer, number, boolean), so every
value it admits maps onto one plain typed Camunda variable. It is checked when the link is
issued and again, against the answer, when the link is used. An answer is checked before
any row is locked (``check``), and every check runs in time linear in the answer: patterns
are matched by RE2, which cannot backtrack.
"""

from __future__ import annotations

import decimal
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import re2
from jsonschema.validators import Draft202012Validator

from tokenstore import formats
from tokenstore.errors import InvalidInput, InvalidVariable
from tokenstore.problems import Problem, problem
from tokenstore.variables import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    TypedValue,
    check_model_name,
    text_problem,
    typed,
    utf16_units,
)

PROPERTY_TYPES = ("string", "integer", "number", "boolean")
MAX_PROPERTIES = 20
# Only keywords that validate() and the form honour. Anything else (patternProperties, $ref,
# if/then, items, ...) would be accepted by JSON Schema yet let through answers, or fields,
# that the form cannot show and Camunda cannot receive as a plain variable.
SCHEMA_KEYWORDS = (
    "type",
    "properties",
    "required",
    "title",
    "description",
    "additionalProperties",
    "$schema",
)
PROPERTY_KEYWORDS = (
    "type",
    "title",
    "description",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "format",
    "default",
)
# Checked here, not by jsonschema: its pattern uses Python's backtracking re (a modeler's
# ^([A-Za-z]+ ?)+$ froze the server for seconds on 28 characters), its lengths count code
# points where Camunda counts UTF-16 units, its multipleOf divides floats (0.3 is then no
# multiple of 0.01), and it treats format as a mere annotation.
OWN_KEYWORDS = frozenset({"pattern", "minLength", "maxLength", "multipleOf", "format"})
NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
# The deepest a schema this product accepts can be: object > properties > field > enum > value.
MAX_SCHEMA_DEPTH = 6
NO_FORMATS = jsonschema.FormatChecker(formats=())
# Enough for any exact decimal quotient of a Long or a double by a double.
_DECIMAL_DIGITS = 1200


@dataclass(frozen=True)
class CheckedInput:
    """An answer checked against a link's schema before any row is locked.

    ``schema`` is the one it was checked against: the locked link must have the same.
    """

    schema: Mapping[str, Any] | None = None
    values: Mapping[str, TypedValue] = field(default_factory=dict)
    errors: Mapping[str, str] | None = None


def check_schema(schema: object) -> dict[str, Any]:
    """Return the schema if it is one this product can render and send; else InvalidVariable."""
    if not isinstance(schema, Mapping):
        raise InvalidVariable("an input schema must be a JSON object")
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise InvalidVariable("the input schema is nested deeper than a flat form can be")
    try:
        # No format checker: it would compile pattern with Python's re; RE2 checks it below.
        Draft202012Validator.check_schema(schema, format_checker=NO_FORMATS)
    except jsonschema.SchemaError as exc:
        raise InvalidVariable(f"the input schema is not valid JSON Schema: {exc.message}") from exc
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        raise InvalidVariable('an input schema needs "type": "object" and "properties"')
    _check_keywords("the input schema", schema, SCHEMA_KEYWORDS)
    if schema.get("additionalProperties", False) is not False:
        raise InvalidVariable(
            "the input schema keyword 'additionalProperties' may only be false: "
            "an answer holds the declared properties and nothing else"
        )
    properties = schema["properties"]
    if not properties or len(properties) > MAX_PROPERTIES:
        raise InvalidVariable(f"an input schema needs 1 to {MAX_PROPERTIES} properties")
    for name, prop in properties.items():
        check_model_name(name)
        if not isinstance(prop, Mapping):
            raise InvalidVariable(f"input property {name!r} must be a JSON object")
        _check_property(name, prop)
    # Checked here too, not only by the worker: a required field that is not a property could
    # never be filled in, so the link would be dead on arrival.
    missing = [n for n in schema.get("required", []) if n not in properties]
    if missing:
        raise InvalidVariable(f"required field {missing[0]!r} is not a property")
    # Nothing beyond the declared properties may ride along into the process.
    return {**schema, "additionalProperties": False}


def _check_property(name: str, prop: Mapping[str, Any]) -> None:
    what = f"input property {name!r}"
    _check_keywords(what, prop, PROPERTY_KEYWORDS)
    kind = prop.get("type")
    if kind not in PROPERTY_TYPES:
        raise InvalidVariable(f"{what} needs a type of {', '.join(PROPERTY_TYPES)}")
    for keyword in NUMBER_KEYWORDS:
        bound = prop.get(keyword)
        if isinstance(bound, float) and not math.isfinite(bound):
            raise InvalidVariable(f"{what}: {keyword} must be a finite number")
    if "format" in prop and (kind != "string" or prop["format"] not in formats.FORMATS):
        raise InvalidVariable(
            f"{what}: format {prop['format']!r} is not supported; a string may have "
            f"format {', '.join(formats.FORMATS)}"
        )
    if "pattern" in prop:
        try:
            _compiled(prop["pattern"])
        except InvalidVariable as exc:
            raise InvalidVariable(f"{what}: {exc.detail}") from exc


def _depth(value: object) -> int:
    """How deeply a JSON value nests, found without recursion (a deep one would overflow)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_SCHEMA_DEPTH:
            break
        if isinstance(item, Mapping):
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return deepest


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    bad_text = text_problem(pattern)
    if bad_text:
        raise InvalidVariable(f"a pattern {bad_text}")
    options = re2.Options()
    options.log_errors = False  # the refusal below says it; RE2 would also print to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InvalidVariable(
            f"pattern {pattern!r} cannot be used ({reason}); patterns are matched by RE2, "
            "which has no backreferences or lookaround"
        ) from exc


def _check_keywords(what: str, schema: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in schema if k not in allowed)
    if unknown:
        named = ", ".join(repr(k) for k in unknown)
        raise InvalidVariable(
            f"{what} uses {'keywords' if len(unknown) > 1 else 'keyword'} {named}, "
            f"which this product does not support; allowed: {', '.join(allowed)}"
        )


def properties(schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(schema.get("properties", {}))


def required(schema: Mapping[str, Any]) -> set[str]:
    return set(schema.get("required", []))


def check(schema: Mapping[str, Any] | None, answer: Mapping[str, Any] | None) -> CheckedInput:
    """Check a JSON answer against a link's schema (a form's strings are typed by the link
    server first).

    Pure and outside any transaction; the result carries the typed values or the errors.
    """
    if schema is None:
        if answer:
            return CheckedInput(errors={"": problem("this link takes no input")})
        return CheckedInput()
    try:
        return CheckedInput(schema, validate(schema, answer or {}))
    except InvalidInput as exc:
        return CheckedInput(schema, errors=exc.errors)


def validate(schema: Mapping[str, Any], values: object) -> dict[str, TypedValue]:
    """Validate an answer and type it for Camunda; raise InvalidInput with one message a field."""
    if not isinstance(values, Mapping):
        raise InvalidInput({"": problem("the answer must be a JSON object")})
    declared = properties(schema)
    # Named here rather than trusted to the schema: whatever it says, a field it does not
    # declare has no type to send it as.
    errors: dict[str, str] = {
        str(name): problem("unexpected field") for name in values if name not in declared
    }
    for name, value in values.items():
        if name in declared and (found := _unsendable(declared[name], value)):
            errors[name] = found
    for error in Draft202012Validator(_for_jsonschema(schema)).iter_errors(values):
        if error.validator == "additionalProperties" and not error.path:
            continue  # the extra fields are named above, one message each
        field_name = str(error.path[0]) if error.path else _field_of(error)
        errors.setdefault(field_name, _message(error))
    for name, value in values.items():
        if (
            name in declared
            and name not in errors
            and (found := _own_checks(declared[name], value))
        ):
            errors[name] = found
    if errors:
        raise InvalidInput(errors)
    result: dict[str, TypedValue] = {}
    for name, value in values.items():
        kind = declared[name].get("type")
        try:
            result[name] = _to_typed(kind, value)
        except InvalidVariable:
            errors[name] = problem("this field has no type an answer can be sent as")
    if errors:
        raise InvalidInput(errors)
    return result


def _unsendable(prop: Mapping[str, Any], value: object) -> Problem | None:
    """What no field can take, whatever else its schema says: Camunda could not store it."""
    if isinstance(value, float) and not math.isfinite(value):
        return problem("must be a finite number")
    # A whole float (1e300) counts as an integer to JSON Schema, so it is held to Long too.
    if isinstance(value, int | float) and not isinstance(value, bool):
        whole = isinstance(value, int) or prop.get("type") == "integer"
        if whole and not INT64_MIN <= value <= INT64_MAX:
            return problem("must be between %(low)s and %(high)s", low=INT64_MIN, high=INT64_MAX)
    if isinstance(value, str) and prop.get("type") == "string":
        return text_problem(value)  # any other type reports a string as the wrong type
    return None


def _for_jsonschema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema without the keywords this module checks itself."""
    props = {
        name: {k: v for k, v in prop.items() if k not in OWN_KEYWORDS}
        if isinstance(prop, Mapping)
        else prop
        for name, prop in properties(schema).items()
    }
    return {**schema, "properties": props}


def _own_checks(prop: Mapping[str, Any], value: object) -> Problem | None:
    if isinstance(value, str) and prop.get("type") == "string":
        return _string_problem(prop, value)
    if isinstance(value, int | float) and not isinstance(value, bool) and "multipleOf" in prop:
        return _multiple_problem(prop["multipleOf"], value)
    return None


def _string_problem(prop: Mapping[str, Any], value: str) -> Problem | None:
    units = utf16_units(value)
    low, high = prop.get("minLength"), prop.get("maxLength")
    if isinstance(low, int) and units < low:
        return problem("must be at least %(limit)s characters", limit=low)
    if isinstance(high, int) and units > high:
        # Said when it surprises: the text looks short enough, but counts longer in Camunda.
        if len(value) <= high:
            return problem(
                "must be at most %(limit)s characters (an emoji counts as two)", limit=high
            )
        return problem("must be at most %(limit)s characters", limit=high)
    pattern = prop.get("pattern")
    if isinstance(pattern, str):
        try:
            matcher = _compiled(pattern)
        except InvalidVariable:
            # Only a schema stored before patterns were checked at issue time gets here.
            return problem("this field cannot be checked; please ask for a new link")
        if matcher.search(value) is None:
            return problem("has the wrong format")
    if formats.mismatch(prop.get("format"), value) is None:
        return None
    return _FORMAT_PROBLEMS[str(prop.get("format"))]


def _multiple_problem(step: object, value: int | float) -> Problem | None:
    if not isinstance(step, int | float) or isinstance(step, bool) or step <= 0:
        return None  # check_schema refuses such a step; a stored one is ignored as before
    # Exact decimals of the numbers as written: 0.3 is a multiple of 0.01, though 0.3 / 0.01
    # is 29.999999999999996 in floats.
    with decimal.localcontext() as context:
        context.prec = _DECIMAL_DIGITS
        try:
            remainder = _exact(value) % _exact(step)
        except decimal.InvalidOperation:
            return problem("must be a multiple of %(step)s", step=step)
    return None if remainder == 0 else problem("must be a multiple of %(step)s", step=step)


def _exact(number: int | float) -> decimal.Decimal:
    # repr is the shortest text that reads back as the same double: what the person typed.
    return decimal.Decimal(number if isinstance(number, int) else repr(number))


def _to_typed(kind: object, value: Any) -> TypedValue:
    if kind == "integer":
        value = int(value)  # JSON Schema counts 5.0 as an integer; Camunda wants 5
        return typed(value, "Integer" if INT32_MIN <= value <= INT32_MAX else "Long")
    if kind == "number":
        return typed(value, "Double")
    if kind == "boolean":
        return typed(value, "Boolean")
    if kind != "string" or not isinstance(value, str):
        # Only a schema that skipped check_schema gets here; refuse rather than guess a type.
        raise InvalidVariable("this field has no type an answer can be sent as")
    return typed(value, "String")


def _field_of(error: jsonschema.ValidationError) -> str:
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [n for n in _listed(error.validator_value) if n not in error.instance]
        return str(missing[0]) if missing else ""
    return ""


def _listed(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _message(error: jsonschema.ValidationError) -> Problem:
    limit: Any = error.validator_value
    validator = str(error.validator)
    if validator == "required":
        return problem("please fill this in")
    if validator == "minimum":
        return problem("must be at least %(limit)s", limit=limit)
    if validator == "maximum":
        return problem("must be at most %(limit)s", limit=limit)
    if validator == "exclusiveMinimum":
        return problem("must be more than %(limit)s", limit=limit)
    if validator == "exclusiveMaximum":
        return problem("must be less than %(limit)s", limit=limit)
    if validator == "type":
        return _TYPE_PROBLEMS.get(str(limit), problem("is not valid"))
    if validator == "enum":
        options = ", ".join(str(v) for v in _listed(limit))
        return problem("must be one of: %(options)s", options=options)
    if validator == "additionalProperties":
        return problem("unexpected field")
    # Only keywords check_schema allows reach here; jsonschema's own text would be English
    # and may quote the value, so a plain sentence stands in for anything unforeseen.
    return problem("is not valid")


# Sentences, not "must be a integer": one per JSON type a property may have.
_TYPE_PROBLEMS = {
    "integer": problem("must be an integer"),
    "number": problem("must be a number"),
    "string": problem("must be text"),
    "boolean": problem("must be true or false"),
}
_FORMAT_PROBLEMS = {
    "email": problem("must be an email address"),
    "date": problem("must be a date such as 2026-12-01"),
    "date-time": problem("must be a date and time such as 2026-12-01T09:00:00Z"),
    "uri": problem("must be a web address starting with http:// or https://"),
    "uuid": problem("must be a UUID such as 123e4567-e89b-12d3-a456-426614174000"),
}
