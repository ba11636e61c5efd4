"""Plain typed process variables: the only kind that ever reaches Camunda.

A value is stored as ``{"type": "Long", "value": 20}`` and sent to the engine the same way.
Object, Json, serialized Java values, lists and maps are refused.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenstore.errors import InvalidVariable
from tokenstore.problems import Problem, problem
from tokenstore.vocabulary import RESERVED_PREFIX

ALLOWED_TYPES = ("String", "Boolean", "Integer", "Long", "Double", "Date")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Camunda keeps a String in a 4,000-character column; Oracle and SQL Server count UTF-16 code
# units there, so an emoji takes two. Counted the strictest way, a value fits every database.
MAX_STRING_UTF16_UNITS = 4000
MAX_NAME_CHARS = 255  # Camunda's NAME_ columns
# JUEL's reserved words cannot be used as identifiers in an expression such as ${empty}.
JUEL_RESERVED = frozenset(
    [
        "and",
        "eq",
        "gt",
        "true",
        "instanceof",
        "or",
        "ne",
        "le",
        "false",
        "empty",
        "not",
        "lt",
        "ge",
        "null",
        "div",
        "mod",
    ]
)
# Java's identifier rules by Unicode category (Character.isJavaIdentifierStart / ...Part),
# without the invisible "ignorable" characters Java also lets through.
_NAME_START = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Sc", "Pc"})
_NAME_PART = _NAME_START | {"Nd", "Mn", "Mc"}
Scalar = str | bool | int | float


@dataclass(frozen=True)
class TypedValue:
    type: str
    value: Scalar

    def to_json(self) -> dict[str, Any]:
        """The value as Camunda's REST API and the link tables both write it."""
        return {"type": self.type, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TypedValue:
        """A value as it was stored: checked when it was written, not again.

        Re-checking would jam an answer stored under older, looser rules (a String over
        today's cap): it must still reach the engine, whose refusal ends it readably.
        """
        type_name = data.get("type")
        if type_name not in ALLOWED_TYPES:
            raise InvalidVariable(f"stored type {type_name!r} is not one we send")
        return cls(str(type_name), data["value"])


def format_date(moment: dt.datetime) -> str:
    """Camunda's default date format, e.g. ``2026-11-28T10:42:00.000+0000``."""
    if moment.tzinfo is None:
        raise InvalidVariable("a Date needs a time zone")
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_date(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidVariable(f"{text!r} is not an ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        raise InvalidVariable(f"{text!r} needs a time zone, e.g. 2026-12-01T09:00:00Z")
    return moment


def _infer(value: object) -> TypedValue:
    if isinstance(value, bool):
        return TypedValue("Boolean", value)
    if isinstance(value, int):
        # Through typed(): a number beyond a Long is refused, not sent to fail in Camunda.
        return typed(value, "Integer" if INT32_MIN <= value <= INT32_MAX else "Long")
    if isinstance(value, float):
        return typed(value, "Double")
    if isinstance(value, str):
        return typed(value, "String")
    raise InvalidVariable(f"{type(value).__name__} values are not allowed")


def typed(value: object, type_name: object = None) -> TypedValue:  # noqa: C901 - one branch a type
    """Check a value against a Camunda type (inferred when not given)."""
    if type_name is None:
        return _infer(value)
    if type_name not in ALLOWED_TYPES:
        raise InvalidVariable(f"type {type_name!r}; use one of {', '.join(ALLOWED_TYPES)}")
    if type_name == "String":
        if not isinstance(value, str):
            raise InvalidVariable(f"{_show(value)} is not a String")
        problem = text_problem(value)
        if problem:
            raise InvalidVariable(f"a String {problem}")
        return TypedValue("String", value)
    if type_name == "Boolean":
        if not isinstance(value, bool):
            raise InvalidVariable(f"{_show(value)} is not a Boolean")
        return TypedValue("Boolean", value)
    if type_name in ("Integer", "Long"):
        low, high = (INT32_MIN, INT32_MAX) if type_name == "Integer" else (INT64_MIN, INT64_MAX)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidVariable(f"{_show(value)} is not an {type_name}")
        return TypedValue(type_name, value)
    if type_name == "Double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidVariable(f"{_show(value)} is not a Double")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf  # an int beyond any double
        if not math.isfinite(number):
            raise InvalidVariable("a Double must be finite")
        return TypedValue("Double", number)
    if not isinstance(value, str) or text_problem(value):
        raise InvalidVariable(f"{_show(value)} is not a Date")
    return TypedValue("Date", format_date(parse_date(value)))


def utf16_units(text: str) -> int:
    """The length of a text as Java, and so Camunda and its databases, count it."""
    return len(text) + sum(1 for char in text if char > "\uffff")


def text_problem(text: str) -> Problem | None:
    """Why a text cannot be kept by Postgres or sent to Camunda as a String, if it cannot."""
    if "\x00" in text:
        return problem("may not contain a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return problem("may not contain lone surrogates (not valid Unicode text)")
    if utf16_units(text) > MAX_STRING_UTF16_UNITS:
        return problem(
            "may hold at most %(limit)s characters "
            "(an emoji and some rare characters count as two)",
            limit=MAX_STRING_UTF16_UNITS,
        )
    return None


def _show(value: object) -> str:
    """A value for an error message: short, and never the repr of a huge int (which raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a whole number of about {value.bit_length() * 3 // 10} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_name(name: str) -> bool:
    categories = [unicodedata.category(char) for char in name]
    return bool(categories) and (
        categories[0] in _NAME_START and all(c in _NAME_PART for c in categories[1:])
    )


def check_name(name: object) -> str:
    """A name Camunda stores and an expression can use (``${betrag_ü}``); else InvalidVariable."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_CHARS
        or not _is_name(name)
        or name in JUEL_RESERVED
    ):
        shown = _show(name)
        raise InvalidVariable(
            f"{shown} is not a usable variable name: a letter, _ or $ first, then letters, "
            f"digits or _, at most {MAX_NAME_CHARS} characters, not an expression keyword"
        )
    return name


def check_model_name(name: object) -> str:
    """A name a model may bind or ask for: usable, and not in the product's reserved prefix."""
    checked = check_name(name)
    if checked.startswith(RESERVED_PREFIX):
        raise InvalidVariable(
            f"{checked!r} starts with {RESERVED_PREFIX!r}, which is reserved for the variables "
            "the link server sets"
        )
    return checked


def typed_map(raw: Mapping[str, Any]) -> dict[str, TypedValue]:
    """Variables written plainly (``{"approved": true}``) or typed (``{"type", "value"}``)."""
    result: dict[str, TypedValue] = {}
    for name, item in raw.items():
        check_model_name(name)
        try:
            if isinstance(item, Mapping):
                if set(item) - {"type", "value"} or "value" not in item:
                    raise InvalidVariable('write a typed value as {"type": …, "value": …}')
                result[name] = typed(item["value"], item.get("type"))
            else:
                result[name] = typed(item)
        except InvalidVariable as exc:
            raise InvalidVariable(f"variable {name!r}: {exc.detail}") from exc
    return result


def to_json_map(values: Mapping[str, TypedValue]) -> dict[str, dict[str, Any]]:
    return {name: value.to_json() for name, value in values.items()}


def from_json_map(raw: Mapping[str, Any] | None) -> dict[str, TypedValue]:
    return {name: TypedValue.from_json(item) for name, item in (raw or {}).items()}
