"""Reading the raw input variables of a task: the small type rules both topics share.

Input parameters typed in the Modeler arrive as Strings ("false", "3"), expressions may
evaluate to null, and JSON may come as a String or a Json variable. These helpers accept
each of those and raise ModelingError with a message that names the input.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from tokenstore.errors import InvalidVariable
from tokenstore.variables import check_name, text_problem
from worker.errors import ModelingError

ACTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Deeper than any actions list this product reads (list > action > input > properties >
# field > enum > value), with room to spare; deeper JSON is a mistake, or would overflow.
MAX_JSON_DEPTH = 16
# Control characters other than tab and line breaks make a label or text unreadable.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def raw(variables: Mapping[str, Mapping[str, Any]], name: str) -> tuple[str, Any] | None:
    """The (type, value) of an input, or None when it is absent or null."""
    item = variables.get(name)
    if item is None:
        return None
    if not isinstance(item, Mapping):  # already plain, e.g. from a test or another client
        return (_infer_type(item), item)
    kind, value = item.get("type") or _infer_type(item.get("value")), item.get("value")
    if kind == "Null" or value is None:
        return None
    return (str(kind), value)


def _infer_type(value: object) -> str:
    if isinstance(value, str):
        return "String"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Long"
    return "Json" if isinstance(value, list | dict) else type(value).__name__


def string(
    variables: Mapping[str, Mapping[str, Any]], name: str, default: str | None = None
) -> str | None:
    """A String input; blank counts as absent so an empty Modeler field means "default"."""
    found = raw(variables, name)
    if found is None:
        return default
    kind, value = found
    if kind != "String" or not isinstance(value, str):
        raise ModelingError(f"{name} must be a String, not {kind}")
    readable_text(value, name)
    return value.strip() or default


def readable_text(text: str, what: str) -> str:
    """Text Postgres can keep and a person can read: no NUL or other control characters."""
    problem = text_problem(text)
    if problem:
        raise ModelingError(f"{what} {problem}")
    if CONTROL_CHARACTERS.search(text):
        raise ModelingError(f"{what} may not contain control characters (only tab and newline)")
    return text


def required_string(variables: Mapping[str, Mapping[str, Any]], name: str) -> str:
    value = string(variables, name)
    if value is None:
        raise ModelingError(f"the input parameter {name} is required")
    return value


def boolean(variables: Mapping[str, Mapping[str, Any]], name: str, default: bool) -> bool:
    found = raw(variables, name)
    if found is None:
        return default
    kind, value = found
    if kind == "Boolean" and isinstance(value, bool):
        return value
    if kind == "String" and isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return default
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
    raise ModelingError(f"{name} must be true or false, not {value!r}")


def json_value(
    variables: Mapping[str, Mapping[str, Any]], name: str, unique_keys: bool = False
) -> object | None:
    """A String holding JSON, a Json variable, or a value already decoded.

    With ``unique_keys``, an object that names a key twice is a mistake, not "the last wins".
    """
    found = raw(variables, name)
    if found is None:
        return None
    kind, value = found
    if kind in ("String", "Json") and isinstance(value, str):
        if not value.strip():
            return None
        return _checked_json(_decoded_json(value, name, unique_keys), name)
    if kind == "Json" or isinstance(value, list | dict):
        return _checked_json(value, name)
    raise ModelingError(f"{name} must be a String holding JSON or a Json variable, not {kind}")


def _decoded_json(text: str, name: str, unique_keys: bool = False) -> object:
    hook = functools.partial(_unique_pairs, name) if unique_keys else None
    try:
        decoded: object = json.loads(text, parse_constant=_no_constant, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        raise ModelingError(
            f"{name} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise ModelingError(f"{name} nests JSON more than {MAX_JSON_DEPTH} levels deep") from exc
    except ValueError as exc:  # a number of thousands of digits, NaN, Infinity
        raise ModelingError(f"{name} is not usable JSON: {str(exc)[:200]}") from exc
    return decoded


def _unique_pairs(name: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    decoded = dict(pairs)
    if len(decoded) < len(pairs):
        keys = [key for key, _ in pairs]
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ModelingError(f"{name} names {twice[:40]!r} twice; each key may appear once")
    return decoded


def _no_constant(constant: str) -> object:
    raise ValueError(f"{constant} is not a JSON number")


def _checked_json(value: object, name: str) -> object:
    """Walk a decoded value without recursion: not too deep, and only text Postgres can keep."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            raise ModelingError(f"{name} nests JSON more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, str) and (problem := _stored_text_problem(item)):
            raise ModelingError(f"{name}: the text {item[:40]!r} {problem}")
        if isinstance(item, dict):
            stack.extend((key, level + 1) for key in item)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return value


def _stored_text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains lone surrogates (not valid Unicode text)"
    return None


def name_list(variables: Mapping[str, Mapping[str, Any]], name: str) -> list[str] | None:
    """Names written as ``a, b`` or as a JSON list ``["a", "b"]``; None when absent."""
    found = raw(variables, name)
    if found is None:
        return None
    kind, value = found
    items: object
    if kind == "String" and isinstance(value, str) and not value.strip():
        return None  # an empty Modeler field
    if kind == "String" and isinstance(value, str) and not value.lstrip().startswith("["):
        items = [part.strip() for part in value.split(",") if part.strip()]
    else:
        items = json_value(variables, name)
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ModelingError(f'{name} must be names separated by commas or a JSON list ["a", "b"]')
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def variable_name(name: object, what: str) -> str:
    try:
        return check_name(name)
    except InvalidVariable as exc:
        raise ModelingError(f"{what}: {exc.detail}") from exc


def action_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not ACTION_NAME.match(name):
        raise ModelingError(
            f"{what}: name {name!r} must be 1-40 letters, digits, _ or - (e.g. approve)"
        )
    return name
