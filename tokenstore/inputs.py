"""What a clicker may add to an answer, described by a small JSON Schema.

The schema is an object of flat properties (string, integer, number, boolean), so every
value it admits maps onto one plain typed Camunda variable. It is checked when the link is
issued and again, against the answer, when the link is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema
from jsonschema.validators import Draft202012Validator

from tokenstore.errors import InvalidInput, InvalidVariable
from tokenstore.variables import (
    INT32_MAX,
    INT32_MIN,
    MAX_STRING_CHARS,
    TypedValue,
    check_name,
    typed,
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


def check_schema(schema: object) -> dict[str, Any]:
    """Return the schema if it is one this product can render and send; else InvalidVariable."""
    if not isinstance(schema, Mapping):
        raise InvalidVariable("an input schema must be a JSON object")
    try:
        Draft202012Validator.check_schema(schema)
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
        check_name(name)
        if not isinstance(prop, Mapping):
            raise InvalidVariable(f"input property {name!r} must be a JSON object")
        _check_keywords(f"input property {name!r}", prop, PROPERTY_KEYWORDS)
        if prop.get("type") not in PROPERTY_TYPES:
            raise InvalidVariable(
                f"input property {name!r} needs a type of {', '.join(PROPERTY_TYPES)}"
            )
    # Checked here too, not only by the worker: a required field that is not a property could
    # never be filled in, so the link would be dead on arrival.
    missing = [n for n in schema.get("required", []) if n not in properties]
    if missing:
        raise InvalidVariable(f"required field {missing[0]!r} is not a property")
    # Nothing beyond the declared properties may ride along into the process.
    return {**schema, "additionalProperties": False}


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


def coerce_form(schema: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """Turn HTML form strings into the JSON types the schema asks for.

    A value that does not parse is left as a string so the schema reports it plainly.
    Empty fields count as absent; an unchecked box is false.
    """
    values: dict[str, Any] = {}
    for name, prop in properties(schema).items():
        kind = prop["type"]
        raw = form.get(name)
        if kind == "boolean":
            values[name] = raw in ("on", "true", "1", "yes")
            continue
        if raw is None or raw.strip() == "":
            continue
        text = raw.strip()
        values[name] = _parse_number(text, kind) if kind in ("integer", "number") else raw
    return values


def _parse_number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text


def validate(schema: Mapping[str, Any], values: object) -> dict[str, TypedValue]:
    """Validate an answer and type it for Camunda; raise InvalidInput with one message a field."""
    if not isinstance(values, Mapping):
        raise InvalidInput({"": "the answer must be a JSON object"})
    declared = properties(schema)
    # Named here rather than trusted to the schema: whatever it says, a field it does not
    # declare has no type to send it as.
    errors = {str(name): "unexpected field" for name in values if name not in declared}
    for error in Draft202012Validator(schema).iter_errors(values):
        if error.validator == "additionalProperties" and not error.path:
            continue  # the extra fields are named above, one message each
        field = str(error.path[0]) if error.path else _field_of(error)
        errors.setdefault(field, _message(error))
    if errors:
        raise InvalidInput(errors)
    result: dict[str, TypedValue] = {}
    for name, value in values.items():
        kind = declared[name].get("type")
        try:
            result[name] = _to_typed(kind, value)
        except InvalidVariable as exc:
            errors[name] = exc.detail or str(exc)
    if errors:
        raise InvalidInput(errors)
    return result


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
    if len(value) > MAX_STRING_CHARS:
        raise InvalidVariable(f"at most {MAX_STRING_CHARS} characters")
    return typed(value, "String")


def _field_of(error: jsonschema.ValidationError) -> str:
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [n for n in _listed(error.validator_value) if n not in error.instance]
        return str(missing[0]) if missing else ""
    return ""


def _listed(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _message(error: jsonschema.ValidationError) -> str:
    messages = {
        "required": "please fill this in",
        "minimum": f"must be at least {error.validator_value}",
        "maximum": f"must be at most {error.validator_value}",
        "exclusiveMinimum": f"must be more than {error.validator_value}",
        "exclusiveMaximum": f"must be less than {error.validator_value}",
        "type": f"must be a {error.validator_value}",
        "minLength": f"must be at least {error.validator_value} characters",
        "maxLength": f"must be at most {error.validator_value} characters",
        "enum": "must be one of " + ", ".join(str(v) for v in _listed(error.validator_value)),
        "additionalProperties": "unexpected field",
        "pattern": "has the wrong format",
    }
    return messages.get(str(error.validator), error.message)
