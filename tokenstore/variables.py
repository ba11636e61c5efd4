"""Plain typed process variables: the only kind that ever reaches Camunda.

A value is stored as ``{"type": "Long", "value": 20}`` and sent to the engine the same way.
Object, Json, serialized Java values, lists and maps are refused.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenstore.errors import InvalidVariable

ALLOWED_TYPES = ("String", "Boolean", "Integer", "Long", "Double", "Date")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_STRING_CHARS = 4000  # Camunda stores longer strings as byte arrays
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
Scalar = str | bool | int | float


@dataclass(frozen=True)
class TypedValue:
    type: str
    value: Scalar

    def to_camunda(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TypedValue:
        return typed(data.get("value"), data.get("type"))


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
        return TypedValue("Integer" if INT32_MIN <= value <= INT32_MAX else "Long", value)
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
            raise InvalidVariable(f"{value!r} is not a String")
        if len(value) > MAX_STRING_CHARS:
            raise InvalidVariable(f"a String may hold at most {MAX_STRING_CHARS} characters")
        return TypedValue("String", value)
    if type_name == "Boolean":
        if not isinstance(value, bool):
            raise InvalidVariable(f"{value!r} is not a Boolean")
        return TypedValue("Boolean", value)
    if type_name in ("Integer", "Long"):
        low, high = (INT32_MIN, INT32_MAX) if type_name == "Integer" else (INT64_MIN, INT64_MAX)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidVariable(f"{value!r} is not an {type_name}")
        return TypedValue(type_name, value)
    if type_name == "Double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidVariable(f"{value!r} is not a Double")
        if not math.isfinite(value):
            raise InvalidVariable("a Double must be finite")
        return TypedValue("Double", float(value))
    if not isinstance(value, str):
        raise InvalidVariable(f"{value!r} is not a Date")
    return TypedValue("Date", format_date(parse_date(value)))


def check_name(name: object) -> str:
    if not isinstance(name, str) or not VARIABLE_NAME.match(name):
        raise InvalidVariable(
            f"{name!r} is not a usable variable name (letters, digits, _; at most 64)"
        )
    return name


def typed_map(raw: Mapping[str, Any]) -> dict[str, TypedValue]:
    """Variables written plainly (``{"approved": true}``) or typed (``{"type", "value"}``)."""
    result: dict[str, TypedValue] = {}
    for name, item in raw.items():
        check_name(name)
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
