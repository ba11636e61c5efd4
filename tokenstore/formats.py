"""The string formats an input schema may ask for, enforced rather than merely annotated.

Each check is a few string operations (and the standard URL splitter), linear in the text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import urlsplit

# "textarea" checks nothing: it asks the page for a multi-line field.
FORMATS = ("email", "date", "date-time", "uri", "uuid", "textarea")


def mismatch(format_name: object, text: str) -> str | None:
    """What the text should have been, if it is not in the format; None if it is.

    An unknown format (only in a schema stored before formats were checked at issue time)
    is not enforced.
    """
    check = _CHECKS.get(str(format_name))
    return None if check is None or check(text) else _EXPECTED[str(format_name)]


def _is_email(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    return (
        bool(at and local)
        and "@" not in local
        and len(labels) > 1
        and all(labels)
        and not any(char.isspace() or char < " " for char in text)
    )


def _is_date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.replace("-", "").isdecimal():
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return text.isascii()


def _is_date_time(text: str) -> bool:
    # RFC 3339: full-date "T" full-time with a zone; Python's fromisoformat is laxer alone.
    if len(text) < 20 or not text.isascii() or text[10] not in "Tt" or not _is_date(text[:10]):
        return False
    time_part = text[11:]
    zone_at = max(time_part.rfind("+"), time_part.rfind("-"))
    if time_part[-1] in "Zz":
        clock, zone = time_part[:-1], "+00:00"
    elif zone_at > 0:
        clock, zone = time_part[:zone_at], time_part[zone_at:]
    else:
        return False
    whole, _, fraction = clock.partition(".")
    if len(whole) != 8 or (clock.count(".") and not fraction.isdecimal()) or len(zone) != 6:
        return False
    try:
        dt.datetime.fromisoformat(f"{text[:10]}T{whole}{zone}")
    except ValueError:
        return False
    return whole[2] == whole[5] == ":" and zone[3] == ":"


def _is_uri(text: str) -> bool:
    if any(char.isspace() or char < " " for char in text):
        return False
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises for a port that is not a number
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _is_uuid(text: str) -> bool:
    groups = text.split("-")
    return (
        [len(g) for g in groups] == [8, 4, 4, 4, 12]
        and text.isascii()
        and all(c in "0123456789abcdefABCDEF" for g in groups for c in g)
    )


_CHECKS: dict[str, Callable[[str], bool]] = {
    "email": _is_email,
    "date": _is_date,
    "date-time": _is_date_time,
    "uri": _is_uri,
    "uuid": _is_uuid,
}
_EXPECTED = {
    "email": "an email address",
    "date": "a date such as 2026-12-01",
    "date-time": "a date and time such as 2026-12-01T09:00:00Z",
    "uri": "a web address starting with http:// or https://",
    "uuid": "a UUID such as 123e4567-e89b-12d3-a456-426614174000",
}
