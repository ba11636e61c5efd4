"""One settings object, read once from ``ACTION_LINKS_*`` variables at an entry point."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import isodate

from tokenstore.schema import DEFAULT_SCHEMA, SchemaNameError, checked_schema
from tokenstore.tokens import Keyring

PREFIX = "ACTION_LINKS_"
FILE_SUFFIX = "_FILE"
MAX_PORT = 65535
# Used by the test suite and its fixtures; never warned about.
TEST_PREFIX = PREFIX + "TEST_"

DAEMONS = frozenset({"worker", "serve"})
DATABASE_COMMANDS = frozenset({"worker", "serve", "reap", "migrate", "links", "answers"})
ALL_COMMANDS = DATABASE_COMMANDS


@dataclass(frozen=True)
class Variable:
    """One ``ACTION_LINKS_*`` variable: who reads it, and whether ``<NAME>_FILE`` may hold it."""

    name: str
    meaning: str
    commands: frozenset[str]
    secret: bool = False

    @property
    def env_name(self) -> str:
        return PREFIX + self.name


def _var(name: str, meaning: str, *commands: str, secret: bool = False) -> Variable:
    return Variable(name, meaning, frozenset(commands), secret)


# Every variable the product reads, in one place: it drives the unknown-variable warning, the
# ``*_FILE`` secrets and each command's ``--help``. A new setting is one line here.
VARIABLES: tuple[Variable, ...] = (
    Variable("DATABASE_URL", "Postgres URL", DATABASE_COMMANDS, secret=True),
    Variable("DB_SCHEMA", "Postgres schema of the tables (default public)", DATABASE_COMMANDS),
    _var(
        "SIGNING_KEYS",
        "kid:secret pairs; the first signs",
        "worker",
        "serve",
        "reap",
        secret=True,
    ),
    _var("CAMUNDA_URL", "engine REST base", *DAEMONS),
    _var("CAMUNDA_USER", "basic auth user to the engine", *DAEMONS),
    _var("CAMUNDA_PASSWORD", "basic auth password", *DAEMONS, secret=True),
    _var("CAMUNDA_TOKEN", "bearer token to the engine", *DAEMONS, secret=True),
    _var("PUBLIC_URL", "base of the links people receive", *DAEMONS),
    _var("LISTEN", "link server address host:port", "serve"),
    _var("ADMIN_LISTEN", "link server admin address (metrics)", "serve"),
    _var("TRUSTED_PROXIES", "proxies whose forwarded headers count", "serve"),
    _var("READ_TIMEOUT", "time to read a request's headers and body (ISO 8601)", "serve"),
    _var("KEEPALIVE_TIMEOUT", "idle keep-alive connections close after (ISO 8601)", "serve"),
    _var("MAX_CONNECTIONS", "open connections in total", "serve"),
    _var("MAX_CONNECTIONS_PER_CLIENT", "open connections per client address", "serve"),
    _var("FAILED_LOOKUP_BURST", "invalid links a client may try before 429", "serve"),
    _var("FAILED_LOOKUPS_PER_MINUTE", "refill rate of that allowance", "serve"),
    _var("WORKER_ID", "worker id shown in Camunda", "worker"),
    _var("MAX_TASKS", "tasks handled at once", "worker"),
    _var("LOCK_DURATION", "external task lock (ISO 8601)", "worker"),
    _var("LONG_POLL", "fetch-and-lock long polling (ISO 8601)", "worker"),
    _var("TASK_RETRIES", "retries for transient faults", "worker"),
    _var("RETRY_TIMEOUT", "pause between those retries (ISO 8601)", "worker"),
    _var("CORRELATION_TIMEOUT", "HTTP timeout of one correlation", "serve"),
    _var("NOT_YET_WINDOW", "how long 'no execution waits yet' is retried", "serve"),
    _var("REAP_INTERVAL", "reaper period (ISO 8601)", "worker"),
    _var("RETENTION", "how long expired groups are kept", "worker", "reap"),
    _var("REAP_BATCH", "rows per reaper batch", "worker", "reap"),
    _var("SHUTDOWN_GRACE", "drain time on SIGTERM", *DAEMONS),
    _var("WORKER_ADMIN_LISTEN", "worker /healthz and /metrics address host:port", "worker"),
    _var("AUDIT_RETENTION", "how long audit events are kept", "worker", "reap"),
    Variable("LOG_FORMAT", "text (default) or json: one JSON object per line", ALL_COMMANDS),
)
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """The configuration is incomplete or wrong."""


def variables_for(command: str) -> list[Variable]:
    """The variables ``command`` reads, in table order."""
    return [v for v in VARIABLES if command in v.commands]


def known_names() -> set[str]:
    """Every ``ACTION_LINKS_*`` name the product reads, ``*_FILE`` forms included."""
    names = {v.env_name for v in VARIABLES}
    return names | {v.env_name + FILE_SUFFIX for v in VARIABLES if v.secret}


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``ACTION_LINKS_*`` names in the environment that nothing reads (a typo, usually)."""
    env = os.environ if environ is None else environ
    known = known_names()
    return sorted(
        name
        for name in env
        if name.startswith(PREFIX) and name not in known and not name.startswith(TEST_PREFIX)
    )


def _read_secret_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{name}: {path} is not UTF-8 text") from exc
    # Editors and `echo` add one newline; anything else in the file is the value.
    return text.removesuffix("\n").removesuffix("\r")


def resolved_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with every ``ACTION_LINKS_<SECRET>_FILE`` replaced by the file's text."""
    env = dict(os.environ if environ is None else environ)
    for variable in VARIABLES:
        file_name = variable.env_name + FILE_SUFFIX
        path = env.pop(file_name, None) if variable.secret else None
        if path is None:
            continue
        if variable.env_name in env:
            raise SettingsError(
                f"{variable.env_name} and {file_name} are both set; set only one of them"
            )
        env[variable.env_name] = _read_secret_file(file_name, path.strip())
    return env


def _duration(name: str, text: str) -> dt.timedelta:
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise SettingsError(f"{PREFIX}{name}: {text!r} is not an ISO 8601 duration") from exc
    if not isinstance(value, dt.timedelta) or value <= dt.timedelta(0):
        raise SettingsError(
            f"{PREFIX}{name}: {text!r} is not a positive ISO 8601 duration in days or less, "
            "e.g. PT10M"
        )
    return value


def _int(name: str, text: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name}: {text!r} is not a whole number") from exc
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name}: must be at least {minimum}")
    return value


def default_worker_id() -> str:
    """A worker id of this process alone, so Camunda's lock check tells replicas apart."""
    # A shared id would let one replica complete, or extend, a task another has re-fetched.
    return f"action-links-{socket.gethostname()}-{os.getpid()}"


def _port(text: str, name: str = "LISTEN") -> int:
    port = _int(name, text, minimum=0)
    if port > MAX_PORT:
        raise SettingsError(f"{PREFIX}{name}: port {port} is above {MAX_PORT}")
    return port


def _address(name: str, text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9189`` for IPv6; ``9189`` or ``:9189`` for loopback); port 0 lets
    the system choose."""
    host, _, port = text.rpartition(":")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", _port(port, name)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(name: str, text: str) -> tuple[Network, ...]:
    """A comma separated list of addresses or CIDR blocks."""
    networks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise SettingsError(
                f"{PREFIX}{name}: {part!r} is not an IP address or CIDR block"
            ) from exc
    return tuple(networks)


def _worker_admin(text: str | None) -> dict[str, object]:
    if text is None:
        return {}
    host, port = _address("WORKER_ADMIN_LISTEN", text)
    return {"worker_admin_host": host, "worker_admin_port": port}


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """``text`` or ``json``, from ``ACTION_LINKS_LOG_FORMAT``."""
    env = os.environ if environ is None else environ
    value = (env.get(PREFIX + "LOG_FORMAT") or "text").strip().lower()
    if value not in LOG_FORMATS:
        raise SettingsError(f"{PREFIX}LOG_FORMAT: {value!r} is not one of {', '.join(LOG_FORMATS)}")
    return value


def _schema(text: str | None) -> str:
    try:
        return checked_schema(text or DEFAULT_SCHEMA)
    except SchemaNameError as exc:
        raise SettingsError(f"{PREFIX}DB_SCHEMA: {exc}") from exc


def sqlalchemy_url(url: str) -> str:
    """Point a plain ``postgresql://`` URL at psycopg 3, the driver this project ships."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def _network_values(get: Callable[[str], str | None]) -> dict[str, object]:
    host, port = _address("LISTEN", get("LISTEN") or "127.0.0.1:8088")
    admin_host, admin_port = _address("ADMIN_LISTEN", get("ADMIN_LISTEN") or "127.0.0.1:9188")
    return {
        "listen_host": host,
        "listen_port": port,
        "admin_host": admin_host,
        "admin_port": admin_port,
        "trusted_proxies": _networks("TRUSTED_PROXIES", get("TRUSTED_PROXIES") or ""),
    }


@dataclass(frozen=True)
class DatabaseSettings:
    """What the commands that only touch Postgres (``migrate``, ``links``, ``answers``) need."""

    database_url: str = field(repr=False)
    db_schema: str = DEFAULT_SCHEMA

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseSettings:
        env = resolved_environment(environ)
        url = (env.get(PREFIX + "DATABASE_URL") or "").strip()
        if not url:
            raise SettingsError(f"{PREFIX}DATABASE_URL is required")
        return cls(url, _schema((env.get(PREFIX + "DB_SCHEMA") or "").strip() or None))


@dataclass(frozen=True)
class Settings:
    database_url: str
    keyring: Keyring = field(repr=False)
    camunda_url: str = "http://localhost:8080/engine-rest"
    camunda_user: str | None = None
    camunda_password: str | None = field(default=None, repr=False)
    camunda_token: str | None = field(default=None, repr=False)
    public_url: str = "http://127.0.0.1:8088"
    listen_host: str = "127.0.0.1"
    listen_port: int = 8088
    # worker
    # Built with the settings (so in from_env when ACTION_LINKS_WORKER_ID is unset), not at
    # import, and for a Settings made directly too.
    worker_id: str = field(default_factory=default_worker_id)
    max_tasks: int = 10
    lock_duration: dt.timedelta = dt.timedelta(seconds=30)
    long_poll: dt.timedelta = dt.timedelta(seconds=20)
    task_retries: int = 3
    retry_timeout: dt.timedelta = dt.timedelta(seconds=30)
    # link server delivery
    correlation_timeout: dt.timedelta = dt.timedelta(seconds=10)
    not_yet_window: dt.timedelta = dt.timedelta(minutes=10)
    # clean-up
    reap_interval: dt.timedelta = dt.timedelta(minutes=5)
    retention: dt.timedelta = dt.timedelta(days=30)
    reap_batch: int = 500
    shutdown_grace: dt.timedelta = dt.timedelta(seconds=20)
    # link server network edge
    admin_host: str = "127.0.0.1"
    admin_port: int = 9188
    read_timeout: dt.timedelta = dt.timedelta(seconds=10)
    keepalive_timeout: dt.timedelta = dt.timedelta(seconds=15)
    max_connections: int = 2000
    max_connections_per_client: int = 100
    trusted_proxies: tuple[Network, ...] = ()
    failed_lookup_burst: int = 20
    failed_lookups_per_minute: int = 10
    # the Postgres schema of the product's tables (every connection's search_path)
    db_schema: str = DEFAULT_SCHEMA
    # the worker's /healthz and /metrics
    worker_admin_host: str = "127.0.0.1"
    worker_admin_port: int = 9189
    audit_retention: dt.timedelta = dt.timedelta(days=400)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = resolved_environment(environ)

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value.strip() if value and value.strip() else None

        database_url, keys = get("DATABASE_URL"), get("SIGNING_KEYS")
        if not database_url:
            raise SettingsError(f"{PREFIX}DATABASE_URL is required")
        if not keys:
            raise SettingsError(f"{PREFIX}SIGNING_KEYS is required (kid:secret, comma separated)")
        try:
            keyring = Keyring.parse(keys)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}SIGNING_KEYS: {exc}") from exc
        values: dict[str, object] = {
            "database_url": database_url,
            "keyring": keyring,
            **_network_values(get),
        }
        texts = {
            "camunda_url": "CAMUNDA_URL",
            "camunda_user": "CAMUNDA_USER",
            "camunda_password": "CAMUNDA_PASSWORD",
            "camunda_token": "CAMUNDA_TOKEN",
            "public_url": "PUBLIC_URL",
            "worker_id": "WORKER_ID",
        }
        durations = {
            "lock_duration": "LOCK_DURATION",
            "long_poll": "LONG_POLL",
            "retry_timeout": "RETRY_TIMEOUT",
            "correlation_timeout": "CORRELATION_TIMEOUT",
            "not_yet_window": "NOT_YET_WINDOW",
            "reap_interval": "REAP_INTERVAL",
            "retention": "RETENTION",
            "shutdown_grace": "SHUTDOWN_GRACE",
            "read_timeout": "READ_TIMEOUT",
            "keepalive_timeout": "KEEPALIVE_TIMEOUT",
            "audit_retention": "AUDIT_RETENTION",
        }
        counts = {
            "max_tasks": "MAX_TASKS",
            "task_retries": "TASK_RETRIES",
            "reap_batch": "REAP_BATCH",
            "max_connections": "MAX_CONNECTIONS",
            "max_connections_per_client": "MAX_CONNECTIONS_PER_CLIENT",
            "failed_lookup_burst": "FAILED_LOOKUP_BURST",
            "failed_lookups_per_minute": "FAILED_LOOKUPS_PER_MINUTE",
        }
        for attr, name in texts.items():
            if (text := get(name)) is not None:
                values[attr] = text.rstrip("/") if attr.endswith("_url") else text
        for attr, name in durations.items():
            if (text := get(name)) is not None:
                values[attr] = _duration(name, text)
        for attr, name in counts.items():
            if (text := get(name)) is not None:
                values[attr] = _int(name, text, minimum=0 if attr == "task_retries" else 1)
        values["db_schema"] = _schema(get("DB_SCHEMA"))
        values.update(_worker_admin(get("WORKER_ADMIN_LISTEN")))
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.camunda_user and not settings.camunda_password:
            raise SettingsError(f"{PREFIX}CAMUNDA_PASSWORD is required with CAMUNDA_USER")
        return settings

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.database_url)

    def camunda_headers(self) -> dict[str, str]:
        """Authorization for the engine REST API: bearer token or basic auth, if configured."""
        if self.camunda_token:
            return {"Authorization": f"Bearer {self.camunda_token}"}
        if self.camunda_user and self.camunda_password:
            pair = f"{self.camunda_user}:{self.camunda_password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}
