"""What the pages show about a request: its details, its language and its time zone (pure).

Every mistake raises ModelingError naming the input (and the row) and what to write instead.
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from tokenstore.model import Detail
from tokenstore.variables import utf16_units
from worker import taskvariables
from worker.errors import ModelingError

MAX_DETAILS = 30
MAX_DETAIL_LABEL_UNITS = 200
MAX_DETAIL_VALUE_UNITS = 2000
DETAIL_KEYS = ("label", "value")
DETAILS_EXAMPLE = '[{"label": "Amount", "value": 4800}, {"label": "Requester", "value": "Anna"}]'
# BCP 47 as far as page languages go: language, then an optional script, region and variants
# (de, de-CH, pt-BR, zh-Hant-TW, sr-Latn, de-CH-1996). Extensions (-u-…) choose nothing here.
LOCALE_TAG = re.compile(
    r"^(?P<language>[A-Za-z]{2,3})"
    r"(?:[-_](?P<script>[A-Za-z]{4}))?"
    r"(?:[-_](?P<region>[A-Za-z]{2}|[0-9]{3}))?"
    r"(?P<variants>(?:[-_](?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*)$"
)
MAX_LOCALE_CHARS = 35
MAX_TIME_ZONE_CHARS = 64
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

DetailValue = str | int | float | bool | None


def parse_details(variables: Mapping[str, Mapping[str, Any]]) -> tuple[Detail, ...]:
    """The ``details`` input: a JSON list of ``{"label", "value"}`` objects, or a JSON object
    whose keys are the labels in the order written."""
    value = taskvariables.json_value(variables, "details", unique_keys=True)
    if value is None:
        return ()
    if isinstance(value, Mapping):
        rows: list[tuple[object, object]] = list(value.items())
    elif isinstance(value, list):
        rows = [_row(item, position) for position, item in enumerate(value, 1)]
    else:
        raise ModelingError(
            "details must be a JSON list of label/value objects, e.g. "
            f'{DETAILS_EXAMPLE}, or a JSON object, e.g. {{"Amount": 4800}}'
        )
    if len(rows) > MAX_DETAILS:
        raise ModelingError(
            f"details has {len(rows)} rows; at most {MAX_DETAILS} fit on a page, "
            "so keep the ones the person needs to decide"
        )
    details = tuple(
        _detail(label, item, position) for position, (label, item) in enumerate(rows, 1)
    )
    labels = [detail.label for detail in details]
    for position, label in enumerate(labels, 1):
        if labels.index(label) + 1 != position:
            raise ModelingError(
                f"details row {position}: the label {label[:40]!r} is also row "
                f"{labels.index(label) + 1}'s; give each row its own label"
            )
    return details


def _row(item: object, position: int) -> tuple[object, object]:
    if not isinstance(item, Mapping):
        raise ModelingError(
            f'details row {position} must be an object such as {{"label": "Amount", "value": 4800}}'
        )
    unknown = sorted(set(item) - set(DETAIL_KEYS))
    if unknown:
        raise ModelingError(
            f"details row {position}: unknown key {unknown[0][:40]!r} (use label and value)"
        )
    if "label" not in item:
        raise ModelingError(f'details row {position} needs a label, e.g. "label": "Amount"')
    return item["label"], item.get("value")


def _detail(label: object, value: object, position: int) -> Detail:
    where = f"details row {position}"
    if not isinstance(label, str) or not label.strip():
        raise ModelingError(f"{where}: the label must be text that is not empty, e.g. Amount")
    label = label.strip()
    where = f"details row {position} ({label[:40]!r})"
    if utf16_units(label) > MAX_DETAIL_LABEL_UNITS:
        raise ModelingError(
            f"{where}: the label may hold at most {MAX_DETAIL_LABEL_UNITS} characters"
        )
    taskvariables.readable_text(label, f"{where}: the label")
    return Detail(label, _value(value, where))


def _value(value: object, where: str) -> DetailValue:
    if isinstance(value, list | Mapping):
        raise ModelingError(
            f"{where}: the value must be text, a number, true/false or null, not a JSON "
            f"{'list' if isinstance(value, list) else 'object'}; write it as text or split it "
            "into rows"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelingError(f"{where}: the value must be a finite number")
    if isinstance(value, str):
        if utf16_units(value) > MAX_DETAIL_VALUE_UNITS:
            raise ModelingError(
                f"{where}: the value may hold at most {MAX_DETAIL_VALUE_UNITS} characters "
                "(an emoji counts as two); link to the full text instead"
            )
        taskvariables.readable_text(value, f"{where}: the value")
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ModelingError(f"{where}: the value must be text, a number, true/false or null")


def parse_locale(variables: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The ``locale`` input as a BCP 47 tag in its usual case: ``de``, ``de-CH``, ``zh-Hant-TW``.

    ``de_CH`` is accepted and written ``de-CH``; Babel reads it with
    ``Locale.parse(tag, sep="-")``.
    """
    text = taskvariables.string(variables, "locale")
    if text is None:
        return None
    match = LOCALE_TAG.match(text) if len(text) <= MAX_LOCALE_CHARS else None
    if match is None:
        raise ModelingError(
            f"locale {text[:40]!r} is not a language tag; write one such as de, de-CH or pt-BR"
        )
    parts = [match["language"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    parts.extend(v.lower() for v in re.split(r"[-_]", match["variants"]) if v)
    return "-".join(parts)


def parse_time_zone(variables: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The ``timeZone`` input: an IANA zone name the zone database knows (Europe/Berlin)."""
    text = taskvariables.string(variables, "timeZone")
    if text is None:
        return None
    hint = f"timeZone {text[:40]!r} is not a time zone name; write one such as Europe/Berlin or UTC"
    if len(text) > MAX_TIME_ZONE_CHARS or text not in _zone_names():
        raise ModelingError(hint)
    return text


@functools.cache
def _zone_names() -> frozenset[str]:
    # The names of the zone database (the system's, else the tzdata package), not any file
    # ZoneInfo would open: "localtime" (this machine's zone) or "posixrules" mean nothing to
    # a person, and some systems list them.
    return frozenset(zoneinfo.available_timezones()) - NOT_ZONES
