"""The pages' languages: gettext catalogs (Babel) and the choice of one for a request.

English and German ship in ``linkserver/locales``; an operator adds or overrides languages
with ``<dir>/<lang>/LC_MESSAGES/messages.po`` under ``ACTION_LINKS_LOCALE_DIR``. Catalogs are
read once, at start, so a broken one stops the server there rather than on a page.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal
from babel.support import Translations

from linkserver.branding import Brand
from linkserver.presentation import format_moment
from tokenstore.problems import Param, Problem
from tokenstore.settings import SettingsError

LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
# A header longer than any real browser sends is cut, and at most this many of its entries
# are read: parsing it can then cost no more than a few microseconds, whatever is sent.
MAX_ACCEPT_LANGUAGE_CHARS = 256
MAX_ACCEPT_LANGUAGE_ENTRIES = 16
_TAG = re.compile(r"\*|[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}")
NEGOTIATION_CACHE_SIZE = 512


def N_(msgid: str) -> str:
    """Mark a message for the catalogs where it is defined; it is translated where shown."""
    return msgid


@dataclass(frozen=True, eq=False)
class Language:
    """One language a page is written in: its tag (``de``), Babel locale and catalog."""

    tag: str
    locale: Locale
    translations: Translations
    # The deployment's look, the same for every language: the sender's name and the
    # operator's templates (``ACTION_LINKS_TEMPLATE_DIR``).
    brand: Brand = field(default_factory=Brand)
    template_dir: str | None = None

    def gettext(self, msgid: str, **params: Param) -> str:
        text = self.translations.ugettext(msgid)
        if "%(" not in msgid:
            return text  # a translation's own "%" (as in "100 %") stays as written
        return text % {k: self.show(v) for k, v in params.items()}

    def ngettext(self, singular: str, plural: str, num: int) -> str:
        """``%(num)s`` in the text is the number, formatted for the language."""
        return self.translations.ungettext(singular, plural, num) % {"num": self.show(num)}

    def problem(self, found: str) -> str:
        """A message of ``tokenstore.problems`` in this language, its numbers formatted."""
        if not isinstance(found, Problem):
            return found
        return self.gettext(found.msgid, **found.params)

    def show(self, value: object) -> str:
        """A value for people: numbers for the language, yes/no translated, None as a dash."""
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self.gettext("Yes") if value else self.gettext("No")
        if isinstance(value, int | float):
            return format_decimal(value, locale=self.locale, decimal_quantization=False)
        return str(value)

    def moment(self, moment: dt.datetime, zone: ZoneInfo) -> str:
        return format_moment(moment, self.locale, zone)


class Languages:
    """The catalogs at hand and the deployment's choices; picks a language for a request."""

    def __init__(
        self,
        catalogs: Mapping[str, Translations],
        default: str = "en",
        pinned: str | None = None,
        time_zone: ZoneInfo | None = None,
        brand: Brand | None = None,
        template_dir: str | None = None,
    ) -> None:
        look = brand or Brand()
        self._languages = {
            tag: Language(tag, Locale.parse(tag, sep="-"), t, look, template_dir)
            for tag, t in catalogs.items()
        }
        self.default = self._known(default, "ACTION_LINKS_DEFAULT_LOCALE")
        self.pinned = self._known(pinned, "ACTION_LINKS_LOCALE") if pinned else None
        self.time_zone = time_zone or ZoneInfo("UTC")
        self._negotiate = functools.lru_cache(maxsize=NEGOTIATION_CACHE_SIZE)(self._from_header)

    @classmethod
    def load(
        cls,
        extra_dir: Path | None = None,
        default: str = "en",
        pinned: str | None = None,
        time_zone: str | None = None,
        brand: Brand | None = None,
        template_dir: str | None = None,
    ) -> Languages:
        """The packaged catalogs, each overridden or joined by the operator's in ``extra_dir``."""
        catalogs = read_catalogs(LOCALE_DIR)
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise SettingsError(f"ACTION_LINKS_LOCALE_DIR: {str(extra_dir)!r} is no directory")
            for tag, extra in read_catalogs(extra_dir).items():
                if tag in catalogs:
                    catalogs[tag].merge(extra)
                else:
                    catalogs[tag] = extra
        zone = zone_named(time_zone) if time_zone else None
        return cls(catalogs, default, pinned, zone, brand, template_dir)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(sorted(self._languages))

    def zone(self, name: str | None) -> ZoneInfo:
        """The task's time zone if it names one, else the deployment's."""
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                pass  # checked when the task was read; an older row falls back quietly
        return self.time_zone

    def __getitem__(self, tag: str) -> Language:
        return self._languages[tag]

    def choose(self, task_locale: str | None, accept_language: str | None) -> Language:
        """The task's locale, else the deployment's pin, else the browser's, else the default."""
        if task_locale and (tag := self.match(task_locale)):
            return self._languages[tag]
        if self.pinned:
            return self._languages[self.pinned]
        if accept_language:
            return self._negotiate(accept_language[:MAX_ACCEPT_LANGUAGE_CHARS])
        return self._languages[self.default]

    def match(self, tag: str) -> str | None:
        """The catalog for a language tag: ``de-CH`` finds ``de-CH``, else ``de``."""
        wanted = tag.strip().replace("_", "-").lower()
        by_lower = {known.lower(): known for known in self._languages}
        while wanted:
            if wanted in by_lower:
                return by_lower[wanted]
            wanted = wanted.rpartition("-")[0]
        return None

    def _from_header(self, header: str) -> Language:
        for tag in preferred(header):
            if tag != "*" and (known := self.match(tag)):
                return self._languages[known]
        return self._languages[self.default]

    def _known(self, tag: str, variable: str) -> str:
        known = self.match(tag)
        if known is None:
            raise SettingsError(
                f"{variable}: no catalog for {tag!r}; available: {', '.join(self.tags)}"
            )
        return known


def preferred(header: str) -> list[str]:
    """The tags of an ``Accept-Language`` header, most wanted first (``q=0`` left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE_ENTRIES]):
        tag, _, params = entry.strip().partition(";")
        tag = tag.strip()
        if (
            not tag
            or len(tag) > 35
            or not all(c.isascii() and (c.isalnum() or c in "-_*") for c in tag)
        ):
            continue
        quality = _quality(params)
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip()[:5])
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def read_catalogs(root: Path) -> dict[str, Translations]:
    """``<root>/<tag>/LC_MESSAGES/messages.po`` for every tag; a bad one is a SettingsError."""
    return {tag: _read_catalog(tag, path) for tag, path in _po_files(root)}


def _po_files(root: Path) -> Iterable[tuple[str, Path]]:
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        path = folder / "LC_MESSAGES" / f"{DOMAIN}.po"
        if path.is_file():
            yield folder.name.replace("_", "-"), path


def _read_catalog(tag: str, path: Path) -> Translations:
    try:
        Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError) as exc:
        raise SettingsError(f"catalog {str(path)!r}: {tag!r} is no language tag") from exc
    try:
        with path.open("rb") as po:
            catalog = read_po(po, locale=tag.replace("-", "_"), abort_invalid=True)
    except (OSError, PoFileError, ValueError) as exc:
        raise SettingsError(f"catalog {str(path)!r} cannot be read: {exc}") from exc
    # A placeholder a translation misspells would fail on a page; it fails here instead.
    for message, errors in catalog.check():
        if errors:
            raise SettingsError(
                f"catalog {str(path)!r}: the translation of {message.id!r} does not fit: "
                f"{errors[0]}"
            )
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def zone_named(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Berlin``); a SettingsError if there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"ACTION_LINKS_TIME_ZONE: {name!r} is no IANA time zone") from exc
