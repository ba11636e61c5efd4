"""The link server's own tunables, read by tokenstore's table-driven reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from tokenstore.settings import (
    Address,
    Network,
    Settings,
    Variable,
    address,
    duration,
    networks,
    read,
    setting,
    whole,
)

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LinkServerSettings:
        shared = Settings.from_env(environ)
        return read(lambda **values: cls(shared=shared, **values), VARIABLES, environ)
