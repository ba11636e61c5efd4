"""Messages about an answer that people read: a stable id plus parameters, so each page can
say them in the reader's language.

A ``Problem`` is a ``str`` (its English text), so code that only shows or compares messages
is unchanged; code that translates reads ``msgid`` and ``params``. The msgid is the English
text with ``%(name)s`` placeholders, as gettext catalogs key it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Param = str | int | float


class Problem(str):
    """One message, e.g. ``must be at most %(limit)s`` with ``limit=500``."""

    msgid: str
    params: Mapping[str, Param]

    def __new__(cls, msgid: str, params: Mapping[str, Param] | None = None) -> Problem:
        params = dict(params or {})
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params
        return self

    @property
    def code(self) -> str:
        """A stable machine-readable name, for the JSON API (``must_be_at_most``)."""
        return _CODES.get(self.msgid, "invalid")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Problem, (self.msgid, dict(self.params)))


def problem(msgid: str, **params: Param) -> Problem:
    """``problem("must be at most %(limit)s", limit=500)``; pybabel extracts the msgid."""
    return Problem(msgid, params)


# The API's codes, one per msgid: a wording may improve, a code never changes.
_CODES = {
    "please fill this in": "required",
    "unexpected field": "unexpected_field",
    "this link takes no input": "no_input_expected",
    "the answer must be a JSON object": "not_an_object",
    "must be at least %(limit)s": "minimum",
    "must be at most %(limit)s": "maximum",
    "must be more than %(limit)s": "exclusive_minimum",
    "must be less than %(limit)s": "exclusive_maximum",
    "must be between %(low)s and %(high)s": "out_of_range",
    "must be a multiple of %(step)s": "multiple_of",
    "must be an integer": "type",
    "must be a number": "type",
    "must be text": "type",
    "must be true or false": "type",
    "must be a finite number": "not_finite",
    "must be one of: %(options)s": "enum",
    "must be at least %(limit)s characters": "min_length",
    "must be at most %(limit)s characters": "max_length",
    "must be at most %(limit)s characters (an emoji counts as two)": "max_length",
    "has the wrong format": "pattern",
    "this field cannot be checked; please ask for a new link": "unusable_pattern",
    "must be an email address": "format",
    "must be a date such as 2026-12-01": "format",
    "must be a date and time such as 2026-12-01T09:00:00Z": "format",
    "must be a web address starting with http:// or https://": "format",
    "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000": "format",
    "may not contain a NUL character": "invalid_text",
    "may not contain lone surrogates (not valid Unicode text)": "invalid_text",
    "may hold at most %(limit)s characters (an emoji and some rare characters count as two)": (
        "too_long"
    ),
    "this field has no type an answer can be sent as": "untyped",
    "is not valid": "invalid",
}
