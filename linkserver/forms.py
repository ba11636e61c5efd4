"""An answer posted as an HTML form: strings, typed by the link's schema before the store
checks it (the store only ever sees JSON-typed answers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenstore.answerschema import properties


@dataclass(frozen=True)
class FormAnswer:
    """The string fields of a posted form."""

    fields: Mapping[str, str]

    def typed(self, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The answer as the store checks it; a link without a schema takes none (a form
        may carry fields of its own, such as a button's name)."""
        return None if schema is None else coerce_form(schema, self.fields)


def coerce_form(schema: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """Turn HTML form strings into the JSON types the schema asks for.

    A value that does not parse is left as a string so the schema reports it plainly.
    Empty fields count as absent; an unchecked box is false.
    """
    values: dict[str, Any] = {}
    for name, prop in properties(schema).items():
        kind = prop.get("type")
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
    except ValueError:  # also a number of more digits than Python will parse
        return text
