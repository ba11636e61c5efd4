"""The link server's own tunables, read by tokenstore's table-driven reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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

    def languages(self) -> Languages:
        """The catalogs and the choices of language; a SettingsError if any is wrong."""
        return Languages.load(self.locale_dir, self.default_locale, self.locale, self.time_zone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LinkServerSettings:
        shared = Settings.from_env(environ)
        settings = read(lambda **values: cls(shared=shared, **values), VARIABLES, environ)
        settings.languages()  # checked at start: a broken catalog stops the server here
        return settings
