"""The link server's own tunables, read by tokenstore's table-driven reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from linkserver import branding
from linkserver.branding import Accent, Brand, BrandingError, Contact, Logo
from linkserver.languages import Languages, zone_named
from tokenstore.settings import (
    Address,
    Network,
    Settings,
    SettingsError,
    Variable,
    address,
    duration,
    networks,
    read,
    setting,
    text,
    whole,
)


def directory(name: str, value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise SettingsError(f"{name}: {value!r} is no directory")
    return path


def time_zone(name: str, value: str) -> str:
    return zone_named(value).key


T = TypeVar("T")


def _branded(check: Callable[[str], T]) -> Callable[[str, str], T]:
    """A branding rule as a settings parser: its error names the variable."""

    def parse(name: str, value: str) -> T:
        try:
            return check(value)
        except BrandingError as exc:
            raise SettingsError(f"{name}: {exc}") from exc

    return parse


def _product_name(value: str) -> str:
    return branding.one_line(value, branding.MAX_PRODUCT_NAME_CHARS, "the product name")


def _footer(value: str) -> str:
    return branding.one_line(value, branding.MAX_FOOTER_CHARS, "the footer")


def _template_dir(name: str, value: str) -> str:
    # Compiled by the pages' own environment (its extensions included); imported here, not
    # at the top, so the commands that never serve pages do not load aiohttp to read settings.
    from linkserver import rendering

    try:
        rendering.check_template_dir(value)
    except rendering.TemplateDirError as exc:
        raise SettingsError(f"{name}: {exc}") from exc
    return value


VARIABLES: tuple[Variable, ...] = (
    setting("LISTEN", "link server address host:port", address, "serve"),
    setting("ADMIN_LISTEN", "link server admin address (metrics)", address, "serve"),
    setting("TRUSTED_PROXIES", "proxies whose forwarded headers count", networks, "serve"),
    setting(
        "READ_TIMEOUT", "time to read a request's headers and body (ISO 8601)", duration, "serve"
    ),
    setting(
        "KEEPALIVE_TIMEOUT", "idle keep-alive connections close after (ISO 8601)", duration, "serve"
    ),
    setting("MAX_CONNECTIONS", "open connections in total", whole(1), "serve"),
    setting("MAX_CONNECTIONS_PER_CLIENT", "open connections per client address", whole(1), "serve"),
    setting("FAILED_LOOKUP_BURST", "invalid links a client may try before 429", whole(1), "serve"),
    setting("FAILED_LOOKUPS_PER_MINUTE", "refill rate of that allowance", whole(1), "serve"),
    setting("CORRELATION_TIMEOUT", "HTTP timeout of one correlation", duration, "serve"),
    setting("NOT_YET_WINDOW", "how long 'no execution waits yet' is retried", duration, "serve"),
    setting("LOCALE", "the pages' language for every link (pins it)", text, "serve"),
    setting("DEFAULT_LOCALE", "the pages' language when nothing else chooses", text, "serve"),
    setting("LOCALE_DIR", "extra catalogs: <lang>/LC_MESSAGES/messages.po", directory, "serve"),
    setting("TIME_ZONE", "time zone of dates on the pages (IANA name)", time_zone, "serve"),
    # The sender's name on the pages (linkserver/branding.py), checked once at start.
    setting(
        "PRODUCT_NAME", "product name in page headers and titles", _branded(_product_name), "serve"
    ),
    setting(
        "LOGO_FILE",
        "PNG, JPEG, WebP or GIF logo (at most 512 KiB), served at /static/logo",
        _branded(branding.read_logo),
        "serve",
        attr="logo",
    ),
    setting(
        "ACCENT_COLOUR",
        "accent colour #rrggbb of buttons (served in /static/theme.css)",
        _branded(branding.accent),
        "serve",
        attr="accent",
    ),
    setting("FOOTER", "a line of plain text at the foot of every page", _branded(_footer), "serve"),
    setting(
        "CONTACT", "email address or https URL people may ask", _branded(branding.contact), "serve"
    ),
    setting("TEMPLATE_DIR", "page templates overriding the shipped ones", _template_dir, "serve"),
)

LISTEN = Address("127.0.0.1", 8088)
ADMIN_LISTEN = Address("127.0.0.1", 9188)


@dataclass(frozen=True)
class LinkServerSettings:
    """The settings of ``action-links serve``: the shared ones and its own."""

    shared: Settings
    listen: Address = LISTEN
    admin_listen: Address = ADMIN_LISTEN
    trusted_proxies: tuple[Network, ...] = ()
    read_timeout: dt.timedelta = dt.timedelta(seconds=10)
    keepalive_timeout: dt.timedelta = dt.timedelta(seconds=15)
    max_connections: int = 2000
    max_connections_per_client: int = 100
    failed_lookup_burst: int = 20
    failed_lookups_per_minute: int = 10
    # delivery
    correlation_timeout: dt.timedelta = dt.timedelta(seconds=10)
    not_yet_window: dt.timedelta = dt.timedelta(minutes=10)
    # pages
    locale: str | None = None
    default_locale: str = "en"
    locale_dir: Path | None = None
    time_zone: str | None = None  # UTC

    # the sender's name on the pages
    product_name: str = branding.DEFAULT_PRODUCT_NAME
    logo: Logo | None = None
    accent: Accent | None = None
    footer: str | None = None
    contact: Contact | None = None
    template_dir: str | None = None

    @property
    def brand(self) -> Brand:
        return Brand(self.product_name, self.logo, self.accent, self.footer, self.contact)

    def languages(self) -> Languages:
        """The catalogs and the choices of language; a SettingsError if any is wrong."""
        return Languages.load(
            self.locale_dir,
            self.default_locale,
            self.locale,
            self.time_zone,
            self.brand,
            self.template_dir,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LinkServerSettings:
        shared = Settings.from_env(environ)
        settings = read(lambda **values: cls(shared=shared, **values), VARIABLES, environ)
        settings.languages()  # checked at start: a broken catalog stops the server here
        return settings
