"""An answer posted as an HTML form: strings, typed by the link's schema before the store
checks it (the store only ever sees JSON-typed answers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenstore.answerschema import properties

# Fields the confirmation page's form posts besides the schema's: none (kept for when a
# page adds one, so it is never mistaken for an unknown field).
PAGE_FIELDS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FormAnswer:
    """The string fields of a posted form."""

    fields: Mapping[str, str]

    def typed(self, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The answer as the store checks it; a link without a schema takes none (a form
        may carry fields of its own, such as a button's name).

        Under ``additionalProperties: false`` a field the schema does not declare is passed
        on, so the check names it ("unexpected field") instead of dropping it unseen. The
        page's own form posts only the schema's fields (its button has no name), so this
        never refuses an answer given on our page.
        """
        if schema is None:
            return None
        values = coerce_form(schema, self.fields)
        if schema.get("additionalProperties") is False:
            declared = properties(schema)
            values.update(
                (name, raw)
                for name, raw in self.fields.items()
                if name not in declared and name not in PAGE_FIELDS
            )
        return values


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
